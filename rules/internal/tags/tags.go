// Package tags translates the fail2ban-style tags of stockade's rule packs
// (<HOST>, <F-USER>…</F-USER>) into RE2 syntax. It stands apart from
// package rules so that the regex engine's tests, which package rules
// imports, can translate the packs' regexes exactly as rules does.
package tags

import (
	"fmt"
	"strings"
)

// Address patterns for the fail2ban tags. They are deliberately loose: a
// match is confirmed by netip.ParseAddr, so they only need to find the
// candidate text, never to validate it.
const (
	ipv4Pat = `(?:\d{1,3}\.){3}\d{1,3}`
	ipv6Pat = `(?:[0-9A-Fa-f]{0,4}:){2,7}(?:` + ipv4Pat + `|[0-9A-Fa-f]{1,4}|:?)`
	addrPat = `(?:` + ipv4Pat + `|` + ipv6Pat + `)`
)

// host maps the tags that capture the offending address to their
// patterns; a failregex must have exactly one of them.
var host = map[string]string{
	"<HOST>": addrPat,
	"<ADDR>": addrPat,
	"<IP4>":  ipv4Pat,
	"<IP6>":  ipv6Pat,
}

// Translate turns fail2ban-style tags into RE2 syntax:
//
//	<HOST> <ADDR> <IP4> <IP6>   the address: the first is the group "host"
//	<F-USER>…</F-USER>          a named capture "user" (any <F-NAME>: "name")
//
// It returns the pattern and the number of address tags; a capture closed
// out of order or never closed is an error. Anything else, a '<' that
// starts no tag included, is left as written.
func Translate(src string) (string, int, error) {
	var b strings.Builder
	nhost := 0
	var open []string
	for i := 0; i < len(src); {
		if src[i] == '\\' && i+1 < len(src) {
			b.WriteString(src[i : i+2])
			i += 2
			continue
		}
		if src[i] != '<' {
			b.WriteByte(src[i])
			i++
			continue
		}
		end := strings.IndexByte(src[i:], '>')
		if end < 0 {
			b.WriteByte(src[i])
			i++
			continue
		}
		tag := src[i : i+end+1]
		switch {
		case host[tag] != "":
			nhost++
			if nhost == 1 {
				b.WriteString(`(?P<host>` + host[tag] + `)`)
			} else {
				b.WriteString(`(?:` + host[tag] + `)`)
			}
		case strings.HasPrefix(tag, "<F-") && isTagName(tag[3:len(tag)-1]):
			name := strings.ToLower(tag[3 : len(tag)-1])
			open = append(open, name)
			b.WriteString(`(?P<` + name + `>`)
		case strings.HasPrefix(tag, "</F-") && isTagName(tag[4:len(tag)-1]):
			name := strings.ToLower(tag[4 : len(tag)-1])
			if len(open) == 0 || open[len(open)-1] != name {
				return "", 0, fmt.Errorf("%s closes a capture that is not open", tag)
			}
			open = open[:len(open)-1]
			b.WriteByte(')')
		default:
			// Not a tag: a literal '<' (named groups (?P<x>...) never reach
			// here with a name we would mistake, since tags are upper case).
			b.WriteByte('<')
			i++
			continue
		}
		i += end + 1
	}
	if len(open) > 0 {
		return "", 0, fmt.Errorf("<F-%s> is never closed", strings.ToUpper(open[len(open)-1]))
	}
	return b.String(), nhost, nil
}

func isTagName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
