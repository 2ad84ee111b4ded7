package yamlnode

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/internal/srcpos"
)

// Decoder fills a component's configuration from its YAML node the way
// Prometheus reads its files: strictly (a key the configuration does not
// know is an error, with the key it probably meant), every problem at its
// node's position, named by its path in the file ("sinks[0].exec.timeout")
// and said in the file's words ("want a number", never a Go type name),
// and all of them in one pass.
//
// Only struct fields with a yaml tag are keys: what a component sets at
// run time (a logger, a clock, a signer) has none and cannot be set from a
// file. A field tagged ",inline" lends its keys to its parent.
type Decoder struct {
	File string
	Errs *srcpos.Errors
	// Hints replace the refusal of an unknown key at a path ("nats.policy")
	// where a common mistake deserves its own words.
	Hints map[string]string

	visited int             // nodes walked: aliases may make a small file a huge tree
	failed  map[string]bool // paths that did not decode: their checks would only repeat it
	big     bool            // the bound of nodes or depth was reported
}

// Exhausted reports whether decoding stopped at the bound of nodes or
// depth: what was left undecoded would only draw false problems.
func (d *Decoder) Exhausted() bool { return d.big }

// tooBig reports, once, a document past the bounds of nodes or depth.
func (d *Decoder) tooBig(n *yaml.Node, path string) {
	if !d.big {
		d.big = true
		d.Add(n, path, "nested too deep or too large (aliases?)")
	}
}

// maxNodes bounds the nodes one Decoder walks: "a: &a [*a, *a]" nests
// aliases into a tree without end, and a few lines of aliases into
// billions of nodes.
const maxNodes = 1 << 18

// maxDepth bounds nesting, so that an alias cycle ends.
const maxDepth = 64

// Decodable is a section whose shape struct tags cannot say (a list of
// entries each of which names its kind): it decodes itself with d,
// reporting its problems there.
type Decodable interface {
	DecodeYAML(d *Decoder, n *yaml.Node, path string)
}

// Fields are the keys and values of the mapping n, as Decode reads them
// (merge keys applied, a repeated key reported); false when n is not a
// mapping, which is reported.
func (d *Decoder) Fields(n *yaml.Node, path string) ([]Field, bool) {
	return d.fields(Resolve(n), path, 0)
}

// Pos is n's position in d.File.
func (d *Decoder) Pos(n *yaml.Node) srcpos.Pos {
	return srcpos.Pos{File: d.File, Line: n.Line, Col: n.Column}
}

// Add reports a problem at n.
func (d *Decoder) Add(n *yaml.Node, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	if d.failed == nil {
		d.failed = map[string]bool{}
	}
	d.failed[path] = true
	d.Errs.Add(d.Pos(n), "%s", msg)
}

// Decode fills v, a non-nil pointer, from n; path names n in messages ("" at
// the top of the file). It reports whether n decoded without a problem.
func (d *Decoder) Decode(n *yaml.Node, path string, v any) bool {
	before := len(*d.Errs)
	d.value(Resolve(n), path, reflect.ValueOf(v).Elem(), 0)
	return len(*d.Errs) == before
}

// Failed reports whether path, or a section holding it, was reported.
func (d *Decoder) Failed(path string) bool {
	for p := path; ; {
		if d.failed[p] {
			return true
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			return d.failed[""] && path == ""
		}
		p = p[:i]
	}
}

