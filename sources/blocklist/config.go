package blocklist

import (
	_ "embed"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/internal/yamlnode"
)

// Config is `sources: - blocklist: {path, every}`: a list of addresses
// and ranges (a plain list, a FireHOL netset, Spamhaus DROP) that a cron
// job or a package keeps current, read again every Every and applied as a
// whole: new entries are banned, entries gone from it are unbanned, the
// rest renewed. Its bans are under the rule list:NAME.
type Config struct {
	Path string `yaml:"path"`
	// Name names the list in its bans (list:NAME); default the file's
	// base name without extension.
	Name string `yaml:"name"`
	// Every is how often the file is read (default 1h, at least 1s).
	Every time.Duration `yaml:"every"`
	// For is how long a listed entry stays banned without a refresh
	// (default three times Every): a list that stops being updated lets
	// go of its bans, one that fails once does not.
	For time.Duration `yaml:"for"`
	// MaxEntries bounds the list (default 262144); entries past it are
	// skipped and counted.
	MaxEntries int `yaml:"max_entries"`
}

// Sample is a commented example of the section, every key with its
// default.
//
//go:embed sample.yaml
var Sample string

// Settings are the list's name, period and ban length, defaults filled
// in.
func (c Config) Settings() (name string, every, dur time.Duration, err error) {
	name, every, dur, ps := c.settings()
	return name, every, dur, ps.Err()
}

// Validate reports every problem of c, each with its key.
func (c Config) Validate() error {
	_, _, _, ps := c.settings()
	return ps.Err()
}

func (c Config) settings() (name string, every, dur time.Duration, ps yamlnode.Problems) {
	if c.Path == "" {
		ps.Add("path", "the list file is required")
	}
	name = c.Name
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(c.Path), filepath.Ext(c.Path))
	}
	if err := CheckName(name); err != nil {
		ps.Add("name", "%s", err)
	}
	every = time.Hour
	if c.Every != 0 {
		every = c.Every
		if every < time.Second {
			ps.Add("every", "%v: want 1s or more", c.Every)
		}
	}
	dur = 3 * every
	if c.For != 0 {
		dur = c.For
		if dur < every {
			ps.Add("for", "%v: want at least every (%v)", c.For, every)
		}
	}
	if c.MaxEntries < 0 {
		ps.Add("max_entries", "negative")
	}
	return name, every, dur, ps
}

// CheckName refuses a list name that could not stand in a rule name
// (list:NAME), a metric label or a log line as it is.
func CheckName(name string) error {
	if len(name) > 64 || strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) >= 0 {
		return fmt.Errorf("list name %q: want up to 64 letters, digits, '-', '_' or '.'", name)
	}
	return nil
}
