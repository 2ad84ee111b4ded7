package rules

import (
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"unsafe"

	"github.com/expr-lang/expr/ast"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules/regex"
)

// cond is a `when:` predicate, or the head of one, compiled to Go
// closures at load: what the built-in packs' predicates are made of
// (typed field tests, constant `in` lists, contains/startsWith/endsWith,
// constant regexes and CIDRs, &&, || and !) runs without the expr VM,
// whose run, with its stack, its program counter and a reflect read of
// every field, cost about as much as the tests themselves. It returns
// exactly what the VM returns: every form it takes is one the VM can
// neither fail on nor answer differently (see condCompiler.cond).
type cond func(m *regexMemo, ev *pipeline.Event) bool

// condCompiler compiles the nodes of one checked, patched and optimised
// predicate tree.
type condCompiler struct {
	res   map[*ast.ConstantNode]*regex.Regex // `matches` constants (fastMatches)
	cidrs map[*ast.ConstantNode]netip.Prefix // in_cidr constants (constCIDR)
}

// compileCond compiles a predicate's tree: whole, when every node is of
// a form cond takes (whole is then true), or else the longest head of
// its top-level && chain that is, which can only say no: the VM runs
// the chain left to right and stops at the first false, so a false head
// is the VM's answer, and a true one leaves the rest to the VM. Only
// the head is taken, never a later term, because the VM's run of the
// terms before a false one may have had effects (distinct() records what
// it saw) and must keep them. nil when not even the first term compiles.
func (c *condCompiler) compile(n ast.Node) (f cond, whole bool) {
	if declares(n) {
		return nil, false // `let` can shadow a field name
	}
	if f := c.cond(n); f != nil {
		return f, true
	}
	terms := chainTerms(n, true)
	var head []cond
	for _, t := range terms {
		f := c.cond(t)
		if f == nil {
			break
		}
		head = append(head, f)
	}
	if len(head) == 0 {
		return nil, false
	}
	return all(head), false
}

// chainTerms flattens a chain of one operator, && (and) or || (or
// else), into its terms in the order the VM evaluates them: a && (b &&
// c) is a && b && c, whichever way the parser leant it. A chain of n
// terms is then one call for the chain and one for each term it
// evaluates, where nested pairs cost a call a level more.
func chainTerms(n ast.Node, and bool) []ast.Node {
	b, ok := n.(*ast.BinaryNode)
	if !ok || and && !isAnd(b.Operator) || !and && !isOr(b.Operator) {
		return []ast.Node{n}
	}
	return append(chainTerms(b.Left, and), chainTerms(b.Right, and)...)
}

func isAnd(op string) bool { return op == "&&" || op == "and" }

func isOr(op string) bool { return op == "||" || op == "or" }

// all is the conjunction of fs, left to right, stopping at the first
// false, as the VM does.
func all(fs []cond) cond {
	switch len(fs) {
	case 1:
		return fs[0]
	case 2:
		l, r := fs[0], fs[1]
		return func(m *regexMemo, ev *pipeline.Event) bool { return l(m, ev) && r(m, ev) }
	}
	return func(m *regexMemo, ev *pipeline.Event) bool {
		for _, f := range fs {
			if !f(m, ev) {
				return false
			}
		}
		return true
	}
}

// oneOf is the disjunction of fs, left to right, stopping at the first
// true, as the VM does.
func oneOf(fs []cond) cond {
	switch len(fs) {
	case 1:
		return fs[0]
	case 2:
		l, r := fs[0], fs[1]
		return func(m *regexMemo, ev *pipeline.Event) bool { return l(m, ev) || r(m, ev) }
	}
	return func(m *regexMemo, ev *pipeline.Event) bool {
		for _, f := range fs {
			if f(m, ev) {
				return true
			}
		}
		return false
	}
}

// declares reports whether the tree declares a variable.
func declares(n ast.Node) bool {
	v := &declVisitor{}
	ast.Walk(&n, v)
	return v.found
}

type declVisitor struct{ found bool }

func (v *declVisitor) Visit(n *ast.Node) {
	switch (*n).(type) {
	case *ast.VariableDeclaratorNode, *ast.PointerNode, *ast.PredicateNode:
		v.found = true
	}
}

// cond compiles one boolean node; nil when it is not of a form taken.
func (c *condCompiler) cond(n ast.Node) cond {
	switch n := n.(type) {
	case *ast.BoolNode:
		v := n.Value
		return func(*regexMemo, *pipeline.Event) bool { return v }
	case *ast.IdentifierNode:
		if get, ok := boolFieldOf(n); ok {
			return func(_ *regexMemo, ev *pipeline.Event) bool { return get.of(ev) }
		}
	case *ast.UnaryNode:
		if n.Operator == "!" || n.Operator == "not" {
			if f := c.cond(n.Node); f != nil {
				return func(m *regexMemo, ev *pipeline.Event) bool { return !f(m, ev) }
			}
		}
	case *ast.BinaryNode:
		return c.binary(n)
	case *ast.CallNode:
		return c.call(n)
	}
	return nil
}

