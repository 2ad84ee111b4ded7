package config

import "github.com/stockade-ids/stockade/rules"

// Judging is what of the daemon's configuration decides whom its lines
// ban: what `stockade replay`, `explain` and `test` take from it with
// --config, so that an admin replays, explains and tests what the daemon
// would run rather than the built-in packs as shipped.
type Judging struct {
	Rules []string        // rules: (none: the built-in packs)
	Packs rules.Selection // packs:, its names where the file writes them
	// Protected is allow: then fleet:, never banned.
	Protected    []string
	TZ           string
	HomeNet      []string
	SuricataYAML string
	Origin       string // origin:, else the host name, as the daemon's
	MaxWindows   int    // as the daemon bounds them (0: no bound)
	Unbans       bool   // unbans:, or an exec sink with an unban command
}

// LoadJudging reads the daemon's configuration at path, as Load (every
// problem of the file at file:line:col), and returns what decides its
// bans. The packs: names are checked when the packs load
// (ruleset.LoadSelected), against the rules: the command ends up with.
func LoadJudging(path string) (*Judging, error) {
	c, err := Load(path)
	if err != nil {
		return nil, err
	}
	c.Defaults()
	return &Judging{
		Rules:        c.Rules,
		Packs:        c.Packs,
		Protected:    append(append([]string(nil), c.Allow...), c.Fleet...),
		TZ:           c.TZ,
		HomeNet:      c.HomeNet,
		SuricataYAML: c.SuricataYAML,
		Origin:       c.Origin,
		MaxWindows:   c.MaxWindows,
		Unbans:       c.EmitUnbans(),
	}, nil
}
