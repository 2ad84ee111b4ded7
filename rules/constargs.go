package rules

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
)

// checkConstArgs checks the constant arguments of the helpers that would
// otherwise fail on every line at run time (a window that is no duration,
// a CIDR that does not parse, a prefix length no address has): such a
// predicate is refused when the pack loads, at the argument's position.
func checkConstArgs(src string, root ast.Node) error {
	v := &constArgs{}
	ast.Walk(&root, v)
	if v.bad == nil {
		return nil
	}
	e := &file.Error{Location: v.bad.Location(), Message: v.msg}
	return e.Bind(file.NewSource(src))
}

// constArgs finds the first bad constant argument.
type constArgs struct {
	bad ast.Node
	msg string
}

func (v *constArgs) Visit(n *ast.Node) {
	c, ok := (*n).(*ast.CallNode)
	if !ok || v.bad != nil {
		return
	}
	id, ok := c.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	switch id.Value {
	case "offenses":
		v.window(id.Value, c.Arguments, 1)
	case "failures", "distinct":
		v.window(id.Value, c.Arguments, 2)
	case "in_cidr":
		if s, ok := argAt(c.Arguments, 1).(*ast.StringNode); ok {
			if _, err := netip.ParsePrefix(s.Value); err != nil {
				v.bad, v.msg = s, fmt.Sprintf("in_cidr: %q is not a CIDR (e.g. 10.0.0.0/8)", s.Value)
			}
		}
	case "prefix":
		if i, ok := argAt(c.Arguments, 1).(*ast.IntegerNode); ok && (i.Value < 0 || i.Value > 128) {
			v.bad, v.msg = i, fmt.Sprintf("prefix: length %d: want 0 to 32 for IPv4, 0 to 128 for IPv6", i.Value)
		}
	}
}

// window checks the window argument i of helper fn.
func (v *constArgs) window(fn string, args []ast.Node, i int) {
	s, ok := argAt(args, i).(*ast.StringNode)
	if !ok {
		return
	}
	if _, err := ParseDuration(s.Value); err != nil {
		v.bad, v.msg = s, fmt.Sprintf("%s: window %q: %v", fn, s.Value, err)
	}
}

func argAt(args []ast.Node, i int) ast.Node {
	if i < len(args) {
		return args[i]
	}
	return nil
}

// longestWindow is the longest constant window the expression's
// offenses(), failures() and distinct() calls look back over (0 for
// none): how far back what it counts reaches.
func longestWindow(root ast.Node) time.Duration {
	v := &windows{}
	ast.Walk(&root, v)
	return v.longest
}

type windows struct{ longest time.Duration }

func (v *windows) Visit(n *ast.Node) {
	c, ok := (*n).(*ast.CallNode)
	if !ok {
		return
	}
	id, ok := c.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	i := 2
	switch id.Value {
	case "offenses":
		i = 1
	case "failures", "distinct":
	default:
		return
	}
	if s, ok := argAt(c.Arguments, i).(*ast.StringNode); ok {
		if d, err := ParseDuration(s.Value); err == nil {
			v.longest = max(v.longest, d)
		}
	}
}
