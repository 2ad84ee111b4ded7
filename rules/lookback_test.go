package rules

import (
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// TestLookback: how far back the rules judging a format count, which a
// Kafka correlator reads again when handed a partition: findtimes (of
// rules that count more than one), the constant windows of offenses(),
// failures() and distinct() in when: and key:, and range rules' windows
// when any rule judges the format; 0 when none does.
func TestLookback(t *testing.T) {
	defaults, err := DefaultPacks()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSet(defaults...)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Lookback(pipeline.FormatDecision); got != 24*time.Hour {
		t.Errorf("default packs, decisions: %v, want the fleet pack's 24h", got)
	}
	p, err := Parse("l.yaml", []byte(`pack: l
rules:
  - name: often
    formats: [decision]
    when: verb == "Ban" && offenses(addr, "36h") >= 2
    ban: 1d
  - name: counted
    formats: [decision]
    threshold: 3
    window: 2d
    ban: 1d
  - name: once
    formats: [decision]
    window: 30d
    ban: 1d
  - name: users
    formats: [syslog]
    key: captures.user + string(failures(addr, "rule", "5d"))
    failregex: ['^Invalid user <F-USER>\S+</F-USER> from <HOST>$']
    ban: 1d
  - name: nets
    range: {v4: 24, v6: 64}
    threshold: 3
    window: 3d
    ban: 1d
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err = NewSet(p)
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[pipeline.Format]time.Duration{
		pipeline.FormatDecision: 3 * 24 * time.Hour, // nets' window over counted's 2d and often's 36h; once counts nothing
		pipeline.FormatSyslog:   5 * 24 * time.Hour,
		pipeline.FormatNginx:    0,
	} {
		if got := s.Lookback(f); got != want {
			t.Errorf("%v: %v, want %v", f, got, want)
		}
	}
}
