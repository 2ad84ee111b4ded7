package decision

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"

	"github.com/stockade-ids/stockade/pipeline"
)

// ErrAmbiguous is a decision that does not read the same to every reader.
var ErrAmbiguous = errors.New("decision: ambiguous json")

// fields are the JSON names of pipeline.Decision, read from its tags so
// that a field added to the contract is known here at once.
var fields = func() []string {
	t := reflect.TypeFor[pipeline.Decision]()
	out := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	if len(out) > 64 {
		panic("decision: more fields than Strict's bitmap holds")
	}
	return out
}()

// Strict reports whether data is one JSON object whose keys every reader
// reads alike, the condition for believing what a signature covers: Go's
// encoding/json matches a key to a field regardless of case (Unicode
// folding: "ſcope" is scope) and keeps the last of duplicate keys, and a
// stream decoder stops after the first value, so
// {"target":"A","Target":"B"} bans B while a log, jq or an auditor reads A.
// A key that differs from a field's name only in case, a field named
// twice, and anything but blanks after the object are refused; keys no
// field has are accepted (fields are only ever added to the contract).
//
// It only finds the top-level keys and skips their values: whether the
// JSON is valid is json.Unmarshal's to say, which the caller runs next.
// One pass, no allocation unless a key holds an escape.
func Strict(data []byte) error {
	w := walker{b: data}
	if !w.open() {
		return ErrAmbiguous
	}
	var seen uint64
	for {
		key, ok := w.next()
		if !ok {
			break
		}
		i := field(key)
		if i == -2 {
			return ErrAmbiguous
		}
		if i >= 0 {
			if seen&(1<<i) != 0 {
				return ErrAmbiguous
			}
			seen |= 1 << i
		}
	}
	if w.err || !w.closed {
		return ErrAmbiguous
	}
	w.blank()
	if w.i != len(w.b) {
		return ErrAmbiguous
	}
	return nil
}

// field is the index of key in fields, -1 for a key no field has, -2 for
// one that differs from a field's name only in case.
func field(key []byte) int {
	for i, f := range fields {
		if string(key) == f {
			return i
		}
	}
	for _, f := range fields {
		if bytes.EqualFold(key, []byte(f)) {
			return -2
		}
	}
	return -1
}

// Ref reads the id and origin of a decision as quoted in evidence, which
// may be cut short (evidence lines are): the id and origin come before the
// long fields in what stockade writes. A line without an action is no
// decision.
func Ref(line string) (id, origin string, ok bool) {
	w := walker{b: []byte(line)}
	if !w.open() {
		return "", "", false
	}
	action := false
	for id == "" || origin == "" || !action {
		key, ok := w.next()
		if !ok {
			break
		}
		action = action || string(key) == "action"
		if k := string(key); k == "id" || k == "origin" {
			var s string
			if json.Unmarshal(w.val, &s) != nil {
				return "", "", false
			}
			if k == "id" {
				id = s
			} else {
				origin = s
			}
		}
	}
	if id == "" || origin == "" || !action {
		return "", "", false
	}
	return id, origin, true
}

// walker steps through the top-level keys of a JSON object.
type walker struct {
	b      []byte
	i      int
	val    []byte // the last key's value, as written
	err    bool   // the object is not well formed
	closed bool   // its closing brace was read
	first  bool
}

func (w *walker) blank() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

func (w *walker) open() bool {
	w.blank()
	if w.i >= len(w.b) || w.b[w.i] != '{' {
		return false
	}
	w.i++
	w.first = true
	return true
}

// next returns the next key, unescaped, and sets w.val; false at the end
// of the object or at what is not well formed (w.err).
func (w *walker) next() ([]byte, bool) {
	w.blank()
	if w.i >= len(w.b) {
		w.err = true
		return nil, false
	}
	switch c := w.b[w.i]; {
	case c == '}':
		w.i++
		w.closed = true
		return nil, false
	case w.first:
	case c == ',':
		w.i++
		w.blank()
	default:
		w.err = true
		return nil, false
	}
	w.first = false
	start := w.i
	end, escaped := str(w.b, start)
	if end < 0 {
		w.err = true
		return nil, false
	}
	key := w.b[start+1 : end-1]
	if escaped {
		// Rare: what a decoder makes of the escapes is what counts.
		var s string
		if json.Unmarshal(w.b[start:end], &s) != nil {
			w.err = true
			return nil, false
		}
		key = []byte(s)
	}
	w.i = end
	w.blank()
	if w.i >= len(w.b) || w.b[w.i] != ':' {
		w.err = true
		return nil, false
	}
	w.i++
	w.blank()
	vs := w.i
	if w.i = skip(w.b, w.i); w.i < 0 {
		w.err = true
		return nil, false
	}
	w.val = w.b[vs:w.i]
	return key, true
}

// str is the end (after the closing quote) of the string at b[i], or -1;
// escaped tells whether it holds a backslash.
func str(b []byte, i int) (end int, escaped bool) {
	if i >= len(b) || b[i] != '"' {
		return -1, false
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped
		}
	}
	return -1, escaped
}

// skip is the end of the value at b[i], or -1.
func skip(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := str(b, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _ := str(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if j == i {
				return -1
			}
			return j
		}
		j++
	}
	return -1
}
