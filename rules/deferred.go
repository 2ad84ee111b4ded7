package rules

import (
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/stockade-ids/stockade/pipeline"
)

// A parallel replay's forks match lines side by side, but a predicate
// that reads the engine's state (distinct()) must be judged in event
// order, where that state lives: a fork defers such an event to the
// merge, which judges it again whole (see Set.Deferred). Most events a
// rule's regex matches never reach the state: web-wp-scan's predicate
// asks for a 404 that is not an asset before it counts distinct paths,
// and on a WordPress site most of the lines under /wp-content/ are
// assets. So the fork first judges the conjuncts of the predicate's
// top-level && chain that come before the first one reading state (its
// pure prefix): when one of them is false, so is the predicate, in any
// order, and distinct() is never called, as on one goroutine; only the
// others are deferred.

// purePrefix compiles the conjuncts of src's top-level && chain before
// the first one that reads the engine's state; nil when there are none,
// when every conjunct is pure (the predicate itself is then pure), or
// when they do not compile on their own.
func purePrefix(src string, ref *stateRef) *vm.Program {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil
	}
	var conj, prefix []string
	reads := false
	for _, c := range conjuncts(tree.Node, nil) {
		if !reads {
			n := c
			v := &stateCalls{}
			ast.Walk(&n, v)
			reads = v.distinct || v.counted
		}
		if !reads {
			prefix = append(prefix, "("+c.String()+")")
		}
		conj = append(conj, c.String())
	}
	if len(prefix) == 0 || len(prefix) == len(conj) {
		return nil
	}
	fm := &fastMatches{}
	p, err := expr.Compile(strings.Join(prefix, " && "),
		slices.Concat(ref.functions(), guard(), fm.options(), constCIDRs(), []expr.Option{expr.Env(pipeline.Event{}), expr.AsBool()})...)
	if err != nil || fm.err != nil {
		return nil
	}
	return p
}

// conjuncts appends the operands of n's top-level && chain, in the order
// they are evaluated.
func conjuncts(n ast.Node, out []ast.Node) []ast.Node {
	if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
		return conjuncts(b.Right, conjuncts(b.Left, out))
	}
	return append(out, n)
}

// deferWhen is judge's answer on a fork for a rule whose predicate reads
// the engine's state: the event is judged here (PredicateNo) when the
// predicate's pure prefix is false, and deferred otherwise.
func (s *Set) deferWhen(r *Rule, ev *pipeline.Event) {
	if r.when.pure != nil {
		// An error defers too: the merge counts it, as one goroutine does.
		out, why := s.run(r.when.pure, ev)
		if b, ok := out.(bool); why == "" && ok && !b {
			return
		}
	}
	s.deferred = true
}
