package suricata

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestLastByte: lastByte finds what bytes.LastIndexByte finds, at every
// length and position around its eight-byte words, with bytes that differ
// from the one sought in one bit, and 0x00, 0x80 and 0xff around it.
func TestLastByte(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte{0, 0x80, 0xff, '{', '{' ^ 1, '{' ^ 0x80, '[', '>', 'a'}
	for n := range 40 {
		for range 500 {
			b := make([]byte, n)
			for i := range b {
				b[i] = alphabet[r.IntN(len(alphabet))]
			}
			for _, c := range []byte{'{', '[', '>', 0, 0x80, 0xff} {
				if got, want := lastByte(b, c), bytes.LastIndexByte(b, c); got != want {
					t.Fatalf("lastByte(%q, %q) = %d, want %d", b, c, got, want)
				}
			}
		}
	}
}

func FuzzLastByte(f *testing.F) {
	f.Add([]byte("[Priority: 2] {TCP} 198.51.100.9:4711 -> 192.0.2.10:22"), byte('{'))
	f.Fuzz(func(t *testing.T, b []byte, c byte) {
		if got, want := lastByte(b, c), bytes.LastIndexByte(b, c); got != want {
			t.Fatalf("lastByte(%q, %q) = %d, want %d", b, c, got, want)
		}
	})
}

// TestFastNum: the one-pass fastNum reads what finding the end byte and
// then atoi read.
func TestFastNum(t *testing.T) {
	scans := func(b []byte, end byte) (int, []byte, bool) {
		i := bytes.IndexByte(b, end)
		if i <= 0 {
			return 0, b, false
		}
		n, ok := atoi(b[:i])
		return n, b[i+1:], ok
	}
	for _, s := range []string{
		"1:2", "2001219:20]", ":1", "", "1", "12", "1x:2", "x1:2", "123456789012:", "1234567890123:",
		"000000000000:", "0000000000000:", "99]", "99] ", "1 :", "-1:", "1:", "12345678901:x",
	} {
		for _, end := range []byte{':', ']'} {
			n, rest, ok := fastNum([]byte(s), end)
			wn, wrest, wok := scans([]byte(s), end)
			if ok != wok || ok && (n != wn || string(rest) != string(wrest)) {
				t.Errorf("fastNum(%q, %q) = %d %q %v, want %d %q %v", s, end, n, rest, ok, wn, wrest, wok)
			}
		}
	}
}

// fractionLoop is fraction without its six-digit path: a digit a turn.
func fractionLoop(b []byte) (nsec, n int) {
	scale := int(1e9)
	for n < len(b) && b[n]-'0' <= 9 {
		if n < 9 {
			scale /= 10
			nsec += int(b[n]-'0') * scale
		}
		n++
	}
	return nsec, n
}

// TestFraction: fraction reads what a digit a turn reads, at every length
// around Suricata's six digits, whatever byte follows them or sits among
// them (the bytes either side of the digits and past ASCII included).
func TestFraction(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	alphabet := []byte("0123456789/:Z+- \x00\xff")
	for n := range 12 {
		for range 2000 {
			b := make([]byte, n)
			for i := range b {
				if r.IntN(4) == 0 {
					b[i] = alphabet[r.IntN(len(alphabet))]
				} else {
					b[i] = '0' + byte(r.IntN(10))
				}
			}
			gn, gl := fraction(b)
			wn, wl := fractionLoop(b)
			if gn != wn || gl != wl {
				t.Fatalf("fraction(%q) = %d %d, want %d %d", b, gn, gl, wn, wl)
			}
		}
	}
}

func FuzzFraction(f *testing.F) {
	f.Add([]byte("123456  [**]"))
	f.Add([]byte("000001+0000"))
	f.Add([]byte("1234567"))
	f.Fuzz(func(t *testing.T, b []byte) {
		gn, gl := fraction(b)
		wn, wl := fractionLoop(b)
		if gn != wn || gl != wl {
			t.Fatalf("fraction(%q) = %d %d, want %d %d", b, gn, gl, wn, wl)
		}
	})
}
