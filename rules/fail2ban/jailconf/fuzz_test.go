package jailconf

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stockade-ids/stockade/internal/testcorpus"
)

// FuzzParseConf feeds arbitrary bytes to the configuration reader: it must
// refuse with positions or accept, never panic nor run away; whatever it
// accepts must interpolate (or refuse to) option by option, and its tags
// must resolve (or refuse to).
func FuzzParseConf(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.conf"))
	if root := testcorpus.Root(); root != "" {
		// fail2ban's own filters and jails, read in place.
		more, _ := filepath.Glob(filepath.Join(root, "fail2ban__fail2ban", "config", "filter.d", "*.conf"))
		seeds = append(seeds, more...)
		seeds = append(seeds, filepath.Join(root, "fail2ban__fail2ban", "config", "jail.conf"))
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("[Definition]\na = %(b)s%(b)s\nb = %(c)s%(c)s\nc = <a><d>\nd = 100%%\n"))
	f.Add([]byte("[S]\nx = %(known/x)s %(sec/y)s %(default/z)s\n\n  cont\n[sec]\ny=1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ini, es := parseINI("fuzz.conf", data)
		if es != nil {
			for _, e := range es {
				if e.Pos.File != "fuzz.conf" || e.Pos.Line < 1 || e.Pos.Col < 1 {
					t.Fatalf("error without a position: %v", e)
				}
			}
			return
		}
		c := newConfig()
		c.merge(ini)
		c.merge(ini) // a file read twice (included from two places)
		for _, s := range append([]*section{c.defaults}, c.sections...) {
			opts := newOrderedOpts()
			for _, k := range s.keys {
				v, err := c.get(s.name, k, map[string]string{"mode": "x"})
				if err == nil {
					opts.set(k, v)
				}
				_, _ = c.getEx(s.name, "default/"+k, nil)
			}
			_, _ = substituteTags(opts, nil, func(k string) (string, bool, error) {
				v, err := c.getEx(s.name, k, nil)
				return v, err == nil, nil
			})
		}
	})
}
