package rules

import (
	"strings"
	"testing"
)

// A constant argument that would fail on every line is refused when the
// pack loads, at the argument: in when: and in key:.
func TestHelperConstantArgsCheckedAtLoad(t *testing.T) {
	cases := []struct {
		name, key, src, want string
	}{
		{"in_cidr", "when", `in_cidr(addr, "not-a-cidr")`, `f.yaml:6:26: when: in_cidr: "not-a-cidr" is not a CIDR`},
		{"prefix", "key", `prefix(addr, 129)`, `f.yaml:6:25: key: prefix: length 129: want 0 to 32 for IPv4, 0 to 128 for IPv6`},
		{"prefix negative", "key", `prefix(addr, -1)`, `f.yaml:6:25: key: prefix: length -1`},
		{"offenses", "when", `offenses(addr, "1 week") > 1`, `f.yaml:6:27: when: offenses: window "1 week"`},
		{"failures", "when", `failures(addr, "sshd", "10x") > 3`, `f.yaml:6:35: when: failures: window "10x"`},
		{"distinct", "when", `distinct("users", addr, "") > 2`, `f.yaml:6:36: when: distinct: window ""`},
		{"distinct in key", "key", `string(distinct("users", addr, "-1h"))`, `f.yaml:6:43: key: distinct: window "-1h"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pad := strings.Repeat(" ", len("when")-len(c.key))
			src := "pack: f\nrules:\n  - name: r\n    formats: [nginx]\n    ban: 1h\n    " + c.key + ": " + pad + "'" + c.src + "'\n"
			_, err := Parse("f.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: got %v, want %q", c.src, err, c.want)
			}
		})
	}
	// Arguments computed from the event are not constants: they stay
	// run-time checks.
	for _, src := range []string{`in_cidr(addr, host)`, `offenses(addr, "10m") > 1`, `prefix(addr, 24) == "10.0.0.0/24"`, `failures(addr, "sshd", "1h") > 1`} {
		if _, err := Parse("f.yaml", []byte("pack: f\nrules:\n  - name: r\n    formats: [nginx]\n    ban: 1h\n    when: '"+src+"'\n")); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}