func (c *condCompiler) binary(n *ast.BinaryNode) cond {
	switch n.Operator {
	case "&&", "and", "||", "or":
		and := isAnd(n.Operator)
		terms := chainTerms(n, and)
		fs := make([]cond, len(terms))
		for i, t := range terms {
			if fs[i] = c.cond(t); fs[i] == nil {
				return nil
			}
		}
		if and {
			return all(fs)
		}
		return oneOf(fs)
	case "==", "!=":
		f := c.equal(n)
		if f == nil || n.Operator == "==" {
			return f
		}
		return func(m *regexMemo, ev *pipeline.Event) bool { return !f(m, ev) }
	case "<", "<=", ">", ">=":
		return intCompare(n)
	case "contains", "startsWith", "endsWith":
		return stringTest(n)
	case "in":
		return inSet(n)
	}
	return nil
}

// equal compiles a field == constant, either way round, of a string or
// an integer field.
func (c *condCompiler) equal(n *ast.BinaryNode) cond {
	l, r := n.Left, n.Right
	if _, ok := l.(*ast.IdentifierNode); !ok {
		l, r = r, l
	}
	id, ok := l.(*ast.IdentifierNode)
	if !ok {
		return nil
	}
	switch k := r.(type) {
	case *ast.StringNode:
		if get, ok := stringField(id); ok {
			v := k.Value
			return func(_ *regexMemo, ev *pipeline.Event) bool { return get.of(ev) == v }
		}
	case *ast.IntegerNode:
		if get, ok := intFieldOf(id); ok {
			v := int64(k.Value)
			return func(_ *regexMemo, ev *pipeline.Event) bool { return get.of(ev) == v }
		}
	}
	return nil
}

// intCompare compiles an integer field compared with an integer
// constant.
func intCompare(n *ast.BinaryNode) cond {
	op := n.Operator
	id, ok := n.Left.(*ast.IdentifierNode)
	k, kok := n.Right.(*ast.IntegerNode)
	if !ok || !kok {
		// constant op field: the same test mirrored.
		id, ok = n.Right.(*ast.IdentifierNode)
		k, kok = n.Left.(*ast.IntegerNode)
		if !ok || !kok {
			return nil
		}
		op = map[string]string{"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
	}
	get, ok := intFieldOf(id)
	if !ok {
		return nil
	}
	v := int64(k.Value)
	switch op {
	case "<":
		return func(_ *regexMemo, ev *pipeline.Event) bool { return get.of(ev) < v }
	case "<=":
		return func(_ *regexMemo, ev *pipeline.Event) bool { return get.of(ev) <= v }
	case ">":
		return func(_ *regexMemo, ev *pipeline.Event) bool { return get.of(ev) > v }
	default:
		return func(_ *regexMemo, ev *pipeline.Event) bool { return get.of(ev) >= v }
	}
}

// stringTest compiles field contains/startsWith/endsWith "constant".
func stringTest(n *ast.BinaryNode) cond {
	id, ok := n.Left.(*ast.IdentifierNode)
	k, kok := n.Right.(*ast.StringNode)
	if !ok || !kok {
		return nil
	}
	get, ok := stringField(id)
	if !ok {
		return nil
	}
	v := k.Value
	switch n.Operator {
	case "contains":
		return func(_ *regexMemo, ev *pipeline.Event) bool { return strings.Contains(get.of(ev), v) }
	case "startsWith":
		return func(_ *regexMemo, ev *pipeline.Event) bool { return strings.HasPrefix(get.of(ev), v) }
	default:
		return func(_ *regexMemo, ev *pipeline.Event) bool { return strings.HasSuffix(get.of(ev), v) }
	}
}

// inSet compiles field in [constants], which expr's optimiser turns into
// a constant set (a map) when the list is all strings or, for an
// integer field, all integers.
func inSet(n *ast.BinaryNode) cond {
	id, ok := n.Left.(*ast.IdentifierNode)
	k, kok := n.Right.(*ast.ConstantNode)
	if !ok || !kok {
		return nil
	}
	switch set := k.Value.(type) {
	case map[string]struct{}:
		if get, ok := stringField(id); ok {
			list := keys(set)
			return func(_ *regexMemo, ev *pipeline.Event) bool { return hasString(list, get.of(ev)) }
		}
	case map[int]struct{}:
		if get, ok := intFieldOf(id); ok && reflectKind(id) == reflect.Int {
			list := make([]int64, 0, len(set))
			for v := range set {
				list = append(list, int64(v))
			}
			return func(_ *regexMemo, ev *pipeline.Event) bool {
				x := get.of(ev)
				for _, v := range list {
					if v == x {
						return true
					}
				}
				return false
			}
		}
	}
	return nil
}

func keys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func hasString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// call compiles the calls fastMatches and constCIDR made: a constant
// regex over a string field, a constant prefix holding an address field.
func (c *condCompiler) call(n *ast.CallNode) cond {
	k, ok := n.Callee.(*ast.ConstantNode)
	if !ok || len(n.Arguments) != 1 {
		return nil
	}
	id, ok := n.Arguments[0].(*ast.IdentifierNode)
	if !ok {
		return nil
	}
	if re := c.res[k]; re != nil {
		get, ok := stringField(id)
		if !ok {
			return nil
		}
		return c.matches(get, re)
	}
	if pr, ok := c.cidrs[k]; ok {
		get, ok := addrFieldOf(id)
		if !ok {
			return nil
		}
		return func(_ *regexMemo, ev *pipeline.Event) bool { return pr.Contains(pipeline.Canonical(get.of(ev))) }
	}
	return nil
}

// The event's fields by their expr names, read at their offsets: the
// checker has typed the tree, so a name that is a field is one of the
// Event's, of the type the reader is for.

func eventField(id *ast.IdentifierNode, kinds ...reflect.Kind) (uintptr, bool) {
	f, ok := eventFields()[id.Value]
	if !ok {
		return 0, false
	}
	for _, k := range kinds {
		if f.Type.Kind() == k {
			return f.Offset, true
		}
	}
	return 0, false
}

func reflectKind(id *ast.IdentifierNode) reflect.Kind {
	return eventFields()[id.Value].Type.Kind()
}

// eventFields maps the Event's expr names to its fields: made once, read
// only.
var eventFields = sync.OnceValue(func() map[string]reflect.StructField {
	t := reflect.TypeOf(pipeline.Event{})
	m := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if name := f.Tag.Get("expr"); name != "" && name != "-" && f.IsExported() && len(f.Index) == 1 {
			m[name] = f
		}
	}
	return m
})