// Sort puts the problems in file order.
func (d *Decoder) Sort() {
	sort.SliceStable(*d.Errs, func(i, j int) bool {
		a, b := (*d.Errs)[i].Pos, (*d.Errs)[j].Pos
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
}

// Resolve follows an alias to its anchor's node, and a document to its
// content.
func Resolve(n *yaml.Node) *yaml.Node {
	for i := 0; i < maxDepth && n != nil; i++ {
		switch {
		case n.Kind == yaml.AliasNode && n.Alias != nil:
			n = n.Alias
		case n.Kind == yaml.DocumentNode && len(n.Content) == 1:
			n = n.Content[0]
		default:
			return n
		}
	}
	return n
}

// Join names a child: Join("sinks[0]", "exec") is "sinks[0].exec".
func Join(path, key string) string {
	switch {
	case path == "":
		return key
	case key == "":
		return path
	case key[0] == '[':
		return path + key
	}
	return path + "." + key
}

// Index names a list's item: Index("sinks", 0) is "sinks[0]".
func Index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

var (
	durationType = reflect.TypeFor[time.Duration]()
)

// IsNull reports whether n is an empty value ("key:" or "key: null").
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func (d *Decoder) value(n *yaml.Node, path string, v reflect.Value, depth int) {
	n = Resolve(n)
	if d.visited++; d.visited > maxNodes || depth > maxDepth {
		d.tooBig(n, path)
		return
	}
	if v.Kind() == reflect.Pointer {
		if IsNull(n) {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, path, v.Elem(), depth+1)
		return
	}
	if v.CanAddr() {
		switch p := v.Addr().Interface().(type) {
		case Decodable:
			p.DecodeYAML(d, n, path)
			return
		case yaml.Unmarshaler:
			if err := p.UnmarshalYAML(n); err != nil {
				d.Add(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
			}
			return
		case encoding.TextUnmarshaler:
			if s, ok := d.scalar(n, path, "a single value"); ok {
				if err := p.UnmarshalText([]byte(s)); err != nil {
					d.Add(n, path, "%s", err)
				}
			}
			return
		}
	}
	if IsNull(n) && v.Kind() != reflect.String {
		return // an empty value leaves the default
	}
	d.kind(n, path, v, depth)
}

func (d *Decoder) kind(n *yaml.Node, path string, v reflect.Value, depth int) {
	switch {
	case v.Type() == durationType:
		d.duration(n, path, v)
	case v.Kind() == reflect.String:
		if IsNull(n) {
			return
		}
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case v.Kind() == reflect.Bool:
		d.bool(n, path, v)
	case v.CanInt():
		d.int(n, path, v)
	case v.CanUint():
		d.uint(n, path, v)
	case v.CanFloat():
		d.float(n, path, v)
	case v.Kind() == reflect.Slice:
		d.slice(n, path, v, depth)
	case v.Kind() == reflect.Map:
		d.mapping(n, path, v, depth)
	case v.Kind() == reflect.Struct:
		d.structure(n, path, v, depth)
	case v.Kind() == reflect.Interface && v.NumMethod() == 0:
		var x any
		if err := n.Decode(&x); err != nil {
			d.Add(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
			return
		}
		v.Set(reflect.ValueOf(&x).Elem())
	default:
		// A configuration type the decoder cannot fill is a bug in the
		// component, not in the file: say so plainly.
		d.Add(n, path, "cannot be set from a file")
	}
}

// scalar is n's text, or a problem naming what was wanted.
func (d *Decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.Add(n, path, "want %s, not %s", want, describe(n))
		return "", false
	}
	return n.Value, true
}

// describe says what n is, in YAML's words.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "this"
}

func (d *Decoder) duration(n *yaml.Node, path string, v reflect.Value) {
	s, ok := d.scalar(n, path, "a duration (90s, 10m, 1h, 7d, 1w)")
	if !ok {
		return
	}
	t, err := ParseDuration(s)
	if err != nil {
		d.Add(n, path, "%s", err)
		return
	}
	v.SetInt(int64(t))
}

func (d *Decoder) bool(n *yaml.Node, path string, v reflect.Value) {
	s, ok := d.scalar(n, path, "true or false")
	if !ok {
		return
	}
	var b bool
	if n.Tag != "!!bool" || n.Decode(&b) != nil {
		d.Add(n, path, "want true or false, not %q", s)
		return
	}
	v.SetBool(b)
}

func (d *Decoder) int(n *yaml.Node, path string, v reflect.Value) {
	s, ok := d.scalar(n, path, "a whole number")
	if !ok {
		return
	}
	var i int64
	if n.Tag != "!!int" || n.Decode(&i) != nil {
		d.Add(n, path, "want a whole number, not %q", s)
		return
	}
	if v.OverflowInt(i) {
		d.Add(n, path, "%s is out of range", s)
		return
	}
	v.SetInt(i)
}

func (d *Decoder) uint(n *yaml.Node, path string, v reflect.Value) {
	s, ok := d.scalar(n, path, "a whole number")
	if !ok {
		return
	}
	var i uint64
	if n.Tag != "!!int" || n.Decode(&i) != nil {
		d.Add(n, path, "want a whole number of at least 0, not %q", s)
		return
	}
	if v.OverflowUint(i) {
		d.Add(n, path, "%s is out of range", s)
		return
	}
	v.SetUint(i)
}

func (d *Decoder) float(n *yaml.Node, path string, v reflect.Value) {
	s, ok := d.scalar(n, path, "a number")
	if !ok {
		return
	}
	var f float64
	if (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&f) != nil || math.IsNaN(f) {
		d.Add(n, path, "want a number, not %q", s)
		return
	}
	v.SetFloat(f)
}

// slice fills a list; a single value where a list of values is wanted is
// a list of one ("chains: input").
func (d *Decoder) slice(n *yaml.Node, path string, v reflect.Value, depth int) {
	items := n.Content
	switch {
	case n.Kind == yaml.ScalarNode && scalarElem(v.Type().Elem()):
		items = []*yaml.Node{n}
	case n.Kind != yaml.SequenceNode:
		d.Add(n, path, "want a list, not %s", describe(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, c := range items {
		d.value(c, Index(path, i), out.Index(i), depth+1)
	}
	v.Set(out)
}

// scalarElem reports whether a list of t is written as a list of single
// values.
func scalarElem(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint16, reflect.Float64:
		return true
	}
	return false
}

func (d *Decoder) mapping(n *yaml.Node, path string, v reflect.Value, depth int) {
	if v.Type().Key().Kind() != reflect.String {
		d.Add(n, path, "cannot be set from a file")
		return
	}
	fields, ok := d.fields(n, path, depth)
	if !ok {
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, f := range fields {
		e := reflect.New(v.Type().Elem()).Elem()
		d.value(f.Value, Join(path, f.Key.Value), e, depth+1)
		v.SetMapIndex(reflect.ValueOf(f.Key.Value).Convert(v.Type().Key()), e)
	}
}

// fields are n's keys and values: merged ones ("<<: *base") first, so
// that the keys written out override them; a key written twice is an
// error.
func (d *Decoder) fields(n *yaml.Node, path string, depth int) ([]Field, bool) {
	if n.Kind != yaml.MappingNode {
		d.Add(n, path, "want a mapping, not %s", describe(n))
		return nil, false
	}
	var merged, own []Field
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.Add(k, path, "want a key, not %s", describe(k))
			continue
		}
		if k.Tag == "!!merge" {
			merged = append(merged, d.merge(val, path, depth)...)
			continue
		}
		if seen[k.Value] {
			d.Add(k, Join(path, k.Value), "key is repeated")
			continue
		}
		seen[k.Value] = true
		own = append(own, Field{Key: k, Value: val})
	}
	var out []Field
	for _, f := range merged {
		if !seen[f.Key.Value] {
			seen[f.Key.Value] = true
			out = append(out, f)
		}
	}
	return append(out, own...), true
}

func (d *Decoder) merge(n *yaml.Node, path string, depth int) []Field {
	n = Resolve(n)
	// Merged mappings may merge others, each many times: count them
	// against the same bound as the values they hold.
	if d.visited++; d.visited > maxNodes || depth > maxDepth {
		d.tooBig(n, path)
		return nil
	}
	if n.Kind == yaml.SequenceNode {
		var out []Field
		for _, c := range n.Content {
			out = append(out, d.merge(c, path, depth+1)...)
		}
		return out
	}
	fs, _ := d.fields(n, path, depth+1)
	return fs
}

// structure fills a struct from a mapping, by the fields' yaml tags.
func (d *Decoder) structure(n *yaml.Node, path string, v reflect.Value, depth int) {
	fields, ok := d.fields(n, path, depth)
	if !ok {
		return
	}
	keys := Keys(v.Type())
	for _, f := range fields {
		idx, ok := keys[f.Key.Value]
		if !ok {
			at := Join(path, f.Key.Value)
			if h, ok := d.Hints[at]; ok {
				d.Add(f.Key, at, "%s", h)
			} else {
				d.Add(f.Key, at, "%s", Unknown(f.Key.Value, SortedKeys(keys)))
			}
			continue
		}
		d.value(f.Value, Join(path, f.Key.Value), v.FieldByIndex(idx), depth+1)
	}
}

// Keys are the YAML keys of struct type t, with the index of the field
// each fills.
func Keys(t reflect.Type) map[string][]int {
	keys := map[string][]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("yaml")
		if !ok || tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
			for k, idx := range Keys(f.Type) {
				keys[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" {
			continue
		}
		keys[name] = []int{i}
	}
	return keys
}

// SortedKeys are the keys of m in order.
func SortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
