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
	terms := andTerms(n)
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

// andTerms flattens a left-leaning chain a && b && c into its terms, in
// order.
func andTerms(n ast.Node) []ast.Node {
	b, ok := n.(*ast.BinaryNode)
	if !ok || (b.Operator != "&&" && b.Operator != "and") {
		return []ast.Node{n}
	}
	return append(andTerms(b.Left), andTerms(b.Right)...)
}

func all(fs []cond) cond {
	if len(fs) == 1 {
		return fs[0]
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
		if get := boolField(n); get != nil {
			return func(_ *regexMemo, ev *pipeline.Event) bool { return get(ev) }
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
		l, r := c.cond(n.Left), c.cond(n.Right)
		if l == nil || r == nil {
			return nil
		}
		if n.Operator == "&&" || n.Operator == "and" {
			return func(m *regexMemo, ev *pipeline.Event) bool { return l(m, ev) && r(m, ev) }
		}
		return func(m *regexMemo, ev *pipeline.Event) bool { return l(m, ev) || r(m, ev) }
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
		if get := stringField(id); get != nil {
			v := k.Value
			return func(_ *regexMemo, ev *pipeline.Event) bool { return get(ev) == v }
		}
	case *ast.IntegerNode:
		if get := intField(id); get != nil {
			v := int64(k.Value)
			return func(_ *regexMemo, ev *pipeline.Event) bool { return get(ev) == v }
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
	get := intField(id)
	if get == nil {
		return nil
	}
	v := int64(k.Value)
	switch op {
	case "<":
		return func(_ *regexMemo, ev *pipeline.Event) bool { return get(ev) < v }
	case "<=":
		return func(_ *regexMemo, ev *pipeline.Event) bool { return get(ev) <= v }
	case ">":
		return func(_ *regexMemo, ev *pipeline.Event) bool { return get(ev) > v }
	default:
		return func(_ *regexMemo, ev *pipeline.Event) bool { return get(ev) >= v }
	}
}

// stringTest compiles field contains/startsWith/endsWith "constant".
func stringTest(n *ast.BinaryNode) cond {
	id, ok := n.Left.(*ast.IdentifierNode)
	k, kok := n.Right.(*ast.StringNode)
	if !ok || !kok {
		return nil
	}
	get := stringField(id)
	if get == nil {
		return nil
	}
	v := k.Value
	switch n.Operator {
	case "contains":
		return func(_ *regexMemo, ev *pipeline.Event) bool { return strings.Contains(get(ev), v) }
	case "startsWith":
		return func(_ *regexMemo, ev *pipeline.Event) bool { return strings.HasPrefix(get(ev), v) }
	default:
		return func(_ *regexMemo, ev *pipeline.Event) bool { return strings.HasSuffix(get(ev), v) }
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
		if get := stringField(id); get != nil {
			list := keys(set)
			return func(_ *regexMemo, ev *pipeline.Event) bool { return hasString(list, get(ev)) }
		}
	case map[int]struct{}:
		if get := intField(id); get != nil && reflectKind(id) == reflect.Int {
			list := make([]int64, 0, len(set))
			for v := range set {
				list = append(list, int64(v))
			}
			return func(_ *regexMemo, ev *pipeline.Event) bool {
				x := get(ev)
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
		get := stringField(id)
		if get == nil {
			return nil
		}
		return c.matches(get, re)
	}
	if pr, ok := c.cidrs[k]; ok {
		get := addrField(id)
		if get == nil {
			return nil
		}
		return func(_ *regexMemo, ev *pipeline.Event) bool { return pr.Contains(pipeline.Canonical(get(ev))) }
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

func stringField(id *ast.IdentifierNode) func(*pipeline.Event) string {
	off, ok := eventField(id, reflect.String)
	if !ok || id.Type() == nil || id.Type().Kind() != reflect.String {
		return nil
	}
	return func(ev *pipeline.Event) string { return *(*string)(unsafe.Add(unsafe.Pointer(ev), off)) }
}

func boolField(id *ast.IdentifierNode) func(*pipeline.Event) bool {
	off, ok := eventField(id, reflect.Bool)
	if !ok {
		return nil
	}
	return func(ev *pipeline.Event) bool { return *(*bool)(unsafe.Add(unsafe.Pointer(ev), off)) }
}

func intField(id *ast.IdentifierNode) func(*pipeline.Event) int64 {
	off, ok := eventField(id, reflect.Int, reflect.Int64)
	if !ok {
		return nil
	}
	if reflectKind(id) == reflect.Int {
		return func(ev *pipeline.Event) int64 { return int64(*(*int)(unsafe.Add(unsafe.Pointer(ev), off))) }
	}
	return func(ev *pipeline.Event) int64 { return *(*int64)(unsafe.Add(unsafe.Pointer(ev), off)) }
}

var addrReflect = reflect.TypeOf(netip.Addr{})

func addrField(id *ast.IdentifierNode) func(*pipeline.Event) netip.Addr {
	f, ok := eventFields()[id.Value]
	if !ok || f.Type != addrReflect {
		return nil
	}
	off := f.Offset
	return func(ev *pipeline.Event) netip.Addr { return *(*netip.Addr)(unsafe.Add(unsafe.Pointer(ev), off)) }
}

// matches compiles field matches "constant", remembered per string
// (see regexMemo): even a regex anchored at the start can read the
// whole string (web-admin-probe's ^/(?:[^?]*/)?(?:phpmyadmin|...) does).
func (c *condCompiler) matches(get func(*pipeline.Event) string, re *regex.Regex) cond {
	return func(m *regexMemo, ev *pipeline.Event) bool { return m.match(re, get(ev)) }
}
