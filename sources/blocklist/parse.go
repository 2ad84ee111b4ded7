// Package blocklist reads the address lists admins import (`stockade bans
// import FILE`) and follow (`sources: - blocklist: {path, every}`): plain
// lists of addresses and ranges, FireHOL's netsets, Spamhaus DROP in its
// old text form and its JSON-lines form. A list is written by someone
// else (a feed, a download that went wrong), so Parse is a pure function
// that bounds what it holds, refuses ranges too wide to be meant, and
// counts what it skips by a bounded reason. Whether an entry may be banned
// (an allowlisted, own or fleet address in it) is not its business: the
// guard decides that, as for every ban.
package blocklist

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
)

// Reasons a line is skipped.
const (
	BadSyntax  = "syntax"     // neither an address nor a range
	TooWide    = "too_wide"   // wider than MinBits allows
	TooLong    = "too_long"   // a line past MaxLine bytes
	OverLimit  = "over_limit" // entries past Limits.Entries
	Duplicate  = "duplicate"  // an entry already on the list
	badSamples = 5
)

// Limits bound what Parse holds.
type Limits struct {
	// Entries is the most entries kept (0: DefaultEntries): FireHOL's
	// level 3 holds about 20,000, Spamhaus DROP about 1,500.
	Entries int
	// MinBits4 and MinBits6 are the widest ranges accepted (0: /8 and
	// /19): a 0.0.0.0/0 in a list is a mistake, not a wish.
	MinBits4, MinBits6 int
}

// DefaultEntries is the default bound on a list's entries.
const DefaultEntries = 262144

// MaxLine is the longest line read; a longer one is skipped.
const MaxLine = 4096

// List is what Parse read.
type List struct {
	Prefixes []netip.Prefix // sorted, without duplicates, masked
	Skipped  map[string]int // reason → lines
	Samples  []string       // the first few skipped lines, "line N: why"
	Lines    int            // lines read
}

// Parse reads a list from r. Only a read error is an error: bad lines are
// counted in List.Skipped.
func Parse(r io.Reader, lim Limits) (List, error) {
	lim = lim.defaults()
	l := List{Skipped: map[string]int{}}
	br := bufio.NewReaderSize(r, 64<<10)
	seen := map[netip.Prefix]struct{}{}
	for {
		line, long, err := readLine(br)
		if len(line) > 0 || long {
			l.Lines++
			l.take(line, long, lim, seen)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return l, err
		}
	}
	slices.SortFunc(l.Prefixes, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return l, nil
}

func (lim Limits) defaults() Limits {
	if lim.Entries <= 0 {
		lim.Entries = DefaultEntries
	}
	if lim.MinBits4 <= 0 {
		lim.MinBits4 = 8
	}
	if lim.MinBits6 <= 0 {
		lim.MinBits6 = 19
	}
	return lim
}

// readLine returns the next line without its end; a line past MaxLine
// is drained and reported as long, with nothing of it.
func readLine(br *bufio.Reader) ([]byte, bool, error) {
	var buf []byte
	long := false
	for {
		frag, err := br.ReadSlice('\n')
		if !long {
			if len(buf)+len(frag) > MaxLine+1 {
				long, buf = true, nil
			} else {
				buf = append(buf, frag...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if long {
			return nil, true, err
		}
		return bytes.TrimRight(buf, "\r\n"), false, err
	}
}

func (l *List) skip(reason string, why string) {
	l.Skipped[reason]++
	if len(l.Samples) < badSamples {
		l.Samples = append(l.Samples, fmt.Sprintf("line %d: %s", l.Lines, why))
	}
}

func (l *List) take(line []byte, long bool, lim Limits, seen map[netip.Prefix]struct{}) {
	if long {
		l.skip(TooLong, fmt.Sprintf("longer than %d bytes", MaxLine))
		return
	}
	field := entry(line)
	if len(field) == 0 {
		return // a blank line or a comment
	}
	p, err := parsePrefix(field)
	if err != nil {
		l.skip(BadSyntax, fmt.Sprintf("%q is neither an address nor a range", clip(field)))
		return
	}
	if min := lim.MinBits4; p.Addr().Is6() {
		min = lim.MinBits6
		if p.Bits() < min {
			l.skip(TooWide, fmt.Sprintf("%s is wider than /%d", p, min))
			return
		}
	} else if p.Bits() < min {
		l.skip(TooWide, fmt.Sprintf("%s is wider than /%d", p, min))
		return
	}
	if _, dup := seen[p]; dup {
		l.Skipped[Duplicate]++
		return
	}
	if len(l.Prefixes) >= lim.Entries {
		l.skip(OverLimit, fmt.Sprintf("past the limit of %d entries", lim.Entries))
		return
	}
	seen[p] = struct{}{}
	l.Prefixes = append(l.Prefixes, p)
}

// entry is the address field of a line: the whole line of a plain list
// or a netset, what is before " ; SBL…" in Spamhaus DROP's text form, the
// "cidr" of its JSON-lines form; nothing for a blank line or a comment
// (#, ;, //).
func entry(line []byte) []byte {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] == '#' || line[0] == ';' || bytes.HasPrefix(line, []byte("//")) {
		return nil
	}
	if line[0] == '{' {
		var j struct {
			CIDR string `json:"cidr"`
		}
		if json.Unmarshal(line, &j) != nil || j.CIDR == "" {
			return nil // Spamhaus's trailing {"type":"metadata",…}
		}
		return []byte(j.CIDR)
	}
	if i := bytes.IndexAny(line, " \t;#,"); i >= 0 {
		line = line[:i]
	}
	return line
}

// parsePrefix reads an address or a CIDR, canonical: IPv4-mapped IPv6 is
// IPv4, zones go, host bits are masked.
func parsePrefix(b []byte) (netip.Prefix, error) {
	s := string(b)
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("zone")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a, bits := p.Addr(), p.Bits()
	if a.Is4In6() {
		if bits < 96 {
			return netip.Prefix{}, errors.New("mapped range")
		}
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked(), nil
}

func clip(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "…"
	}
	return string(b)
}
