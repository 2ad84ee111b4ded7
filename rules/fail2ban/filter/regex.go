package filter

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/stockade-ids/stockade/rules/fail2ban/pyre"
	"github.com/stockade-ids/stockade/rules/regex"
)

// globalToLocalFlags is fail2ban's R_GLOB2LOCFLAGS: "((?i)x)" and
// "(?:(?i)x)" become "(?i:x)".
var globalToLocalFlags = regexp.MustCompile(`\((?:\?:)?(\(\?[a-z]+)\)`)

func localFlags(regex string) string {
	var b strings.Builder
	last := 0
	for _, m := range globalToLocalFlags.FindAllStringSubmatchIndex(regex, -1) {
		if m[0] > 0 && regex[m[0]-1] == '\\' {
			continue
		}
		b.WriteString(regex[last:m[0]])
		b.WriteString(regex[m[2]:m[3]])
		b.WriteString(":")
		last = m[1]
	}
	b.WriteString(regex[last:])
	return b.String()
}

// Compile compiles a regex of fail2ban's dialect: its tags are expanded,
// then the Python pattern runs on RE2 when that is exact, else on regexp2.
// useDNS is the filter's usedns (with "no", <HOST> takes addresses only);
// singleLine says the buffers it reads are one line (maxlines 1), which
// lets RE2 take Python's $.
func Compile(src, useDNS string, singleLine bool) (*regex.Regex, error) {
	expanded := localFlags(expandTags(src, useDNS))
	if strings.TrimSpace(expanded) == "" {
		return nil, errors.New("empty regex")
	}
	re, tree, err := pyre.Compile(expanded, singleLine)
	if err != nil {
		return nil, fmt.Errorf("bad regex: %v", err)
	}
	f := &regex.Regex{Src: src, Engine: re, Names: tree.Names(), Literals: tree.Literals(), AnyOf: tree.LiteralSets(), Leads: tree.Lead(leadMax)}
	for _, n := range f.Names {
		if strings.ContainsRune(n, '-') {
			return nil, fmt.Errorf("bad regex: bad group name %q", n)
		}
	}
	return f, nil
}

// Backtracking compiles a regex as Compile does, but as one regex on
// regexp2 whatever RE2 could run: the reference that Compile's split and
// translated forms are tested against.
func Backtracking(src, useDNS string) (*regex.Regex, error) {
	tree, err := pyre.Parse(localFlags(expandTags(src, useDNS)))
	if err != nil {
		return nil, err
	}
	re, err := tree.Backtracking()
	if err != nil {
		return nil, err
	}
	return &regex.Regex{Src: src, Engine: re, Names: tree.Names(), Literals: tree.Literals(), AnyOf: tree.LiteralSets()}, nil
}

// HasIDGroup reports whether a compiled fail2ban regex can identify a
// failure: it has one of fail2ban's FAILURE_ID_PRESENTS groups.
func HasIDGroup(re *regex.Regex) bool {
	for _, n := range re.Names {
		switch n {
		case "fid", "ip4", "ip6", "dns", "mlfid":
			return true
		}
	}
	return false
}
