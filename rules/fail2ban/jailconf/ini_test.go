package jailconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree writes files (relative path → content) under a new directory.
func writeTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestParseINI(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want map[string]map[string]string // section → option → raw value
	}{
		{"delimiters and case", "[S]\nName = a\nOther: b\nx=c=d\n", map[string]map[string]string{"S": {"name": "a", "other": "b", "x": "c=d"}}},
		{"continuation", "[S]\nre = ^a\n     ^b\n\t^c\nnext = d\n", map[string]map[string]string{"S": {"re": "^a\n^b\n^c", "next": "d"}}},
		{"blank line inside a value", "[S]\nre = a\n\n  b\n\nnext = c\n", map[string]map[string]string{"S": {"re": "a\n\nb", "next": "c"}}},
		{"comments", "# c\n[S]\n; c\nre = a ; inline\n    # not in the value\n    b;c\nhash = x # kept\n", map[string]map[string]string{"S": {"re": "a\nb;c", "hash": "x # kept"}}},
		{"default section", "[DEFAULT]\na = 1\n[S]\nb = 2\n[DEFAULT]\nc = 3\n", map[string]map[string]string{"DEFAULT": {"a": "1", "c": "3"}, "S": {"b": "2"}}},
		{"empty value", "[S]\nignoreregex =\n", map[string]map[string]string{"S": {"ignoreregex": ""}}},
		{"header with junk after", "[S] trailing\na = 1\n", map[string]map[string]string{"S": {"a": "1"}}},
		{"crlf", "[S]\r\na = 1\r\n  2\r\n", map[string]map[string]string{"S": {"a": "1\n2"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, es := parseINI("t.conf", []byte(c.src))
			if es != nil {
				t.Fatal(es)
			}
			for sec, opts := range c.want {
				s := f.defaults
				if sec != defaultSection {
					s = f.byName[sec]
				}
				if s == nil {
					t.Fatalf("no section %s", sec)
				}
				if len(s.keys) != len(opts) {
					t.Errorf("[%s] has %v, want %v", sec, s.keys, opts)
				}
				for k, want := range opts {
					if got, ok := s.get(k); !ok || got.s != want {
						t.Errorf("[%s] %s = %q (%v), want %q", sec, k, got.s, ok, want)
					}
				}
			}
		})
	}
}

func TestParseINIErrors(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"option before a section", "a = 1\n[S]\n", []string{"t.conf:1:1: an option before any [section]"}},
		{"not an option", "[S]\njust words\n", []string{"t.conf:2:1: not an option"}},
		{"empty name", "[S]\n= 1\n", []string{"t.conf:2:1: not an option"}},
		{"option twice", "[S]\na = 1\nA = 2\n", []string{"t.conf:3:1: option \"a\" is given twice in [S]"}},
		{"section twice", "[S]\na = 1\n[S]\nb = 2\n", []string{"t.conf:3:1: section [S] is given twice"}},
		{"every error", "x\n[S]\ny\n", []string{"t.conf:1:1:", "t.conf:3:1:"}},
		{"not text", "[S]\na = \xff\n", []string{"t.conf:1:1: not UTF-8"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, es := parseINI("t.conf", []byte(c.src))
			if es == nil {
				t.Fatal("accepted")
			}
			msg := es.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("errors %q lack %q", msg, w)
				}
			}
		})
	}
}

