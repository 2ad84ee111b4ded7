package rules

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/stockade-ids/stockade/pipeline"
)

// predicate is a compiled `when:` expression. The environment is the Event
// itself (its expr tags name the fields), typed as a value: no map is built
// per event, fields are read by index (not looked up by name), and a
// predicate over an unknown field or of a non-boolean type fails at load,
// not at run time. See envOf for how an event is passed without a copy.
type predicate struct {
	src  string
	prog *vm.Program
}

func compilePredicate(src string, ref *stateRef) (*predicate, error) {
	p, err := expr.Compile(src, append(ref.functions(), expr.Env(pipeline.Event{}), expr.AsBool())...)
	if err != nil {
		return nil, err
	}
	return &predicate{src: src, prog: p}, nil
}

// keyExpr is a compiled `key:` expression: what a rule counts by when not
// the address (a user name, a capture, a signature id).
type keyExpr struct {
	src  string
	prog *vm.Program
}

func compileKey(src string, ref *stateRef) (*keyExpr, error) {
	p, err := expr.Compile(src, append(ref.functions(), expr.Env(pipeline.Event{}))...)
	if err != nil {
		return nil, err
	}
	switch k := p.Node().Type(); {
	case k == nil:
	case k.Kind() == reflect.String, k.Kind() == reflect.Int, k.Kind() == reflect.Interface:
	default:
		return nil, fmt.Errorf("want a string or number, got %s", k)
	}
	return &keyExpr{src: src, prog: p}, nil
}

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
