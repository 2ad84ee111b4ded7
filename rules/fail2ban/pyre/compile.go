package pyre

import (
	"errors"

	"github.com/stockade-ids/stockade/rules/regex"
)

// Names are the capture names by group index ("" = unnamed); names[0] is
// the whole match.
func (r *Regexp) Names() []string { return r.names }

// named is an engine compiled from a Python pattern. The pattern handed
// to the engine has unnamed groups; the names are kept here.
type named struct {
	regex.Engine
	names []string
}

func (e named) Names() []string { return e.names }

// Faults reports the matches the underlying engine gave up (regexp2 only).
func (e named) Faults() uint64 { return regex.Faults(e.Engine) }

// Compile compiles a pattern in Python's syntax (fail2ban's dialect, tags
// already expanded). It runs on RE2 when the translation is exact, and
// falls back to regexp2 only when RE2 cannot express it. singleLine says
// the text never holds a newline but a final one, which makes Python's $
// expressible in RE2.
func Compile(src string, singleLine bool) (regex.Engine, *Regexp, error) {
	tree, err := Parse(src)
	if err != nil {
		return nil, nil, err
	}
	re, err := tree.Compile(singleLine)
	return re, tree, err
}

// Compile compiles a parsed Python pattern (see the function Compile). A
// pattern RE2 cannot express because of its conditional groups is split
// into alternatives without them (see split), when it can be; one that
// RE2 cannot express because of negative lookarounds of literals runs on
// RE2 for the texts without those literals (see guard).
func (r *Regexp) Compile(singleLine bool) (regex.Engine, error) {
	re, err := r.compileOne(singleLine, len(r.names))
	if err != nil {
		return nil, err
	}
	if re.Kind() == "re2" {
		return named{Engine: re, names: r.names}, nil
	}
	if alts := r.split(); alts != nil {
		if sp, err := r.compileSplit(alts, singleLine); err == nil && sp.Kind() != "regexp2" {
			if sp.Kind() == "re2" {
				return named{Engine: sp, names: r.names}, nil
			}
			if g := r.guard(singleLine, re); g != nil {
				return named{Engine: g, names: r.names}, nil
			}
			return named{Engine: sp, names: r.names}, nil
		}
	}
	if g := r.guard(singleLine, re); g != nil {
		return named{Engine: g, names: r.names}, nil
	}
	return named{Engine: re, names: r.names}, nil
}

// Backtracking compiles the pattern as one regex on regexp2, whatever
// RE2 could run: the reference the split and translated forms are tested
// against.
func (r *Regexp) Backtracking() (regex.Engine, error) {
	re, err := regex.CompileRegexp2(r.printNET(), len(r.names))
	if err != nil {
		return nil, err
	}
	return named{Engine: re, names: r.names}, nil
}

// compileOne compiles the pattern as one regex with ncap groups (the
// match included): on RE2 when the translation is exact, else regexp2.
func (r *Regexp) compileOne(singleLine bool, ncap int) (regex.Engine, error) {
	if pat, perr := r.printRE2(singleLine); perr == nil {
		if re, cerr := regex.Compile(pat); cerr == nil {
			return re, nil
		}
		// RE2 refused what Python takes (a size limit): fall through.
	} else {
		var ne errNotExact
		if !errors.As(perr, &ne) {
			return nil, perr
		}
	}
	return regex.CompileRegexp2(r.printNET(), ncap)
}
