package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/internal/golden"
)

func explainDir() string { return filepath.Join("..", "..", "testdata", "explain") }

// TestExplainGolden pins explain's output for a log of every format, and a
// pack of its own for the verdicts the built-in packs never give (ignored,
// not an address, a key, an unbannable address).
func TestExplainGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"auth", []string{"--allow", "192.0.2.0/24", "auth.log"}},
		{"access", []string{"access.log"}},
		{"fast", []string{"--tz", "UTC", "fast.log"}},
		{"eve", []string{"--allow", "10.0.0.0/8", "eve.json"}},
		{"fail2ban", []string{"--tz", "UTC", "--type", "fail2ban", "fail2ban.log"}},
		{"custom", []string{"--rules", "custom.yaml", "custom.log"}},
		// The side of every kind of Suricata alert (sources/suricata's
		// samples), with a home net from a suricata.yaml and from flags.
		{"eve-home", []string{"--tz", "Europe/Paris", "--suricata-yaml", "../../sources/suricata/testdata/suricata.yaml", "../../sources/suricata/testdata/sides.eve.json"}},
		{"fast-home", []string{"--tz", "Europe/Paris", "--home-net", "192.168.0.0/16", "--home-net", "192.0.2.0/24", "../../sources/suricata/testdata/sides.fast.log"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"explain"}, tc.args...)
			args[len(args)-1] = filepath.Join(explainDir(), args[len(args)-1])
			if i := indexOf(args, "--rules"); i >= 0 {
				args[i+1] = filepath.Join(explainDir(), args[i+1])
			}
			var stdout, stderr bytes.Buffer
			if err := run(t.Context(), args, &stdout, &stderr); err != nil {
				t.Fatalf("explain: %v\n%s", err, stderr.String())
			}
			golden.Check(t, filepath.Join(explainDir(), tc.name+".golden"), stdout.Bytes())
		})
	}
}

func indexOf(ss []string, s string) int {
	for i, v := range ss {
		if v == s {
			return i
		}
	}
	return -1
}

// TestExplainStdinAndGzip: `-` reads standard input and a gzipped log reads
// like the plain one; only the name in the first line differs.
func TestExplainStdinAndGzip(t *testing.T) {
	path := filepath.Join(explainDir(), "auth.log")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(explainDir(), "auth.golden"))
	if err != nil {
		t.Fatal(err)
	}
	rest := want[bytes.IndexByte(want, '\n'):]

	var stdout, stderr bytes.Buffer
	if err := newApp(bytes.NewReader(data), &stdout, &stderr).execute(t.Context(), []string{"explain", "--allow", "192.0.2.0/24", "-"}); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if got := stdout.String(); !strings.HasPrefix(got, "stdin: syslog (detected)") || !strings.HasSuffix(got, string(rest)) {
		t.Errorf("stdin:\n%s", golden.Diff(want, []byte(got)))
	}

	gz := filepath.Join(t.TempDir(), "auth.log.gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	if err := os.WriteFile(gz, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if err := run(t.Context(), []string{"explain", "--allow", "192.0.2.0/24", gz}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if got := stdout.String(); !strings.HasSuffix(got, string(rest)) {
		t.Errorf("gzip:\n%s", golden.Diff(want, []byte(got)))
	}
}

func TestExplainUsageErrors(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "garbage.log")
	if err := os.WriteFile(garbage, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	auth := filepath.Join(explainDir(), "auth.log")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no file", nil, "give one log file"},
		{"two files", []string{auth, auth}, "give one log file"},
		{"bad type", []string{"--type", "csv", auth}, `--type "csv"`},
		{"bad tz", []string{"--tz", "Mars/Olympus", auth}, "--tz"},
		{"bad allow", []string{"--allow", "nowhere", auth}, "--allow"},
		{"missing", []string{filepath.Join(t.TempDir(), "nope.log")}, "no such file"},
		{"undetectable", []string{garbage}, "cannot detect the log format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), append([]string{"explain"}, tc.args...), &stdout, &stderr)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want exit 2 with %q", err, tc.want)
			}
		})
	}
}

// TestStdinHomeNet: a Suricata log piped in (`replay -`, `explain -`) gets
// the home net a file gets: the same sides, the same bans.
func TestStdinHomeNet(t *testing.T) {
	path := "../../sources/suricata/testdata/sides.fast.log"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flags := []string{"--tz", "Europe/Paris", "--home-net", "192.168.0.0/16", "--home-net", "192.0.2.0/24"}
	runIn := func(in []byte, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := newApp(bytes.NewReader(in), &stdout, &stderr).execute(t.Context(), args); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr.String())
		}
		return stdout.String()
	}
	noSource := regexp.MustCompile(`"source":"[^"]*"`)
	replayed := func(in []byte, name string, home bool) string {
		args := []string{"replay", "--origin", "test", "--tz", "Europe/Paris"}
		if home {
			args = append([]string{"replay", "--origin", "test"}, flags...)
		}
		return noSource.ReplaceAllString(runIn(in, append(args, name)...), "")
	}
	file, stdin := replayed(nil, path, true), replayed(data, "-", true)
	if file == "" || stdin != file {
		t.Errorf("replay - with --home-net decides otherwise than the file:\n stdin %s\n file  %s", stdin, file)
	}
	if replayed(data, "-", false) == stdin {
		t.Errorf("replay -: --home-net changes nothing, so the test shows nothing")
	}

	want, err := os.ReadFile(filepath.Join(explainDir(), "fast-home.golden"))
	if err != nil {
		t.Fatal(err)
	}
	got := runIn(data, append(append([]string{"explain"}, flags...), "-")...)
	rest := want[bytes.IndexByte(want, '\n'):]
	if !strings.HasPrefix(got, "stdin: fastlog") || !strings.HasSuffix(got, string(rest)) {
		t.Errorf("explain - --home-net:\n%s", golden.Diff(want, []byte(got)))
	}
}

// TestExplainArchiveCutShort: the last line of a gzip archive that ends
// early is cut, and a cut address is another address: explain stops at
// the last whole line and says the archive is cut short, where it
// explained the cut line as if whole (as replay no longer judges it).
func TestExplainArchiveCutShort(t *testing.T) {
	var b strings.Builder
	at := time.Date(2025, 11, 8, 10, 0, 0, 0, time.UTC)
	for i := range 5000 {
		b.WriteString(sshdLine(at.Add(time.Duration(i)*time.Second), fmt.Sprintf("198.51.100.%d", i%250+1), i))
	}
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte(b.String()))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	// A cut that ends inside a line: what a reader gets of it, whole lines
	// and the cut one.
	var data []byte
	var partial string
	whole := 0
	for n := zb.Len() / 2; n < zb.Len(); n += 7 {
		zr, err := gzip.NewReader(bytes.NewReader(zb.Bytes()[:n]))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err == nil {
			t.Fatal("a gzip stream cut in half read without an error")
		}
		if i := bytes.LastIndexByte(got, '\n'); i >= 0 && i < len(got)-1 {
			data, partial, whole = zb.Bytes()[:n], string(got[i+1:]), bytes.Count(got, []byte("\n"))
			break
		}
	}
	if data == nil {
		t.Fatal("no cut inside a line")
	}
	path := filepath.Join(t.TempDir(), "auth.log.2.gz")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"explain", "--tz", "UTC", path}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("explain of an archive cut short: %v", err)
	}
	if n := len(regexp.MustCompile(`(?m)^[0-9]+: `).FindAllString(stdout.String(), -1)); n != whole {
		t.Errorf("%d lines explained, want the %d whole ones, not the cut %q", n, whole, partial)
	}
}
