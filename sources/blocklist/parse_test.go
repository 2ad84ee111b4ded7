package blocklist

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// TestParseFormats: each list format an admin imports gives its entries,
// canonical and sorted; comments, blank lines and Spamhaus's metadata line
// are not entries; what is skipped is counted by reason.
func TestParseFormats(t *testing.T) {
	cases := []struct {
		file    string
		want    []netip.Prefix
		skipped map[string]int
	}{
		{"plain.txt", prefixes("192.0.2.99/32", "198.51.100.0/24", "203.0.113.7/32", "2001:db8:bad::1/128"),
			map[string]int{BadSyntax: 1, Duplicate: 1}},
		{"example.netset", prefixes("192.0.2.128/25", "198.18.0.0/15", "198.51.100.200/32", "203.0.113.0/26"),
			map[string]int{TooWide: 1}},
		{"drop.txt", prefixes("198.51.100.0/24", "203.0.113.128/25", "2001:db8:dead::/48"), map[string]int{}},
		{"drop_v6.json", prefixes("2001:db8:beef::/48", "2001:db8:cafe::/48"), map[string]int{}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			l, err := Parse(f, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(l.Prefixes, c.want) {
				t.Errorf("prefixes %v, want %v", l.Prefixes, c.want)
			}
			for r, n := range c.skipped {
				if l.Skipped[r] != n {
					t.Errorf("skipped %s: %d, want %d (%v)", r, l.Skipped[r], n, l.Skipped)
				}
			}
			if len(l.Skipped) != len(c.skipped) {
				t.Errorf("skipped %v, want %v", l.Skipped, c.skipped)
			}
		})
	}
}

// TestParseBounds: a list past the entry limit keeps the limit and says
// how many went; a line of a megabyte is skipped whole, the lines after it
// read; samples name the line.
func TestParseBounds(t *testing.T) {
	var b strings.Builder
	for i := range 1000 {
		b.WriteString(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String() + "\n")
	}
	l, err := Parse(strings.NewReader(b.String()), Limits{Entries: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Prefixes) != 100 || l.Skipped[OverLimit] != 900 {
		t.Fatalf("kept %d, over %d", len(l.Prefixes), l.Skipped[OverLimit])
	}
	long := bytes.Repeat([]byte("9"), 1<<20)
	in := append(append([]byte("203.0.113.1\n"), long...), "\n203.0.113.2\n"...)
	l, err = Parse(bytes.NewReader(in), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.Prefixes, prefixes("203.0.113.1/32", "203.0.113.2/32")) || l.Skipped[TooLong] != 1 {
		t.Fatalf("long line: %v %v", l.Prefixes, l.Skipped)
	}
	if len(l.Samples) != 1 || !strings.HasPrefix(l.Samples[0], "line 2: ") {
		t.Fatalf("samples %q", l.Samples)
	}
}

// FuzzParse: any input parses without panic into bounded, canonical,
// sorted, unique prefixes no wider than the limits allow.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("::ffff:10.0.0.0/104\nfe80::1%eth0\n{\"cidr\":\"0.0.0.0/0\"}\n1.2.3.4/33\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		l, err := Parse(bytes.NewReader(in), Limits{Entries: 64})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Prefixes) > 64 {
			t.Fatalf("%d entries", len(l.Prefixes))
		}
		for i, p := range l.Prefixes {
			if p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
				t.Fatalf("not canonical: %v", p)
			}
			if min := 8; p.Addr().Is6() && p.Bits() < 19 || p.Addr().Is4() && p.Bits() < min {
				t.Fatalf("too wide: %v", p)
			}
			if i > 0 && l.Prefixes[i-1] == p {
				t.Fatalf("duplicate %v", p)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	var buf bytes.Buffer
	for i := range 20000 {
		buf.WriteString(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String() + "\n")
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(buf.Bytes()), Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
