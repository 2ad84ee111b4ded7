package rules

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/expr-lang/expr"

	"github.com/stockade-ids/stockade/pipeline"
)

// stateRef is how a pack's compiled predicates reach the engine's state:
// expr binds functions at compile time, before any engine exists, so they
// close over this reference and the Set fills it in (SetState).
type stateRef struct {
	state pipeline.StateView
	// seen collects what distinct() saw on the event being matched, for
	// the engine to record after Match (the Set's, see Set.Sightings).
	seen *[]pipeline.Sighting
	// pack keeps one pack's distinct() sets apart from another's: user
	// names counted by one and origins by the other must not mix.
	pack    string
	windows map[string]time.Duration // parsed window strings
}

func (r *stateRef) window(s string) (time.Duration, error) {
	if d, ok := r.windows[s]; ok {
		return d, nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if r.windows == nil {
		r.windows = map[string]time.Duration{}
	}
	r.windows[s] = d
	return d, nil
}

var errNoState = fmt.Errorf("no engine state (the rule runs outside an engine)")

// keyOf turns an address or a string into a state key.
func keyOf(v any) string {
	switch k := v.(type) {
	case netip.Addr:
		return pipeline.Canonical(k).String()
	case string:
		return k
	}
	return fmt.Sprint(v)
}

// functions are the helpers every predicate and key may call. Each is
// declared with its types, so a call with the wrong arguments or to an
// unknown function fails when the pack loads.
func (r *stateRef) functions() []expr.Option {
	return []expr.Option{
		expr.Function("in_cidr", func(p ...any) (any, error) {
			pr, err := netip.ParsePrefix(p[1].(string))
			if err != nil {
				return false, err
			}
			return pr.Contains(pipeline.Canonical(p[0].(netip.Addr))), nil
		}, new(func(netip.Addr, string) bool)),
		expr.Function("is_private", func(p ...any) (any, error) {
			a := pipeline.Canonical(p[0].(netip.Addr))
			return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast(), nil
		}, new(func(netip.Addr) bool)),
		expr.Function("prefix", func(p ...any) (any, error) {
			pr, err := pipeline.Canonical(p[0].(netip.Addr)).Prefix(p[1].(int))
			if err != nil {
				return "", err
			}
			return pr.String(), nil
		}, new(func(netip.Addr, int) string)),
		expr.Function("offenses", func(p ...any) (any, error) {
			if r.state == nil {
				return 0, errNoState
			}
			w, err := r.window(p[1].(string))
			if err != nil {
				return 0, err
			}
			return r.state.OffensesWithin(p[0].(netip.Addr), w), nil
		}, new(func(netip.Addr, string) int)),
		expr.Function("banned", func(p ...any) (any, error) {
			if r.state == nil {
				return false, errNoState
			}
			return r.state.Banned(p[0].(netip.Addr)), nil
		}, new(func(netip.Addr) bool)),
		expr.Function("failures", func(p ...any) (any, error) {
			if r.state == nil {
				return 0, errNoState
			}
			w, err := r.window(p[2].(string))
			if err != nil {
				return 0, err
			}
			return r.state.Failures(p[1].(string), keyOf(p[0]), w), nil
		}, new(func(netip.Addr, string, string) int), new(func(string, string, string) int)),
		expr.Function("distinct", func(p ...any) (any, error) {
			if r.state == nil {
				return 0, errNoState
			}
			w, err := r.window(p[2].(string))
			if err != nil {
				return 0, err
			}
			key, value := r.pack+"\x00"+keyOf(p[1]), keyOf(p[0])
			n := r.state.Distinct(key, value, w, *r.seen)
			*r.seen = append(*r.seen, pipeline.Sighting{Key: key, Value: value})
			return n, nil
		}, new(func(string, netip.Addr, string) int), new(func(string, string, string) int)),
	}
}