// The readers below are a field's offset, read inline in each test's
// closure: a closure per field read was an indirect call per test on
// top of the test's own (several a predicate, a predicate per rule an
// attack line opens).

// strField reads a string field of the Event.
type strField uintptr

func (f strField) of(ev *pipeline.Event) string {
	return *(*string)(unsafe.Add(unsafe.Pointer(ev), uintptr(f)))
}

func stringField(id *ast.IdentifierNode) (strField, bool) {
	off, ok := eventField(id, reflect.String)
	if !ok || id.Type() == nil || id.Type().Kind() != reflect.String {
		return 0, false
	}
	return strField(off), true
}

// boolField reads a bool field of the Event.
type boolField uintptr

func (f boolField) of(ev *pipeline.Event) bool {
	return *(*bool)(unsafe.Add(unsafe.Pointer(ev), uintptr(f)))
}

func boolFieldOf(id *ast.IdentifierNode) (boolField, bool) {
	off, ok := eventField(id, reflect.Bool)
	return boolField(off), ok
}

// intField reads an int or int64 field of the Event as an int64.
type intField struct {
	off   uintptr
	isInt bool // an int, else an int64
}

func (f intField) of(ev *pipeline.Event) int64 {
	if f.isInt {
		return int64(*(*int)(unsafe.Add(unsafe.Pointer(ev), f.off)))
	}
	return *(*int64)(unsafe.Add(unsafe.Pointer(ev), f.off))
}

func intFieldOf(id *ast.IdentifierNode) (intField, bool) {
	off, ok := eventField(id, reflect.Int, reflect.Int64)
	if !ok {
		return intField{}, false
	}
	return intField{off: off, isInt: reflectKind(id) == reflect.Int}, true
}

var addrReflect = reflect.TypeOf(netip.Addr{})

// addrField reads a netip.Addr field of the Event.
type addrField uintptr

func (f addrField) of(ev *pipeline.Event) netip.Addr {
	return *(*netip.Addr)(unsafe.Add(unsafe.Pointer(ev), uintptr(f)))
}

func addrFieldOf(id *ast.IdentifierNode) (addrField, bool) {
	f, ok := eventFields()[id.Value]
	if !ok || f.Type != addrReflect {
		return 0, false
	}
	return addrField(f.Offset), true
}

// matches compiles field matches "constant", remembered per string
// (see regexMemo): even a regex anchored at the start can read the
// whole string (web-admin-probe's ^/(?:[^?]*/)?(?:phpmyadmin|...) does).
func (c *condCompiler) matches(get strField, re *regex.Regex) cond {
	return func(m *regexMemo, ev *pipeline.Event) bool { return m.match(re, get.of(ev)) }
}
