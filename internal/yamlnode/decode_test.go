package yamlnode

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/internal/srcpos"
)

type inner struct {
	Max  int           `yaml:"max"`
	Wait time.Duration `yaml:"wait"`
}

type conf struct {
	Name    string            `yaml:"name"`
	On      *bool             `yaml:"on"`
	Chains  []string          `yaml:"chains"`
	Inner   inner             `yaml:"inner"`
	Ptr     *inner            `yaml:"ptr"`
	Labels  map[string]string `yaml:"labels"`
	Ratio   float64           `yaml:"ratio"`
	Size    uint16            `yaml:"size"`
	Shared  `yaml:",inline"`
	Runtime func() // no tag: not a key
}

type Shared struct {
	URL string `yaml:"url"`
}

func decode(t *testing.T, src string) (conf, string) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	var c conf
	d := &Decoder{File: "f.yaml", Errs: new(srcpos.Errors)}
	d.Decode(&doc, "", &c)
	d.Sort()
	if len(*d.Errs) == 0 {
		return c, ""
	}
	return c, d.Errs.Error()
}

func TestDecode(t *testing.T) {
	c, err := decode(t, "name: x\non: true\nchains: input\ninner: {max: 3, wait: 1w}\nptr: {max: 1}\nlabels: {a: b}\nratio: 1.5\nsize: 9\nurl: nats://x\n")
	if err != "" {
		t.Fatal(err)
	}
	if c.Name != "x" || !*c.On || len(c.Chains) != 1 || c.Chains[0] != "input" || c.Inner.Max != 3 || c.Inner.Wait != 7*24*time.Hour ||
		c.Ptr.Max != 1 || c.Labels["a"] != "b" || c.Ratio != 1.5 || c.Size != 9 || c.URL != "nats://x" {
		t.Errorf("%+v", c)
	}
	c, err = decode(t, "base: &b {max: 2, wait: 1s}\n")
	if !strings.Contains(err, "base: unknown key") {
		t.Errorf("an unknown key: %q", err)
	}
	c, err = decode(t, "inner:\n  <<: {max: 2, wait: 1s}\n  max: 5\n")
	if err != "" || c.Inner.Max != 5 || c.Inner.Wait != time.Second {
		t.Errorf("merge: %+v %q", c.Inner, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"nmae: x\n", "f.yaml:1:1: nmae: unknown key; did you mean name?"},
		{"zzz: x\n", "f.yaml:1:1: zzz: unknown key"},
		{"inner: {mx: 1}\n", "f.yaml:1:9: inner.mx: unknown key; did you mean max?"},
		{"inner: {max: 1}\ninner: {max: 2}\n", "f.yaml:2:1: inner: key is repeated"},
		{"size: -1\n", `f.yaml:1:7: size: want a whole number of at least 0, not "-1"`},
		{"size: 70000\n", "f.yaml:1:7: size: 70000 is out of range"},
		{"ratio: fast\n", `f.yaml:1:8: ratio: want a number, not "fast"`},
		{"on: yes please\n", `f.yaml:1:5: on: want true or false, not "yes please"`},
		{"inner: 3\n", `f.yaml:1:8: inner: want a mapping, not "3"`},
		{"chains: {a: b}\n", "f.yaml:1:9: chains: want a list, not a mapping"},
		{"chains: [a, [b]]\n", "f.yaml:1:13: chains[1]: want a string, not a list"},
		{"inner: {wait: -1s}\n", `f.yaml:1:15: inner.wait: negative duration "-1s"`},
		{"name: {a: b}\ninner: {max: x}\n", "f.yaml:1:7: name: want a string, not a mapping\nf.yaml:2:14: inner.max: want a whole number, not \"x\""},
	} {
		if _, err := decode(t, tc.src); err != tc.want {
			t.Errorf("%q:\n got %q\nwant %q", tc.src, err, tc.want)
		}
	}
}

// TestAliasBomb: aliases that nest without end, or into billions of
// nodes, are refused in bounded time, not walked.
func TestAliasBomb(t *testing.T) {
	src := "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n" +
		"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nlabels: {x: *g}\n"
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Skip("yaml.v3 refuses it already:", err)
	}
	start := time.Now()
	var b struct {
		Labels map[string][][][][][][][]string `yaml:"labels"`
	}
	d := &Decoder{File: "f.yaml", Errs: new(srcpos.Errors)}
	d.Decode(Find(&doc, "labels"), "labels", &b.Labels)
	if len(*d.Errs) == 0 || !strings.Contains(d.Errs.Error(), "too deep or too large") {
		t.Errorf("accepted: %v", d.Errs)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"metrics", "max_windows", "sources", "sinks", "state_dir", "socket", "tz"}
	for in, want := range map[string]string{
		"metrcs": "metrics", "Metrics": "metrics", "sink": "sinks", "sourcse": "sources", "statedir": "state_dir",
		"max_window": "max_windows", "tx": "tz", "banana": "", "x": "", "socketz": "socket",
	} {
		if got := Suggest(in, keys); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFind(t *testing.T) {
	var doc yaml.Node
	yaml.Unmarshal([]byte("a:\n  b: [x, {c: 1}]\n"), &doc)
	for key, line := range map[string]int{"a.b[1].c": 2, "a.b[0]": 2, "a.missing": 2, "": 1, "a.b[9]": 2} {
		if n := Find(&doc, key); n.Line != line {
			t.Errorf("Find(%q) at line %d, want %d", key, n.Line, line)
		}
	}
	if n := Find(&doc, "a.b[1].c"); n.Value != "1" {
		t.Errorf("Find: %q", n.Value)
	}
}
