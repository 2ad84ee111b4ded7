package daemon

import (
	"github.com/stockade-ids/stockade/pipeline/guard"
	"github.com/stockade-ids/stockade/protect"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/rules/ruleset"
)

// BadConfig is an error of the configuration (a bad value, a pack refused,
// a key file that cannot be read) rather than of the run: `stockade run`
// exits 2 for it, 1 for the others.
type BadConfig struct{ Err error }

func (e *BadConfig) Error() string { return e.Err.Error() }
func (e *BadConfig) Unwrap() error { return e.Err }

// loadRules is ruleset.LoadSelected; a refused pack, or a packs: name
// that no pack loaded has, is a bad configuration.
func loadRules(paths []string, sel rules.Selection) (*rules.Set, error) {
	set, err := ruleset.LoadSelected(paths, sel)
	if err != nil {
		return nil, &BadConfig{err}
	}
	return set, nil
}

// setProtected is protect.Set; a bad entry is a bad configuration.
func setProtected(g *guard.Guard, allow, fleet []string) error {
	if err := protect.Set(g, allow, fleet); err != nil {
		return &BadConfig{err}
	}
	return nil
}
