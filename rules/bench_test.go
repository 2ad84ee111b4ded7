package rules

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stockade-ids/stockade/internal/gen"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/nginx"
)

func benchMatch(b *testing.B, lines []pipeline.Event) {
	s := defaultSet(b)
	var hits []pipeline.Hit
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		ev := &lines[n%len(lines)]
		n++
		clear(ev.Captures)
		hits = s.Match(ev, hits[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func syslogEvent(program, msg string) pipeline.Event {
	return pipeline.Event{Format: pipeline.FormatSyslog, Program: program, Message: msg, Line: msg}
}

// BenchmarkMatchSSHDMiss: sshd lines no failregex matches (the common
// case on a busy host): only the literal prefilters should run.
func BenchmarkMatchSSHDMiss(b *testing.B) {
	benchMatch(b, []pipeline.Event{
		syslogEvent("sshd", "Accepted publickey for deploy from 192.0.2.80 port 50000 ssh2: ED25519 SHA256:q1w2e3r4t5y6u7i8o9p0"),
		syslogEvent("sshd", "pam_unix(sshd:session): session closed for user deploy"),
		syslogEvent("sshd", "Received disconnect from 192.0.2.77 port 40000:11: disconnected by user"),
	})
}

// BenchmarkMatchSSHDHit: failure lines, each matched by a failregex with
// captures.
func BenchmarkMatchSSHDHit(b *testing.B) {
	benchMatch(b, []pipeline.Event{
		syslogEvent("sshd", "Failed password for invalid user admin from 203.0.113.9 port 4711 ssh2"),
		syslogEvent("sshd", "Invalid user oracle from 2001:db8::66 port 50022"),
		syslogEvent("sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.6  user=root"),
	})
}

// BenchmarkMatchOtherProgram: lines from programs no rule listens to are
// dispatched away before any regex.
func BenchmarkMatchOtherProgram(b *testing.B) {
	benchMatch(b, []pipeline.Event{syslogEvent("CRON", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)")})
}

// BenchmarkMatchNginx: the default packs over one ordinary visit, as
// the nginx parser leaves it (its fields are slices of the line, which
// the rules' gates read once).
func BenchmarkMatchNginx(b *testing.B) {
	var a pipeline.Event
	line := `192.0.2.7 - - [08/Nov/2025:22:00:00 +0000] "GET /blog/2025/11/hello HTTP/1.1" 200 5120 "https://www.example.com/" "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"`
	if err := nginx.New().Parse([]byte(line), &a); err != nil {
		b.Fatal(err)
	}
	benchMatch(b, []pipeline.Event{a})
}

// BenchmarkMatchAccessLog: the default packs over a generated access log
// (the bench harness's: 80 % visitors, 14 % scanners, 6 % WordPress
// logins), with the rules' gates (one literal scan of the line, then only
// the rules it concerns) and without (every rule's predicate on every
// line).
func BenchmarkMatchAccessLog(b *testing.B) {
	evs := generatedAccess(b, 20000, 1, nil)
	// The generator's visitors, what most lines of a real log are: what
	// every line pays before a rule is judged.
	var benign []pipeline.Event
	for _, ev := range evs {
		if strings.HasPrefix(ev.Line, "198.51.100.") {
			benign = append(benign, ev)
		}
	}
	for _, bc := range []struct {
		name  string
		gated bool
		evs   []pipeline.Event
	}{{"gated", true, evs}, {"ungated", false, evs}, {"benign", true, benign}} {
		b.Run(bc.name, func(b *testing.B) {
			s := defaultSet(b)
			for i := range s.gates {
				s.gates[i].on = s.gates[i].on && bc.gated
			}
			s.plan() // the candidate lists' plans are made of the gates
			var hits []pipeline.Hit
			ev := new(pipeline.Event) // one, as a reader reuses one (see BenchmarkMatchAttacks)
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				*ev = bc.evs[n%len(bc.evs)]
				n++
				hits = s.Match(ev, hits[:0])
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// BenchmarkMatchAttacks: the default packs over the attack lines of the
// generated access log (the bench harness's scanners and WordPress
// logins, every line not from a visitor): the judgement after a gate
// opens, the predicates and the regexes that confirm a hit.
func BenchmarkMatchAttacks(b *testing.B) {
	visitor := func(l string) bool { return strings.HasPrefix(l, "198.51.100.") }
	evs := generatedAccess(b, 20000, 1, func(l string) bool { return !visitor(l) })
	s := defaultSet(b)
	var hits []pipeline.Hit
	// One event, as a reader reuses one: a copy made on each round
	// escaped to the heap (576 bytes an op), and its collection was
	// half the time measured.
	ev := new(pipeline.Event)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		*ev = evs[n%len(evs)]
		n++
		hits = s.Match(ev, hits[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkParseMatchAccessLine: a replay's work on an access line
// before the engine counts it: the line copied into the reader's
// buffer, parsed into the one event the reader reuses, and matched by
// the default packs (the bench harness's generated log: 80 % visitors,
// whose agents and pages repeat, as the memos of the line's scans
// expect).
func BenchmarkParseMatchAccessLine(b *testing.B) {
	var buf bytes.Buffer
	if err := gen.Nginx(&buf, gen.Spec{Lines: 20000, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	s := defaultSet(b)
	p := nginx.New()
	ev := new(pipeline.Event)
	var hits []pipeline.Hit
	line := make([]byte, 0, 4096)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		line = append(line[:0], lines[n%len(lines)]...)
		n++
		ev.Reset()
		if err := p.Parse(line, ev); err != nil {
			b.Fatal(err)
		}
		hits = s.Match(ev, hits[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// generatedAccess parses the bench harness's generated access log of n
// lines from seed, keeping the lines keep takes (nil: all).
func generatedAccess(tb testing.TB, n int, seed uint64, keep func(string) bool) []pipeline.Event {
	tb.Helper()
	var buf bytes.Buffer
	if err := gen.Nginx(&buf, gen.Spec{Lines: n, Seed: seed}); err != nil {
		tb.Fatal(err)
	}
	p := nginx.New()
	var evs []pipeline.Event
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if keep != nil && !keep(l) {
			continue
		}
		var ev pipeline.Event
		if err := p.Parse([]byte(l), &ev); err != nil {
			tb.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// BenchmarkLoadDefaultPacks is what every start and every reload pays
// before the first line: the built-in packs parsed and compiled (YAML,
// regexes, fail2ban date templates, expr programs) and the set built.
// runtime.GOMAXPROCS(0) goroutines parse the packs; run it with -cpu 1 for
// the CPU it costs.
//
// The sub-benchmarks are a replay's load for a log of one format (see
// DefaultPacksFor): the rules that read it compiled, the rest read only.
func BenchmarkLoadDefaultPacks(b *testing.B) {
	for _, c := range []struct {
		name    string
		formats []pipeline.Format
	}{
		{"all", nil},
		{"syslog", []pipeline.Format{pipeline.FormatSyslog}},
		{"nginx", []pipeline.Format{pipeline.FormatNginx}},
		{"eve", []pipeline.Format{pipeline.FormatEve}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				packs, err := DefaultPacksFor(c.formats)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := NewSet(packs...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