func TestInterpolation(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"filter.d/x.conf": `[INCLUDES]
before = base.conf

[DEFAULT]
who = world

[Definition]
greet = hello %(who)s
pct = 100%%
self = [%(__name__)s]
other = %(sec/val)s
dflt = %(default/who)s
nested = <%(greet)s>
value = original
loop = %(loop2)s
loop2 = %(loop)s
bad = 50%
missing = %(nope)s

[sec]
val = from sec
`,
		"filter.d/base.conf": "[DEFAULT]\nwho = base\nbase_only = b\n",
		"filter.d/x.local":   "[Definition]\nvalue = local, was %(known/value)s\n",
	})
	d := Open(dir)
	cfg, err := d.read("filter.d/x")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		opt, want, err string
	}{
		{"greet", "hello world", ""},
		{"pct", "100%", ""},
		{"self", "[Definition]", ""},
		{"other", "from sec", ""},
		{"dflt", "world", ""},
		{"nested", "<hello world>", ""},
		{"base_only", "b", ""},
		{"value", "local, was original", ""},
		{"loop", "", "interpolation too deep"},
		{"bad", "", "'%' must be followed by '%' or '('"},
		{"missing", "", `%(nope)s refers to an option that is not defined`},
	}
	for _, c := range cases {
		t.Run(c.opt, func(t *testing.T) {
			got, err := cfg.get("Definition", c.opt, nil)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %q, %v, want error %q", got, err, c.err)
				}
				if !strings.Contains(err.Error(), "x.conf:") {
					t.Errorf("error %q does not name the file and line", err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v, want %q", got, err, c.want)
			}
		})
	}
	if got, err := cfg.getEx("Definition", "known/value", nil); err != nil || got != "original" {
		t.Errorf("known/value = %q, %v", got, err)
	}
	if got, err := cfg.get("Definition", "greet", map[string]string{"WHO": "you"}); err != nil || got != "hello you" {
		t.Errorf("vars: %q, %v", got, err)
	}
}

func TestSubstituteTags(t *testing.T) {
	in := newOrderedOpts()
	in.set("failregex", "^<prefix><mode-<mode>> <HOST>$")
	in.set("mode", "strict")
	in.set("prefix", "<__date>x")
	lookup := map[string]string{"mode-strict": "STRICT", "__date": "D"}
	out, err := substituteTags(in, nil, func(k string) (string, bool, error) {
		v, ok := lookup[k]
		return v, ok, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := out.get("failregex"); got != "^DxSTRICT <HOST>$" {
		t.Errorf("failregex = %q", got)
	}
	loop := newOrderedOpts()
	loop.set("a", "<b>")
	loop.set("b", "<a>")
	if _, err := substituteTags(loop, nil, nil); err == nil {
		t.Error("a tag loop was resolved")
	}
}

func TestExtractOptions(t *testing.T) {
	cases := []struct {
		spec, name string
		opts       map[string]string
		bad        bool
	}{
		{"sshd", "sshd", map[string]string{}, false},
		{"sshd[mode=aggressive]", "sshd", map[string]string{"mode": "aggressive"}, false},
		{`sshd[mode=extra, publickey="any", x='a,b']`, "sshd", map[string]string{"mode": "extra", "publickey": "any", "x": "a,b"}, false},
		{"sshd[mode=a][logtype=journal]", "sshd", map[string]string{"mode": "a", "logtype": "journal"}, false},
		{"sshd[mode]", "", nil, true},
	}
	for _, c := range cases {
		name, opts, err := extractOptions(c.spec)
		if c.bad {
			if err == nil {
				t.Errorf("%q accepted", c.spec)
			}
			continue
		}
		if err != nil || name != c.name || len(opts) != len(c.opts) {
			t.Errorf("%q: %q %v %v", c.spec, name, opts, err)
			continue
		}
		for k, v := range c.opts {
			if opts[k] != v {
				t.Errorf("%q: %s = %q, want %q", c.spec, k, opts[k], v)
			}
		}
	}
}

func TestStr2Seconds(t *testing.T) {
	cases := []struct {
		in   string
		want string
	}{
		{"600", "10m0s"}, {"10m", "10m0s"}, {"1h 30m", "1h30m0s"}, {"1d12h", "36h0m0s"},
		{"2w", "336h0m0s"}, {"1mo", "720h0m0s"}, {"1y", "8760h0m0s"}, {"-1", "-1s"}, {"5 minutes", "5m0s"},
	}
	for _, c := range cases {
		d, err := str2seconds(c.in)
		if err != nil || d.String() != c.want {
			t.Errorf("str2seconds(%q) = %v, %v, want %s", c.in, d, err, c.want)
		}
	}
	for _, bad := range []string{"", "ten minutes", "1x"} {
		if _, err := str2seconds(bad); err == nil {
			t.Errorf("str2seconds(%q) accepted", bad)
		}
	}
}
