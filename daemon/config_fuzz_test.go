package daemon

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stockade-ids/stockade/protect"
)

// deploySeeds are the configurations shipped in deploy/, split by loader.
func deploySeeds(f *testing.F) (run, enforce [][]byte) {
	files, _ := filepath.Glob(filepath.Join("..", "deploy", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join("..", "deploy", "*", "*.yaml"))
	for _, p := range append(files, more...) {
		if filepath.Base(p) == "compose.yaml" || filepath.Base(filepath.Dir(p)) == "prometheus" { // not stockade's
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		b = stripComments(b)
		if strings.HasPrefix(filepath.Base(p), "enforce") {
			enforce = append(enforce, b)
		} else {
			run = append(run, b)
		}
	}
	if len(run) == 0 || len(enforce) == 0 {
		f.Fatal("no configurations found in deploy/")
	}
	return run, enforce
}

// stripComments drops comment lines: the documented configurations are
// mostly prose, which only slows the fuzzer's minimisation down.
func stripComments(b []byte) []byte {
	var out []byte
	for line := range bytes.Lines(b) {
		if t := bytes.TrimSpace(line); len(t) == 0 || t[0] == '#' {
			continue
		}
		out = append(out, line...)
	}
	return out
}

// FuzzLoadConfig: any bytes as `stockade run --config` either load or are
// refused with an error that names the file; what loads takes its defaults
// and its allowlist parses or is refused, never a panic.
func FuzzLoadConfig(f *testing.F) {
	run, _ := deploySeeds(f)
	for _, b := range run {
		f.Add(b)
	}
	f.Add([]byte("sources: [{files: [/var/log/auth.log]}]\nmax_windows: -1\n"))
	f.Add([]byte("sources: [{syslog: {udp: '127.0.0.1:0'}}]\nsinks: [{exec: {ban: [/bin/true, '{target}'], timeout: 1w}}]\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseConfig("fuzz.yaml", data)
		if err != nil {
			namesFileAndPosition(t, err)
			return
		}
		if len(c.Sources) == 0 {
			t.Fatal("a configuration without sources was accepted")
		}
		c.Defaults()
		if c.MaxWindows < 0 || c.StateDir == "" || c.Socket == "" {
			t.Fatalf("defaults left %+v", c)
		}
		_, _ = protect.ParsePrefixes("allow", c.Allow)
	})
}

// FuzzLoadEnforceConfig: the same for `stockade enforce --config`; what
// loads has exactly one bus and a policy that validates.
func FuzzLoadEnforceConfig(f *testing.F) {
	_, enforce := deploySeeds(f)
	for _, b := range enforce {
		f.Add(b)
	}
	f.Add([]byte("nats: {url: nats://x}\npolicy: {allow: [0.0.0.0/0], max_duration: 0s, origins: [{name: a, key: b}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseEnforceConfig("fuzz.yaml", data)
		if err != nil {
			namesFileAndPosition(t, err)
			return
		}
		if (c.NATS == nil) == (c.Kafka == nil) {
			t.Fatal("accepted without exactly one bus")
		}
		c.Defaults()
		if _, err := c.Policy.Policy(); err != nil {
			t.Fatalf("accepted a policy that does not validate: %v", err)
		}
	})
}

// filePosition is how every line of a refusal starts: the file and the
// position of the problem in it.
var filePosition = regexp.MustCompile(`^fuzz\.yaml:\d+:\d+: `)

// namesFileAndPosition fails t unless every line of err names the file
// and a position in it.
func namesFileAndPosition(t *testing.T, err error) {
	t.Helper()
	for _, l := range strings.Split(err.Error(), "\n") {
		if !filePosition.MatchString(l) {
			t.Fatalf("error does not name the file and a position: %q in %v", l, err)
		}
	}
}
