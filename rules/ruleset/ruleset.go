// Package ruleset loads the rule packs a --rules list or a configuration's
// rules: names, for every command that judges lines: the built-in packs,
// pack files and directories, and fail2ban configurations. Every error
// it returns is one of the packs, not of the run.
package ruleset

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/rules/fail2ban/jailconf"
)

// Load loads the packs named by paths into one set; "default" (or no
// path at all) means the packs built into the binary, "fail2ban:DIR" (or
// a directory holding jail.conf) the jails of a fail2ban configuration.
func Load(paths []string) (*rules.Set, error) {
	return LoadSelected(paths, rules.Selection{})
}

// LoadSelected is Load with the daemon's packs: key applied (see
// rules.Select): a name it gives that no loaded pack or rule has is an
// error at its position in the configuration.
func LoadSelected(paths []string, sel rules.Selection) (*rules.Set, error) {
	return LoadFor(paths, sel, nil)
}

// LoadFor is LoadSelected for sources of the formats named (nil: of
// any), as a replay knows them before its first line: the built-in
// packs' rules that can see no event of theirs are not compiled (see
// rules.DefaultPacksFor).
func LoadFor(paths []string, sel rules.Selection, formats []pipeline.Format) (*rules.Set, error) {
	files, err := load(paths, formats, false)
	if err != nil {
		return nil, err
	}
	packs := make([]*rules.Pack, len(files))
	for i, f := range files {
		packs[i] = f.Pack
	}
	if !sel.IsZero() {
		if packs, _, err = rules.Select(packs, sel); err != nil {
			return nil, fmt.Errorf("packs: refused:\n%w", err)
		}
	}
	set, err := rules.NewSet(packs...)
	if err != nil {
		return nil, fmt.Errorf("rule packs refused:\n%w", err)
	}
	return set, nil
}

// File is a loaded pack with the text it was loaded from (its tests:
// block is read from it again, for positions).
type File struct {
	Pack *rules.Pack
	Name string // the file as messages name it
	Data []byte
}

// Files loads the packs named by paths, as Load does, each with its text.
// A pack that does not load is an error carrying every problem of every
// pack.
func Files(paths []string) ([]File, error) { return load(paths, nil, true) }

// load is Files compiling the built-in packs for sources of formats (see
// LoadFor); text: with each pack's text (a set needs none: it is the
// built-in packs' whole bytes again, tests and all).
func load(paths []string, formats []pipeline.Format, text bool) ([]File, error) {
	if len(paths) == 0 {
		paths = []string{"default"}
	}
	var out []File
	var errs rules.Errors
	for _, p := range paths {
		if dir, ok := Fail2banDir(p); ok {
			data, ps, err := ImportFail2ban(dir)
			if err != nil {
				return nil, err
			}
			out = append(out, File{Pack: ps[0], Name: jailconf.PackName(dir), Data: data})
			continue
		}
		fs, err := packFiles(p, formats, text)
		if es, ok := err.(rules.Errors); ok {
			errs = append(errs, es...)
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, fs...)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("rule packs refused, %d error(s):\n%w", len(errs), errs)
	}
	return out, nil
}

// packFiles loads the packs at p, a pack file or directory or "default"
// (for sources of formats, see LoadFor), with their text if text.
func packFiles(p string, formats []pipeline.Format, text bool) ([]File, error) {
	var ps []*rules.Pack
	var err error
	if p == "default" {
		ps, err = rules.DefaultPacksFor(formats)
	} else {
		ps, err = rules.LoadPath(p)
	}
	if _, ok := err.(rules.Errors); ok {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	out := make([]File, 0, len(ps))
	for _, pk := range ps {
		f := File{Pack: pk, Name: pk.File}
		switch {
		case p == "default":
			f.Name = path.Join("rules/packs", pk.File)
			if text {
				f.Data, err = fs.ReadFile(rules.DefaultFS(), pk.File)
			}
		case text:
			f.Data, err = os.ReadFile(pk.File)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// ImportFail2ban reads a fail2ban directory and loads the pack it makes,
// so that what `import` prints is refused if it would not load.
func ImportFail2ban(dir string) ([]byte, []*rules.Pack, error) {
	if err := rules.CheckTrusted(dir); err != nil {
		return nil, nil, err
	}
	data, p, err := jailconf.Load(dir)
	if err != nil {
		return nil, nil, err
	}
	return data, []*rules.Pack{p}, nil
}

// Fail2banDir reports whether a --rules value names a fail2ban
// configuration: "fail2ban:DIR", or a directory that holds jail.conf or
// jail.local and no rule pack.
func Fail2banDir(p string) (string, bool) {
	if dir, ok := strings.CutPrefix(p, "fail2ban:"); ok {
		return dir, true
	}
	fi, err := os.Stat(p)
	if err != nil || !fi.IsDir() {
		return "", false
	}
	packs, _ := filepath.Glob(filepath.Join(p, "*.y*ml"))
	if len(packs) > 0 {
		return "", false
	}
	for _, n := range []string{"jail.conf", "jail.local"} {
		if _, err := os.Stat(filepath.Join(p, n)); err == nil {
			return p, true
		}
	}
	return "", false
}

// Unselected is the packs of files that sel turns wholly off, every rule
// and allowlist of them not selected or disabled by the configuration
// (`stockade test --config` skips their tests), each with why; a pack
// whose rules are only off by default is not among them. A name of sel
// that no pack of files has is an error at its position, as for
// LoadSelected.
func Unselected(files []File, sel rules.Selection) (map[*rules.Pack]string, error) {
	if sel.IsZero() {
		return nil, nil
	}
	packs := make([]*rules.Pack, len(files))
	for i, f := range files {
		packs[i] = f.Pack
	}
	_, states, err := rules.Select(packs, sel)
	if err != nil {
		return nil, fmt.Errorf("packs: refused:\n%w", err)
	}
	out := map[*rules.Pack]string{}
	k := 0
	for _, p := range packs {
		n := len(p.Rules) + len(p.Allowlists)
		why, off := "", n > 0
		for _, st := range states[k : k+n] {
			switch {
			case st.On || st.Why != "not selected by config" && st.Why != "disabled by config":
				off = false
			case why == "":
				why = st.Why
			}
		}
		k += n
		if off {
			out[p] = why
		}
	}
	return out, nil
}
