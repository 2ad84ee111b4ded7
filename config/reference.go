package config

import (
	_ "embed"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/stockade-ids/stockade/internal/yamlnode"
	"go.yaml.in/yaml/v3"
)

//go:embed sample/daemon.yaml
var daemonSample string

const referenceHeader = `# stockade run --config FILE: every key, with its default.
#
# This is the reference, not a configuration to copy: it names one source
# and one sink of every kind. Start from stockade.yaml, and take from here
# what you need. It is assembled from each component's own sample (and
# checked against the keys the code knows: it cannot drift).

`

// Reference is the daemon's configuration with every key, each at its
// default with a comment: the top level's sample, then one entry of every
// source and sink kind, from each component's own sample.
func Reference() string {
	var b strings.Builder
	b.WriteString(referenceHeader)
	b.WriteString(daemonSample)
	b.WriteString("\n# Inputs, at least one; each entry sets exactly one of " + KindNames(SourceKinds()) + ".\nsources:\n")
	for _, k := range SourceKinds() {
		b.WriteString(entry(k.Sample))
	}
	b.WriteString("\n# Outputs; each entry sets exactly one of " + KindNames(SinkKinds()) + ".\nsinks:\n")
	for _, k := range SinkKinds() {
		b.WriteString(entry(k.Sample))
	}
	return b.String()
}

// entry is a sample as an item of a list: its comments at the list's
// indent, its first key after "- ".
func entry(sample string) string {
	var b strings.Builder
	body := false
	for _, line := range strings.Split(strings.TrimRight(sample, "\n"), "\n") {
		switch {
		case line == "":
			b.WriteString("\n")
		case !body && strings.HasPrefix(line, "#"):
			b.WriteString("  " + line + "\n")
		case !body:
			body = true
			b.WriteString("  - " + line + "\n")
		default:
			b.WriteString("    " + line + "\n")
		}
	}
	return b.String() + "\n"
}

// KeyPaths are the keys a daemon's file may hold, as paths
// ("sinks[].nats.queue.max"); a map's keys are the writer's own, so a map
// is one key.
func KeyPaths() []string { return keyPaths(reflect.TypeFor[Daemon](), "") }

// EnforcerKeyPaths are KeyPaths for the enforcer's file.
func EnforcerKeyPaths() []string { return keyPaths(reflect.TypeFor[Enforcer](), "") }

func keyPaths(t reflect.Type, prefix string) []string {
	var out []string
	keys := yamlnode.Keys(t)
	for _, k := range yamlnode.SortedKeys(keys) {
		p := yamlnode.Join(prefix, k)
		out = append(out, p)
		out = append(out, fieldPaths(t.FieldByIndex(keys[k]).Type, p)...)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func fieldPaths(t reflect.Type, p string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[Source]():
		return entryPaths(SourceKinds(), p)
	case t == reflect.TypeFor[Sink]():
		return entryPaths(SinkKinds(), p)
	case t.Kind() == reflect.Slice:
		return fieldPaths(t.Elem(), p+"[]")
	case t.Kind() == reflect.Struct && !decodesItself(t):
		return keyPaths(t, p)
	}
	return nil
}

// decodesItself reports whether t reads its own YAML (a duration, a
// path written as a single value).
func decodesItself(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return pt.Implements(reflect.TypeFor[interface {
		UnmarshalYAML(n *yaml.Node) error
	}]()) || t.NumField() == 0 || len(yamlnode.Keys(t)) == 0
}

func entryPaths[E any](kinds []Kind[E], p string) []string {
	var out []string
	for _, k := range kinds {
		var e E
		c := reflect.TypeOf(k.New(&e)).Elem()
		if k.Inline {
			out = append(out, keyPaths(c, p)...)
			continue
		}
		at := yamlnode.Join(p, k.Name)
		out = append(out, at)
		if !decodesItself(c) {
			out = append(out, keyPaths(c, at)...)
		}
	}
	return out
}
