package rules

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stockade-ids/stockade/pipeline"
)

// FuzzParse feeds arbitrary bytes to the pack loader: it must refuse or
// accept, never panic, and whatever it accepts must compile into a set
// that can judge an event.
func FuzzParse(f *testing.F) {
	names, _ := fs.Glob(DefaultFS(), "*.yaml")
	for _, n := range names {
		b, _ := fs.ReadFile(DefaultFS(), n)
		f.Add(b)
	}
	if b, err := os.ReadFile(filepath.Join("..", "testdata", "explain", "custom.yaml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("pack: x\nrules:\n  - {name: a, formats: [syslog], failregex: ['^<F-USER>.*</F-USER> <HOST>$'], ban: 1m, key: captures.user}\n"))
	f.Add([]byte("pack: x\nrules: [{name: a, formats: [eve], when: 'priority < 2 && sid in [1,2]', ban: 1w2d, escalate: {factor: 3, max: 1d}}]\n"))
	f.Add([]byte("pack: x\nrules:\n  - {name: a, dialect: fail2ban, formats: [syslog], ban: 1m, prefregex: '^<F-MLFID>\\S+ sshd\\[\\d+\\]: </F-MLFID><F-CONTENT>.+</F-CONTENT>$', datepattern: ['{^LN-BEG}'], failregex: ['^Invalid user <F-USER>\\S+</F-USER> from <HOST>(?! port 0)']}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		s, err := NewSet(p)
		if err != nil {
			return
		}
		ev := &pipeline.Event{Format: pipeline.FormatSyslog, Program: "sshd", Message: "Invalid user x from 192.0.2.1 port 22",
			Line: "Nov  8 22:00:01 web1 sshd[7]: Invalid user x from 192.0.2.1 port 22"}
		s.Match(ev, nil)
	})
}
