package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"
	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules/regex"
)

// predicate is a compiled `when:` expression. The environment is the Event
// itself (its expr tags name the fields), typed as a value: no map is built
// per event, fields are read by index (not looked up by name), and a
// predicate over an unknown field or of a non-boolean type fails at load,
// not at run time. See envOf for how an event is passed without a copy.
type predicate struct {
	src  string
	prog *vm.Program
	// window is the longest its state helpers look back (longestWindow).
	window time.Duration
	// regexes are its constant `matches` (see fastMatches), by the
	// callee of the call that runs each.
	regexes map[*ast.ConstantNode]*regex.Regex
	// pure is the part of a state-reading predicate a parallel replay's
	// forks may judge (see purePrefix); nil for none.
	pure *vm.Program
	// fast is the predicate compiled to Go (see cond), when whole; else
	// the head of its && chain that compiles, which can only say no
	// before the VM runs; nil when none does.
	fast  cond
	whole bool
}

func compilePredicate(src string, ref *stateRef) (*predicate, error) {
	fm, cc := &fastMatches{}, &constCIDR{}
	p, err := expr.Compile(src, slices.Concat(ref.functions(), guard(), fm.options(), cc.options(), []expr.Option{expr.Env(pipeline.Event{}), expr.AsBool()})...)
	if err == nil {
		err = fm.err
	}
	if err != nil {
		return nil, err
	}
	if err := checkConstArgs(src, p.Node()); err != nil {
		return nil, err
	}
	pr := &predicate{src: src, prog: p, regexes: fm.res, window: longestWindow(p.Node())}
	if readsState(p) {
		pr.pure = purePrefix(src, ref)
	}
	pr.fast, pr.whole = (&condCompiler{res: fm.res, cidrs: cc.prefixes}).compile(p.Node())
	return pr, nil
}

// keyExpr is a compiled `key:` expression: what a rule counts by when not
// the address (a user name, a capture, a signature id).
type keyExpr struct {
	src    string
	prog   *vm.Program
	window time.Duration // as predicate's
}

func compileKey(src string, ref *stateRef) (*keyExpr, error) {
	fm := &fastMatches{}
	p, err := expr.Compile(src, slices.Concat(ref.functions(), guard(), fm.options(), constCIDRs(), []expr.Option{expr.Env(pipeline.Event{})})...)
	if err == nil {
		err = fm.err
	}
	if err != nil {
		return nil, err
	}
	if err := checkConstArgs(src, p.Node()); err != nil {
		return nil, err
	}
	switch k := p.Node().Type(); {
	case k == nil:
	case k.Kind() == reflect.String, k.Kind() == reflect.Int, k.Kind() == reflect.Interface:
	default:
		return nil, fmt.Errorf("want a string or number, got %s", k)
	}
	return &keyExpr{src: src, prog: p, window: longestWindow(p.Node())}, nil
}

// Predicates and keys run on every line, over text an attacker writes
// (repeat(user, 200000) took 1.6 GB and 0.9 s a line), so each run has a
// budget: at most exprMemory elements of ranges, arrays, maps and loop
// iterations (expr's VM counts them), and no string over exprMaxString
// (repeat, replace and join refuse to make one, every other string a
// function or + makes is checked as it is made). Time follows: iterations
// times string size. A predicate over its budget, or dividing by zero
// (which expr turns into an infinity that compares true), fails: the line
// is no hit, and is counted (Set.Unbanned).
const (
	exprMaxNodes  = 1000
	exprMemory    = 1000
	exprMaxString = 64 << 10
)

var (
	errOverBudget = errors.New("over the predicate budget")
	errDivZero    = errors.New("division by zero")
)

// Reasons of lines a rule matched but whose predicate failed (Unbanned).
const (
	ReasonPredicateBudget = "predicate over its budget (memory, loops or string size)"
	ReasonPredicateFailed = "predicate failed (division by zero or another run-time error)"
)

// runExpr runs prog on ev with the budget; reason says why it failed.
func runExpr(m *vm.VM, prog *vm.Program, ev *pipeline.Event) (out any, reason string) {
	m.MemoryBudget = exprMemory
	out, err := m.Run(prog, envOf(ev))
	switch {
	case err == nil:
		return out, ""
	case errors.Is(err, errOverBudget) || strings.Contains(err.Error(), "memory budget exceeded"):
		return nil, ReasonPredicateBudget
	}
	return nil, ReasonPredicateFailed
}

