package rules

import (
	"net/netip"
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

// TestPredicateCIDR: in_cidr with a constant prefix judges as the helper
// does (an IPv4-mapped IPv6 address is its IPv4 address, no address is
// in no range) and a run allocates nothing; with a prefix that is not
// constant the helper runs.
func TestPredicateCIDR(t *testing.T) {
	v4, mapped, v6 := netip.MustParseAddr("66.249.66.3"), netip.MustParseAddr("::ffff:66.249.66.3"), netip.MustParseAddr("2001:4860:4801::7")
	for _, c := range []struct {
		name, src string
		ev        pipeline.Event
		want      bool
		allocs    float64
	}{
		{"v4 in", `in_cidr(addr, "66.249.64.0/19")`, pipeline.Event{Addr: v4}, true, 0},
		{"v4 out", `in_cidr(addr, "157.55.39.0/24")`, pipeline.Event{Addr: v4}, false, 0},
		{"mapped in", `in_cidr(addr, "66.249.64.0/19")`, pipeline.Event{Addr: mapped}, true, 0},
		{"v6 in", `in_cidr(addr, "2001:4860:4801::/48")`, pipeline.Event{Addr: v6}, true, 0},
		{"v6 not in v4", `in_cidr(addr, "66.249.64.0/19")`, pipeline.Event{Addr: v6}, false, 0},
		{"no address", `in_cidr(addr, "0.0.0.0/0")`, pipeline.Event{}, false, 0},
		{"in an expression", `user_agent contains "Googlebot" && !in_cidr(src_addr, "66.249.64.0/19") && in_cidr(addr, "66.249.64.0/19")`,
			pipeline.Event{Addr: v4, SrcAddr: v6, UserAgent: "Googlebot/2.1"}, true, 0},
		{"prefix not constant", `in_cidr(addr, user)`, pipeline.Event{Addr: v4, User: "66.249.0.0/16"}, true, -1},
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
			if c.allocs < 0 {
				return
			}
			if n := testing.AllocsPerRun(100, func() { runExpr(&m, p.prog, &ev) }); n != c.allocs {
				t.Errorf("%s: %v allocations a run, want %v", c.src, n, c.allocs)
			}
		})
	}
}
