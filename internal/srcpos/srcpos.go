// Package srcpos is the position of a problem in a file a loader reads (a
// rule pack, a fail2ban configuration), and the list of problems a loader
// reports in one pass: every loader's errors read file:line:col: what.
package srcpos

import (
	"fmt"
	"strings"
)

// Pos is a position in a file, 1-based like editors show.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Error is one problem in a file, with where it is.
type Error struct {
	Pos Pos
	Msg string
}

func (e Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Errors is every problem found while loading, in file order. A file with
// any error is refused whole.
type Errors []Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Add appends a problem at p.
func (es *Errors) Add(p Pos, format string, args ...any) {
	*es = append(*es, Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

// Err is es as an error: nil when there is no problem.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}