// guard is what every predicate and key is compiled with: a size limit,
// the string functions that can multiply their input bounded, and the
// tree patched so that division checks its divisor and strings their
// size (see checkedTree).
func guard() []expr.Option {
	str := func(n int) error {
		if n > exprMaxString {
			return errOverBudget
		}
		return nil
	}
	return append(boundedStrings(str),
		expr.MaxNodes(exprMaxNodes),
		expr.Function(checkedDiv, func(p ...any) (any, error) {
			if isZero(p[1]) {
				return nil, errDivZero
			}
			return runtime.Divide(p[0], p[1]), nil
		}, new(func(any, any) float64)),
		expr.Function(checkedStr, func(p ...any) (any, error) {
			s := p[0].(string)
			if err := str(len(s)); err != nil {
				return nil, err
			}
			return s, nil
		}, new(func(string) string)),
		expr.Function(checkedAny, func(p ...any) (any, error) {
			if s, ok := p[0].(string); ok {
				if err := str(len(s)); err != nil {
					return nil, err
				}
			}
			return p[0], nil
		}, new(func(any) any)),
		expr.Patch(checkedTree{}),
	)
}

// boundedStrings are repeat, replace and join, refusing to make a string
// over exprMaxString (str says whether a length is over).
func boundedStrings(str func(int) error) []expr.Option {
	return []expr.Option{
		expr.Function("repeat", func(p ...any) (any, error) {
			s, n := p[0].(string), p[1].(int)
			if n < 0 {
				return nil, fmt.Errorf("repeat: negative count %d", n)
			}
			if n > 0 && len(s) > exprMaxString/n {
				return nil, errOverBudget
			}
			return strings.Repeat(s, n), nil
		}, new(func(string, int) string)),
		expr.Function("replace", func(p ...any) (any, error) {
			s, old, by := p[0].(string), p[1].(string), p[2].(string)
			n := strings.Count(s, old)
			if len(by) > len(old) && n > 0 {
				if err := str(len(s) + min(n, exprMaxString+1)*(len(by)-len(old))); err != nil {
					return nil, err
				}
			}
			if len(p) == 4 {
				return strings.Replace(s, old, by, p[3].(int)), nil
			}
			return strings.ReplaceAll(s, old, by), nil
		}, new(func(string, string, string) string), new(func(string, string, string, int) string)),
		expr.Function("join", func(p ...any) (any, error) {
			glue := ""
			if len(p) == 2 {
				glue = p[1].(string)
			}
			var parts []string
			switch a := p[0].(type) {
			case []string:
				parts = a
			case []any:
				parts = make([]string, 0, len(a))
				for _, x := range a {
					s, ok := x.(string)
					if !ok {
						return nil, fmt.Errorf("join: %T is not a string", x)
					}
					parts = append(parts, s)
				}
			}
			n := len(glue) * max(len(parts)-1, 0)
			for _, s := range parts {
				if n += len(s); n > exprMaxString {
					return nil, errOverBudget
				}
			}
			if err := str(n); err != nil {
				return nil, err
			}
			return strings.Join(parts, glue), nil
		}, new(func([]any, string) string), new(func([]any) string), new(func([]string, string) string), new(func([]string) string)),
	}
}

// fastMatches runs `x matches "constant"` on the rule regex engine
// (rules/regex: fastre, exact to Go's regexp, with the literal
// prefilter) instead of expr's regexp: on an access log's user agent a
// case-insensitive alternation of thirty tool names took regexp tens of
// microseconds a line, fastre a fraction of one. The patch replaces the
// operator with a call of the regex's Match, a constant of type
// func(string) bool: expr calls a function of that exact type directly
// (OpCallTyped), where a function declared with expr.Function costs an
// argument slice (and a pass over the program to size it) every run.
type fastMatches struct {
	res map[*ast.ConstantNode]*regex.Regex
	err error
}

func (fm *fastMatches) options() []expr.Option {
	return []expr.Option{expr.Patch(fm)}
}

var matchType = reflect.TypeOf(func(string) bool { return false })

func (fm *fastMatches) Visit(node *ast.Node) {
	n, ok := (*node).(*ast.BinaryNode)
	if !ok || n.Operator != "matches" {
		return
	}
	str, ok := n.Right.(*ast.StringNode)
	if !ok {
		return
	}
	re, err := regex.CompileRegex(str.Value, str.Value)
	if err != nil {
		if fm.err == nil {
			fm.err = err
		}
		return
	}
	callee := &ast.ConstantNode{Value: re.Match}
	callee.SetType(matchType)
	if fm.res == nil {
		fm.res = map[*ast.ConstantNode]*regex.Regex{}
	}
	fm.res[callee] = re
	call := &ast.CallNode{Callee: callee, Arguments: []ast.Node{n.Left}}
	call.SetType(reflect.TypeOf(true))
	ast.Patch(node, call)
}

// constCIDR runs in_cidr(addr, "constant") as a call of the parsed
// prefix's test, a constant of type func(any) bool, which expr calls
// directly (OpCallTyped): the helper parsed its prefix on every run and,
// declared with expr.Function, cost an argument slice each time (the web
// packs' crawler exceptions call it up to five times a line). A call
// whose prefix does not parse, or whose first argument is not known to
// be an address, is left as it is: checkConstArgs, or the type checker,
// refuses it at load with its position. prefixes holds each call's
// prefix by its callee (what cond reads).
type constCIDR struct {
	prefixes map[*ast.ConstantNode]netip.Prefix
}

