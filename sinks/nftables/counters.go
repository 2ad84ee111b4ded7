package nftables

import (
	"bytes"

	nft "github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
)

// ruleCounter returns the counter of a rule that drops what set matches:
// ours by tag (tagged), or any rule looking the set up (set-only mode,
// where the rules are the admin's).
func ruleCounter(r *nft.Rule, set string, tagged bool) *expr.Counter {
	if tagged {
		want := userdata.AppendString(nil, userdata.TypeComment, ruleTag(set))
		if !bytes.Equal(r.UserData, want) {
			return nil
		}
	}
	var ctr *expr.Counter
	looksUp := false
	for _, e := range r.Exprs {
		switch e := e.(type) {
		case *expr.Lookup:
			looksUp = looksUp || e.SetName == set && !e.Invert
		case *expr.Counter:
			ctr = e
		}
	}
	if !looksUp {
		return nil
	}
	return ctr
}
