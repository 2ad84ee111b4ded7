package rules

import (
	"testing"

	"github.com/expr-lang/expr/vm"

	"github.com/stockade-ids/stockade/pipeline"
)

// TestPredicateRegex: a predicate's constant regex judges as expr's
// `matches` does, on a typed field and on a value of any type (a
// capture, absent or present), and a run that calls it on a field
// allocates nothing (reading a capture out of the map boxes the string:
// expr's map read, one allocation, not the call's).
func TestPredicateRegex(t *testing.T) {
	for _, c := range []struct {
		name, src string
		ev        pipeline.Event
		want      bool
		allocs    float64
	}{
		{"field hit", `user_agent matches "(?i)sqlmap|nikto"`, pipeline.Event{UserAgent: "Mozilla/5.0 NIKTO/2.5"}, true, 0},
		{"field miss", `user_agent matches "(?i)sqlmap|nikto"`, pipeline.Event{UserAgent: "Mozilla/5.0"}, false, 0},
		{"capture hit", `captures["user"] matches "^ro+t$"`, pipeline.Event{Captures: map[string]string{"user": "root"}}, true, 1},
		{"capture miss", `captures["user"] matches "^ro+t$"`, pipeline.Event{Captures: map[string]string{"user": "bob"}}, false, 1},
		{"capture absent", `captures["user"] matches "^ro+t$"`, pipeline.Event{}, false, 0},
		{"negated", `!(path matches "^/wp-")`, pipeline.Event{Path: "/index.html"}, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := compilePredicate(c.src, &stateRef{})
			if err != nil {
				t.Fatal(err)
			}
			var m vm.VM
			ev := c.ev
			out, why := runExpr(&m, p.prog, &ev)
			if why != "" || out != c.want {
				t.Fatalf("%s on %+v = %v (%q), want %v", c.src, c.ev, out, why, c.want)
			}
			if n := testing.AllocsPerRun(100, func() { runExpr(&m, p.prog, &ev) }); n != c.allocs {
				t.Errorf("%s: %v allocations a run, want %v", c.src, n, c.allocs)
			}
		})
	}
}
