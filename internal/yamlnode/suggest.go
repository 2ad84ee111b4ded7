package yamlnode

import "strings"

// Unknown words the refusal of key, which is none of known: with the
// known key it was probably meant to be ("unknown key; did you mean
// metrics?"), else with the keys there are when they are few.
func Unknown(key string, known []string) string {
	if s := Suggest(key, known); s != "" {
		return "unknown key; did you mean " + s + "?"
	}
	if len(known) > 0 && len(known) <= 8 {
		return "unknown key; want one of " + strings.Join(known, ", ")
	}
	return "unknown key"
}

// Suggest is the candidate closest to s, if one is close enough to be a
// typo of it (an edit or two, more for long keys), else "".
func Suggest(s string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		d := distance(strings.ToLower(s), c)
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(s) >= 10 {
		limit = 3
	}
	if best == "" || bestD > limit || bestD >= len(s) {
		return ""
	}
	return best
}

// distance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of neighbours cost one each.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30 // a key that long is no typo of ours
	}
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
