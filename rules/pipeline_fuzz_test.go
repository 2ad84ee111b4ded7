package rules_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/fuzzseed"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sources"
)

// FuzzPipeline runs arbitrary lines through the whole path a daemon gives
// them: format detection, the parser, the built-in packs and the engine.
// Nothing may panic, and no decision may name an allowlisted, loopback,
// unspecified or malformed target, whatever the lines say.
func FuzzPipeline(f *testing.F) {
	for _, b := range fuzzseed.Heads(2 << 10) {
		f.Add(b)
	}
	f.Add(bytes.Repeat([]byte("Nov  8 22:00:01 h sshd[1]: Failed password for root from 192.0.2.1 port 1 ssh2\n"), 5))
	f.Add(bytes.Repeat([]byte("Nov  8 22:00:01 h sshd[1]: Invalid user \x00\xff from 203.0.113.9 port 1\n"), 5))
	// IPv6 failures count by /64: one next to ::1, one elsewhere.
	f.Add([]byte("Nov  8 22:00:01 h sshd[1]: Failed password for root from ::2 port 1 ssh2\n" +
		"Nov  8 22:00:02 h sshd[1]: message repeated 4 times: [ Failed password for root from ::3 port 1 ssh2]\n" +
		"Nov  8 22:00:03 h sshd(pam_unix)[2]: authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=2001:db8::9 \n" +
		"Nov  8 22:00:04 h sshd[2]: message repeated 9 times: [ Failed password for root from 2001:db8::a port 1 ssh2]\n"))
	packs, err := rules.DefaultPacks()
	if err != nil {
		f.Fatal(err)
	}
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("192.0.2.0/24")}
	ref := time.Date(2025, 11, 9, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := rules.NewSet(packs...)
		if err != nil {
			t.Fatal(err)
		}
		eng := pipeline.NewEngine(set, pipeline.Config{Origin: "fuzz", Allow: allow, EmitUnbans: true, MaxWindows: 64})
		format := sources.Detect(data)
		if format == pipeline.FormatUnknown {
			format = pipeline.FormatSyslog // judge it anyway
		}
		p := sources.NewParser(format, ref, time.UTC)
		for line := range bytes.Lines(data) {
			line = bytes.TrimRight(line, "\r\n")
			var ev pipeline.Event
			if p.Parse(line, &ev) != nil {
				continue
			}
			ev.Source = "fuzz"
			for _, d := range eng.Process(&ev) {
				check(t, d, allow)
			}
		}
		for _, d := range eng.Tick(ref.Add(365 * 24 * time.Hour)) {
			check(t, d, allow)
		}
	})
}

func check(t *testing.T, d pipeline.Decision, allow []netip.Prefix) {
	t.Helper()
	target, err := pipeline.ParseTarget(d.Target.String())
	if err != nil {
		t.Fatalf("decision with a malformed target %q: %v", d.Target, err)
	}
	if d.Action != pipeline.ActionBan {
		return
	}
	for _, a := range allow {
		if a.Overlaps(target) {
			t.Fatalf("banned %s, which overlaps the allowlisted %s", target, a)
		}
	}
	if target.Addr().IsUnspecified() || target.Addr().IsLoopback() || target.Addr().IsMulticast() {
		t.Fatalf("banned %s", target)
	}
	if d.ID == "" || d.Expires.Before(d.At) {
		t.Fatalf("decision %+v", d)
	}
}
