package jailconf

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/stockade-ids/stockade/internal/srcpos"
)

// A fail2ban configuration directory, and the files a name stands for:
// BASE.conf, BASE.d/*.conf, BASE.local, BASE.d/*.local, each with its
// .local twin and its [INCLUDES].

// Dir is a fail2ban configuration directory (/etc/fail2ban): jail.conf,
// jail.d/, filter.d/ and the files they include.
type Dir struct {
	root  string
	cache map[string]*iniFile
	errs  map[string]srcpos.Errors
}

// Open returns the configuration in dir. Nothing is read until asked.
func Open(dir string) *Dir {
	return &Dir{root: dir, cache: map[string]*iniFile{}, errs: map[string]srcpos.Errors{}}
}

// Root is the directory.
func (d *Dir) Root() string { return d.root }

// parse reads and parses one file once; nil if it does not exist.
func (d *Dir) parse(path string) (*iniFile, srcpos.Errors) {
	if f, ok := d.cache[path]; ok {
		return f, d.errs[path]
	}
	data, err := os.ReadFile(path)
	if err != nil {
		d.cache[path] = nil
		return nil, nil
	}
	f, es := parseINI(path, data)
	d.cache[path] = f
	d.errs[path] = es
	return f, es
}

// read reads a configuration the way fail2ban's ConfigReaderUnshared.read
// does for a base name (jail, filter.d/sshd): BASE.conf, BASE.d/*.conf,
// BASE.local, BASE.d/*.local, each with its includes.
func (d *Dir) read(base string) (*config, error) {
	full := filepath.Join(d.root, base)
	names := []string{full + ".conf"}
	confs, _ := filepath.Glob(full + ".d/*.conf")
	sort.Strings(confs)
	names = append(names, confs...)
	names = append(names, full+".local")
	locals, _ := filepath.Glob(full + ".d/*.local")
	sort.Strings(locals)
	names = append(names, locals...)
	var existing []string
	for _, n := range names {
		if fi, err := os.Stat(n); err == nil && !fi.IsDir() {
			existing = append(existing, n)
		}
	}
	if len(existing) == 0 {
		return nil, fmt.Errorf("no configuration files for %s under %s (looked for %s.conf and %s.local)", base, d.root, base, base)
	}
	var es srcpos.Errors
	c := newConfig()
	for _, f := range d.includes(existing, nil, &es) {
		pf, _ := d.parse(f)
		if pf != nil {
			c.merge(pf)
		}
	}
	if len(es) > 0 {
		return nil, es
	}
	return c, nil
}

// includes expands files with their .local twins and [INCLUDES] before
// and after, recursively (a file already on the way is not read again).
func (d *Dir) includes(files, seen []string, es *srcpos.Errors) []string {
	var expanded []string
	for _, f := range files {
		expanded = append(expanded, f)
		local := strings.TrimSuffix(f, filepath.Ext(f)) + ".local"
		if !contains(files, local) {
			if fi, err := os.Stat(local); err == nil && !fi.IsDir() {
				expanded = append(expanded, local)
			}
		}
	}
	var out []string
	for _, f := range expanded {
		out = append(out, d.includesOf(f, seen, es)...)
	}
	return out
}

func (d *Dir) includesOf(resource string, seen []string, es *srcpos.Errors) []string {
	f, perr := d.parse(resource)
	if len(perr) > 0 {
		for _, e := range perr {
			if !containsErr(*es, e) {
				*es = append(*es, e)
			}
		}
		return nil
	}
	if f == nil {
		return nil
	}
	var before, after []string
	if inc := f.byName["INCLUDES"]; inc != nil {
		single := newConfig()
		single.merge(f)
		for _, opt := range []string{"before", "after"} {
			if _, err := single.rawGet("INCLUDES", opt, nil); err != nil {
				continue
			}
			v, err := single.get("INCLUDES", opt, nil)
			if err != nil {
				*es = append(*es, toError(err, inc.pos))
				continue
			}
			for _, r := range strings.Split(v, "\n") {
				p := r
				if !filepath.IsAbs(p) {
					p = filepath.Join(filepath.Dir(resource), r)
				}
				if contains(seen, p) {
					continue
				}
				list := d.includes([]string{p}, append(append([]string(nil), seen...), resource), es)
				if opt == "before" {
					before = append(before, list...)
				} else {
					after = append(after, list...)
				}
			}
		}
	}
	return append(append(before, resource), after...)
}
