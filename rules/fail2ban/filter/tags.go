package filter

// fail2ban's regex tags, expanded as its Regex._resolveHostTag does: the
// result is a Python pattern whose named groups (ip4, ip6, dns, fid,
// user, mlfid, content, ...) carry what fail2ban's filter reads.

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	ip4 = `(?:\d{1,3}\.){3}\d{1,3}`
	// fail2ban writes the last part as (?:[0-9a-fA-F]{1,4}|(?<=:):); every
	// branch of the repetition before it ends with a colon, so the
	// lookbehind always holds and a plain ":" means the same.
	ip6 = `(?:[0-9a-fA-F]{1,4}::?|:){1,7}(?:[0-9a-fA-F]{1,4}|:)`

	hostIP4  = `(?:::f{4,6}:)?(?P<ip4>` + ip4 + `)`
	hostIP6  = `(?P<ip6>` + ip6 + `)`
	hostDNS  = `(?P<dns>[\w\-.^_]*\w)`
	hostAddr = `\[?(?:` + hostIP4 + `|` + hostIP6 + `)\]?`
	hostHost = `(?:` + hostAddr + `|` + hostDNS + `)`
	hostCIDR = `(?P<cidr>\d+)`
	subnet   = `\[?(?:` + hostIP4 + `|` + hostIP6 + `)(?:/` + hostCIDR + `)?\]?`
)

var staticTags = map[string]string{
	"IP4": hostIP4, "F-IP4/": hostIP4,
	"IP6": hostIP6, "F-IP6/": hostIP6,
	"ADDR": hostAddr, "F-ADDR/": hostAddr,
	"CIDR": hostCIDR, "F-CIDR/": hostCIDR,
	"SUBNET": subnet, "F-SUBNET/": subnet,
	"DNS": hostDNS, "F-DNS/": hostDNS,
	"F-ID/":   `(?P<fid>\S+)`,
	"F-PORT/": `(?P<fport>\w+)`,
}

// groupName maps a custom tag's name to its group: lower case, with
// fail2ban's two renames.
func groupName(tag string) string {
	n := strings.ToLower(tag)
	switch n {
	case "id":
		return "fid"
	case "port":
		return "fport"
	}
	return n
}

// expandTags replaces fail2ban's tags in regex. <HOST> matches an
// address or (unless useDNS is "no") a host name; <F-NAME>...</F-NAME>
// capture into group "name"; unknown tags stay as written.
func expandTags(regex, useDNS string) string {
	var b strings.Builder
	open := map[string]bool{}
	skip := 0
	for i := 0; i < len(regex); {
		if regex[i] != '<' {
			b.WriteByte(regex[i])
			i++
			continue
		}
		end := tagEnd(regex, i)
		if end < 0 {
			b.WriteByte('<')
			i++
			continue
		}
		tag := regex[i : end+1]
		tn := tag[1 : len(tag)-1]
		switch {
		case tn == "HOST":
			if useDNS == "no" {
				b.WriteString(hostAddr)
			} else {
				b.WriteString(hostHost)
			}
		case tn == "SKIPLINES":
			fmt.Fprintf(&b, `\n(?P<skiplines%d>(?:(?:.*\n)*?))`, skip)
			skip++
		case staticTags[tn] != "":
			b.WriteString(staticTags[tn])
		case isCustomTag(tn):
			closing := strings.HasPrefix(tn, "/")
			name := strings.TrimPrefix(tn, "/")[2:]
			if closing {
				if open[name] {
					b.WriteString(")")
				} else {
					b.WriteString(tag)
				}
			} else {
				open[name] = true
				b.WriteString("(?P<" + groupName(name) + ">")
			}
		default:
			b.WriteString(tag)
		}
		i = end + 1
	}
	return b.String()
}

// tagEnd finds the end of a tag </?[\w\-]+/?> starting at i, or -1.
func tagEnd(s string, i int) int {
	j := i + 1
	if j < len(s) && s[j] == '/' {
		j++
	}
	k := j
	for k < len(s) {
		r, size := decodeRune(s[k:])
		if r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) {
			k += size
			continue
		}
		break
	}
	if k == j {
		return -1
	}
	if k < len(s) && s[k] == '/' {
		k++
	}
	if k < len(s) && s[k] == '>' {
		return k
	}
	// The name may have ended in the slash: </?[\w\-]+/?> backtracks.
	return -1
}

// isCustomTag is fail2ban's FCUSTNAME_CRE: ^(/?)F-([A-Z0-9_\-]+)$.
func isCustomTag(tn string) bool {
	tn = strings.TrimPrefix(tn, "/")
	if !strings.HasPrefix(tn, "F-") || len(tn) == 2 {
		return false
	}
	for _, c := range tn[2:] {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func decodeRune(s string) (rune, int) { return utf8.DecodeRuneInString(s) }
