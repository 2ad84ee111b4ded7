package filter

import "testing"

func TestTags(t *testing.T) {
	cases := []struct {
		name, regex, usedns, text string
		groups                    map[string]string
	}{
		{"host v4", `from <HOST> port`, "warn", "from 192.0.2.1 port", map[string]string{"ip4": "192.0.2.1"}},
		{"host mapped v4", `from <HOST> port`, "warn", "from ::ffff:192.0.2.1 port", map[string]string{"ip4": "192.0.2.1"}},
		{"host v6", `from <HOST> port`, "warn", "from 2001:db8::1 port", map[string]string{"ip6": "2001:db8::1"}},
		{"host bracketed v6", `from <ADDR> port`, "warn", "from [2001:db8::1] port", map[string]string{"ip6": "2001:db8::1"}},
		{"host name", `from <HOST> port`, "warn", "from example.com port", map[string]string{"dns": "example.com"}},
		{"no dns", `from <HOST> port`, "no", "from example.com port", nil},
		{"user", `user <F-USER>\S+</F-USER> from <IP4>`, "warn", "user bob from 192.0.2.9", map[string]string{"user": "bob", "ip4": "192.0.2.9"}},
		{"id", `session <F-ID/> done`, "warn", "session abc-1 done", map[string]string{"fid": "abc-1"}},
		{"subnet", `net <SUBNET>$`, "warn", "net 192.0.2.0/24", map[string]string{"ip4": "192.0.2.0", "cidr": "24"}},
		{"unknown tag stays", `<nope> <IP6>`, "warn", "<nope> ::1", map[string]string{"ip6": "::1"}},
		{"unopened close stays", `</F-USER>x <IP4>`, "warn", "</F-USER>x 10.0.0.1", map[string]string{"ip4": "10.0.0.1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Compile(c.regex, c.usedns, true)
			if err != nil {
				t.Fatal(err)
			}
			buf := c.text + "\n"
			m := f.Search(buf, nil)
			if c.groups == nil {
				if m != nil {
					t.Fatalf("%q matched %q", c.regex, c.text)
				}
				return
			}
			if m == nil {
				t.Fatalf("%q does not match %q", c.regex, c.text)
			}
			sl := slotsOf(f)
			gs := groupSetOf(f, &sl)
			g := make([]value, len(sl.names))
			gs.read(buf, m, g)
			for k, want := range c.groups {
				if got := g[sl.slot(k)]; !got.set || got.s != want {
					t.Errorf("%s = %+v, want %q", k, got, want)
				}
			}
		})
	}
}
