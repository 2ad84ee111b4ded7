package yamlnode

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a component's configuration, named by
// the key it is about ("queue.max", "chains[1]"; "" for the whole
// section), in the configuration's words.
type Problem struct {
	Key string
	Msg string
}

// Problems is what a component's Validate reports: every problem at once,
// each with its key, so that a loader can put it at the key's position in
// the file. As an error it reads "key: msg", one a line.
type Problems []Problem

// Add reports a problem with key.
func (ps *Problems) Add(key, format string, args ...any) {
	*ps = append(*ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Merge adds the problems of a part of the configuration found under key
// (a nested section): a Problems error keeps its keys below key, any other
// error is one problem about key.
func (ps *Problems) Merge(key string, err error) {
	if err == nil {
		return
	}
	var sub Problems
	if !errors.As(err, &sub) {
		ps.Add(key, "%s", err)
		return
	}
	for _, p := range sub {
		*ps = append(*ps, Problem{Key: Join(key, p.Key), Msg: p.Msg})
	}
}

func (ps Problems) Error() string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('\n')
		}
		if p.Key != "" {
			b.WriteString(p.Key + ": ")
		}
		b.WriteString(p.Msg)
	}
	return b.String()
}

// Err is ps as an error, nil without problems.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Under is ps as an error whose lines start with section ("nats: subject:
// ..."), the way a component's constructor words a refusal.
func (ps Problems) Under(section string) error {
	if len(ps) == 0 {
		return nil
	}
	errs := make([]error, len(ps))
	for i, p := range ps {
		if p.Key == "" {
			errs[i] = fmt.Errorf("%s: %s", section, p.Msg)
		} else {
			errs[i] = fmt.Errorf("%s: %s: %s", section, p.Key, p.Msg)
		}
	}
	return errors.Join(errs...)
}

// Report puts err, what a Validate said of the section n (named path),
// into d's errors: each Problem at the position of the deepest node its
// key reaches (a key left at its default is reported where its section
// is), any other error at n.
func (d *Decoder) Report(n *yaml.Node, path string, err error) {
	if err == nil {
		return
	}
	var ps Problems
	if !errors.As(err, &ps) {
		d.Add(Resolve(n), path, "%s", err)
		return
	}
	for _, p := range ps {
		// A key that did not decode was reported already; what its
		// check says of the default left in its place would mislead.
		if at := Join(path, p.Key); !d.Failed(at) {
			d.Add(Find(n, p.Key), at, "%s", p.Msg)
		}
	}
}

// Find is the node key ("queue.max", "chains[1]") names below n, or the
// deepest of its sections present in the file.
func Find(n *yaml.Node, key string) *yaml.Node {
	n = Resolve(n)
	for _, seg := range splitKey(key) {
		var next *yaml.Node
		switch {
		case n.Kind == yaml.MappingNode && !seg.index:
			for i := len(n.Content) - 2; i >= 0; i -= 2 {
				if n.Content[i].Value == seg.name {
					next = n.Content[i+1]
					break
				}
			}
		case n.Kind == yaml.SequenceNode && seg.index:
			if i, err := strconv.Atoi(seg.name); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
			}
		}
		if next == nil {
			return n
		}
		n = Resolve(next)
	}
	return n
}

type keySeg struct {
	name  string
	index bool
}

// splitKey splits "a.b[2].c" into a, b, [2], c.
func splitKey(key string) []keySeg {
	var out []keySeg
	for part := range strings.SplitSeq(key, ".") {
		for part != "" {
			i := strings.IndexByte(part, '[')
			if i < 0 {
				out = append(out, keySeg{name: part})
				break
			}
			if i > 0 {
				out = append(out, keySeg{name: part[:i]})
			}
			j := strings.IndexByte(part[i:], ']')
			if j < 0 {
				out = append(out, keySeg{name: part[i:]})
				break
			}
			out = append(out, keySeg{name: part[i+1 : i+j], index: true})
			part = part[i+j+1:]
		}
	}
	return out
}

// ParseDuration reads a duration as packs and configurations write it:
// Go's units (90s, 1h30m) plus d (days) and w (weeks).
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	rest := s
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}} {
		i := strings.Index(rest, u.suffix)
		if i < 0 {
			continue
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		total += time.Duration(n) * u.d
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q (use 90s, 10m, 1h, 7d, 1w)", s)
		}
		total += d
	}
	if total < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return total, nil
}
