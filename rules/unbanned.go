package rules

import "sort"

type unbannedKey struct {
	rule   int
	reason string
}

// Unbanned is a count of lines a rule matched but could not turn into an
// offense, for a bounded reason: a host name where fail2ban would resolve
// DNS, a line without a date fail2ban could read, a regex that gave up.
type Unbanned struct {
	Rule   string
	Reason string
	Lines  uint64
}

// ReasonRegexGaveUp is the reason of lines a backtracking regex gave up on
// (its time limit, or its backtracking limit): counted as misses.
const ReasonRegexGaveUp = "regex gave up (time or backtracking limit)"

func (s *Set) countUnbanned(r *Rule, reason string) {
	if s.unbanned == nil {
		s.unbanned = map[unbannedKey]uint64{}
	}
	s.unbanned[unbannedKey{r.Policy.ID, reason}]++
}

// Unbanned returns the counts so far, by rule (in load order) and reason.
func (s *Set) Unbanned() []Unbanned {
	var out []Unbanned
	for k, n := range s.unbanned {
		out = append(out, Unbanned{Rule: s.rules[k.rule].Policy.Name, Reason: k.reason, Lines: n})
	}
	for _, r := range s.rules {
		if n := r.regexFaults(); n > 0 {
			out = append(out, Unbanned{Rule: r.Policy.Name, Reason: ReasonRegexGaveUp, Lines: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		ia, ib := s.ruleIndex(a.Rule), s.ruleIndex(b.Rule)
		if ia != ib {
			return ia < ib
		}
		return a.Reason < b.Reason
	})
	return out
}

func (s *Set) ruleIndex(name string) int {
	for i, r := range s.rules {
		if r.Policy.Name == name {
			return i
		}
	}
	return len(s.rules)
}
