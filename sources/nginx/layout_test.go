package nginx

import (
	"bytes"
	"testing"

	"github.com/stockade-ids/stockade/pipeline"
)

const (
	combinedFormat = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`
	npmFormat      = `[$time_local] $upstream_cache_status $upstream_status $status - $request_method $scheme $host "$request_uri" [Client $remote_addr] [Length $body_bytes_sent] [Gzip $gzip_ratio] [Sent-to $server] "$http_user_agent" "$http_referer"`
	apacheCombined = `%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"`
)

// TestCompile: a format that names no client, no time, or two variables
// that touch is refused when the configuration loads, not line by line.
func TestCompile(t *testing.T) {
	for _, ok := range []string{combinedFormat, npmFormat, apacheCombined, `${remote_addr}|${msec}`} {
		if _, err := Compile(ok); err != nil {
			t.Errorf("Compile(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{
		``,
		`$remote_user [$time_local] "$request"`,  // no client
		`$remote_addr "$request" $status`,        // no time
		`$remote_addr$remote_user [$time_local]`, // touching
		`$remote_addr [$time_local] ${request`,   // unclosed
		`$remote_addr [$time_local] $`,           // no name
		`%h %t %{Referer`,                        // unclosed
		`%h %t %`,                                // no directive
	} {
		if _, err := Compile(bad); err == nil {
			t.Errorf("Compile(%q) accepted", bad)
		}
	}
}

// TestLayoutCombined: the combined format compiled reads the combined
// lines as the built-in parser does.
func TestLayoutCombined(t *testing.T) {
	for _, spec := range []string{combinedFormat, apacheCombined} {
		l, err := Compile(spec)
		if err != nil {
			t.Fatal(err)
		}
		lp := l.Parser()
		for _, tc := range parseCases {
			if tc.want.bad != "" || tc.want.userAgent == "" || !bytes.HasPrefix([]byte(tc.line), []byte(tc.want.addr+" - ")) {
				continue
			}
			var got, want pipeline.Event
			if err := New().Parse([]byte(tc.line), &want); err != nil {
				t.Fatal(err)
			}
			if err := lp.Parse([]byte(tc.line), &got); err != nil {
				t.Errorf("%s: %q: %v", spec, tc.line, err)
				continue
			}
			if got.Addr != want.Addr || !got.Time.Equal(want.Time) || got.Method != want.Method || got.Path != want.Path ||
				got.Status != want.Status || got.Bytes != want.Bytes || got.User != want.User || got.UserAgent != want.UserAgent {
				t.Errorf("%s: %q:\n got %+v\nwant %+v", spec, tc.line, got, want)
			}
		}
	}
}

// TestLayoutBudget: a line full of the literal a field runs to is refused
// after a bounded number of tries.
func TestLayoutBudget(t *testing.T) {
	l, err := Compile(`$http_x_forwarded_for $remote_addr $http_x_real_ip $remote_user [$time_local] $status`)
	if err != nil {
		t.Fatal(err)
	}
	line := bytes.Repeat([]byte("a "), 50_000)
	var ev pipeline.Event
	if err := l.Parser().Parse(line, &ev); err != errLayout {
		t.Fatalf("err = %v, want %v", err, errLayout)
	}
}

func BenchmarkLayout(b *testing.B) {
	for _, bc := range []struct{ name, spec, line string }{
		{"combined", combinedFormat, `198.51.100.23 - - [08/Nov/2025:22:00:04 +0100] "POST /wp-login.php HTTP/1.1" 200 4876 "https://blog.example.org/wp-login.php" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"`},
		{"apache", apacheCombined, `198.51.100.23 - - [08/Nov/2025:22:00:04 +0100] "POST /wp-login.php HTTP/1.1" 200 4876 "-" "Mozilla/5.0"`},
		{"npm", npmFormat, `[08/Nov/2025:22:00:01 +0000] - 200 200 - POST https blog.example.org "/wp-login.php" [Client 203.0.113.60] [Length 4521] [Gzip -] [Sent-to 172.17.0.3] "Mozilla/5.0 (Windows NT 10.0; Win64; x64)" "-"`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l, err := Compile(bc.spec)
			if err != nil {
				b.Fatal(err)
			}
			p := l.Parser()
			line := []byte(bc.line)
			var ev pipeline.Event
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				ev.Reset()
				if err := p.Parse(line, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzLayout: any line either parses into a canonical address and a time
// or is refused with one of the package's reasons, for the formats above;
// and any format either compiles or is refused, never panics.
func FuzzLayout(f *testing.F) {
	f.Add(uint8(0), []byte(`198.51.100.23 - - [08/Nov/2025:22:00:04 +0100] "POST /wp-login.php HTTP/1.1" 200 4876 "-" "x"`))
	f.Add(uint8(2), []byte(`[08/Nov/2025:22:00:01 +0000] - 200 200 - POST https b "/" [Client 203.0.113.60] [Length 1] [Gzip -] [Sent-to x] "x" "-"`))
	f.Add(uint8(3), []byte(`$remote_addr [$time_local] %h`))
	specs := []string{combinedFormat, apacheCombined, npmFormat}
	f.Fuzz(func(t *testing.T, which uint8, line []byte) {
		if int(which) >= len(specs) {
			if l, err := Compile(string(line)); err == nil {
				var ev pipeline.Event
				_ = l.Parser().Parse(line, &ev)
			}
			return
		}
		l, err := Compile(specs[which])
		if err != nil {
			t.Fatal(err)
		}
		var ev pipeline.Event
		err = l.Parser().Parse(line, &ev)
		if err != nil {
			for _, r := range append(reasons, errLayout) {
				if err == error(r) {
					return
				}
			}
			t.Fatalf("error %v is not one of the package's reasons", err)
		}
		if !ev.Addr.IsValid() || ev.Addr != pipeline.Canonical(ev.Addr) || ev.Time.IsZero() {
			t.Fatalf("addr %v time %v", ev.Addr, ev.Time)
		}
	})
}
