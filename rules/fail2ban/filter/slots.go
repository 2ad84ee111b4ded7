package filter

import (
	"slices"
	"strconv"
	"strings"

	"github.com/stockade-ids/stockade/rules/regex"
)

// slots number the names of a filter's groups: a failure's dict (fail2ban
// keeps a Python dict by group name) is a value per slot, read, merged and
// looked up by index. Hashing the names was a fifth of what a line that
// matched cost: sshd's lines each looked up a dozen (mlfid, nofail,
// mlfgained, mlfforget, user, fid, ip4, ip6, dns, ...), and merged and
// copied the rest.
type slots struct {
	names []string // by slot, in name order
	// The groups fail2ban's bookkeeping reads have a slot whether a regex
	// has them or not.
	mlfid, nofail, mlfgained, mlfforget, user, fid, ip4, ip6, dns, content int
	// skiplines are the slots of skiplines0, skiplines1, ... while the
	// names follow on (fail2ban reads them in that order and stops at
	// the first missing).
	skiplines []int
}

// slotsOf numbers the names of res' groups, the names their alt_ groups
// fill, and the bookkeeping ones.
func slotsOf(res ...*regex.Regex) slots {
	names := []string{"mlfid", "nofail", "mlfgained", "mlfforget", "user", "fid", "ip4", "ip6", "dns", "content"}
	for _, re := range res {
		if re == nil {
			continue
		}
		for _, n := range re.Names {
			if n == "" {
				continue
			}
			names = append(names, n)
			if base, ok := altBase(n); ok {
				names = append(names, base)
			}
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	sl := slots{names: names}
	at := func(n string) int { i, _ := slices.BinarySearch(names, n); return i }
	sl.mlfid, sl.nofail, sl.mlfgained, sl.mlfforget = at("mlfid"), at("nofail"), at("mlfgained"), at("mlfforget")
	sl.user, sl.fid, sl.ip4, sl.ip6, sl.dns, sl.content = at("user"), at("fid"), at("ip4"), at("ip6"), at("dns"), at("content")
	for i := 0; ; i++ {
		k, ok := slices.BinarySearch(names, "skiplines"+strconv.Itoa(i))
		if !ok {
			break
		}
		sl.skiplines = append(sl.skiplines, k)
	}
	return sl
}

// slot is the slot of a name the filter's regexes have.
func (sl *slots) slot(name string) int {
	i, ok := slices.BinarySearch(sl.names, name)
	if !ok {
		panic("filter: no slot for group " + name)
	}
	return i
}

// altBase is the name an alt_ group fills: alt_user_1's is user.
func altBase(name string) (string, bool) {
	if !strings.HasPrefix(name, "alt_") || len(name) == len("alt_") {
		return "", false
	}
	return groupName(trimNumberSuffix(strings.TrimPrefix(name, "alt_"))), true
}