func (cc *constCIDR) options() []expr.Option { return []expr.Option{expr.Patch(cc)} }

// constCIDRs is constCIDR's patch for an expression whose prefixes
// nobody reads back.
func constCIDRs() []expr.Option { return (&constCIDR{}).options() }

var (
	cidrType = reflect.TypeOf(func(any) bool { return false })
	addrType = reflect.TypeOf(netip.Addr{})
)

func (cc *constCIDR) Visit(node *ast.Node) {
	n, ok := (*node).(*ast.CallNode)
	if !ok || !isIdent(n.Callee, "in_cidr") || len(n.Arguments) != 2 || n.Arguments[0].Type() != addrType {
		return
	}
	str, ok := n.Arguments[1].(*ast.StringNode)
	if !ok {
		return
	}
	pr, err := netip.ParsePrefix(str.Value)
	if err != nil {
		return
	}
	callee := &ast.ConstantNode{Value: func(a any) bool {
		addr, _ := a.(netip.Addr)
		return pr.Contains(pipeline.Canonical(addr))
	}}
	callee.SetType(cidrType)
	if cc.prefixes == nil {
		cc.prefixes = map[*ast.ConstantNode]netip.Prefix{}
	}
	cc.prefixes[callee] = pr
	call := &ast.CallNode{Callee: callee, Arguments: []ast.Node{n.Arguments[0]}}
	call.SetType(reflect.TypeOf(true))
	ast.Patch(node, call)
}

// The functions checkedTree calls in place of / and around strings.
const (
	checkedDiv = "div_checked"
	checkedStr = "str_checked"
	checkedAny = "value_checked"
)

func isZero(v any) bool {
	switch x := v.(type) {
	case float64:
		return x == 0
	case float32:
		return x == 0
	}
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanInt():
		return rv.Int() == 0
	case rv.CanUint():
		return rv.Uint() == 0
	}
	return false
}

// checkedTree rewrites a/b into div_checked(a, b) when both are numbers,
// and wraps every string a function call or + makes in str_checked: the
// growth of one step is bounded by its inputs, so checking each step keeps
// a chain (toJSON of toJSON of ..., #acc + line in a reduce) within the
// budget too.
type checkedTree struct{}

func (checkedTree) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		switch {
		case n.Operator == "/" && numeric(n.Left.Type()) && numeric(n.Right.Type()):
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: checkedDiv}, Arguments: []ast.Node{n.Left, n.Right}})
		case n.Operator == "+" && isString(n.Type()):
			wrapString(node)
		case n.Operator == "+" && unknown(n.Type()):
			// #acc + line in a reduce: a string or a number, known at run time.
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: checkedAny}, Arguments: []ast.Node{*node}})
		}
	case *ast.BuiltinNode:
		if isString(n.Type()) {
			wrapString(node)
		}
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && (id.Value == checkedStr || id.Value == checkedDiv || id.Value == checkedAny) {
			return
		}
		if isString(n.Type()) {
			wrapString(node)
		}
	}
}

func wrapString(node *ast.Node) {
	ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: checkedStr}, Arguments: []ast.Node{*node}})
}

func unknown(t reflect.Type) bool { return t == nil || t.Kind() == reflect.Interface }

func numeric(t reflect.Type) bool {
	if t == nil {
		return true // unknown until run time: checked then
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Interface:
		return true
	}
	return false
}

func isString(t reflect.Type) bool { return t != nil && t.Kind() == reflect.String }

// exprPos maps an expr error position into the pack file. Flow scalars start
// at the node; block scalars (| and >) one line below it.
func exprPos(at Pos, n *yaml.Node, err error) Pos {
	var fe *file.Error
	if !errors.As(err, &fe) || fe.Line == 0 {
		return at
	}
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		at.Line += fe.Line
		at.Col = n.Column + 2 + fe.Column
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		at.Line += fe.Line - 1
		at.Col += 1 + fe.Column
	default:
		at.Line += fe.Line - 1
		at.Col += fe.Column
	}
	return at
}

func exprMsg(err error) string {
	var fe *file.Error
	if errors.As(err, &fe) {
		return fe.Message
	}
	return err.Error()
}

// compileFormula compiles an escalation formula: an expression over
// `offense` (1 for the first ban) and `ban` (the base ban in seconds) that
// gives the ban in seconds, like CrowdSec's duration_expr.
func compileFormula(src string) (func(int, time.Duration) time.Duration, error) {
	type env struct {
		Offense int     `expr:"offense"`
		Ban     float64 `expr:"ban"`
	}
	p, err := expr.Compile(src, expr.Env(env{}), expr.AsFloat64())
	if err != nil {
		return nil, err
	}
	return func(n int, base time.Duration) time.Duration {
		out, err := expr.Run(p, env{Offense: n, Ban: base.Seconds()})
		if err != nil {
			return base
		}
		f, _ := out.(float64)
		if f != f || f <= 0 { // NaN or nonsense: keep the base ban
			return base
		}
		return time.Duration(f * float64(time.Second))
	}, nil
}
