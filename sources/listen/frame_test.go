package listen

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// frames runs a framer over in and describes what it yields: "m:<msg>" for
// a message, "b:<reason>" for a refused frame.
func frames(t testing.TB, r io.Reader, maxMessage int) []string {
	t.Helper()
	f := newFramer(r, maxMessage)
	var got []string
	for range 10000 {
		msg, bad, err := f.next()
		switch {
		case bad != nil && msg != nil:
			t.Fatalf("both a message %q and a bad reason %q", msg, bad.Reason)
		case bad != nil:
			got = append(got, "b:"+bad.Reason)
		case msg != nil:
			got = append(got, "m:"+string(msg))
		}
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
	}
	t.Fatal("framer did not reach the end of its input")
	return nil
}

func octet(msg string) string { return fmt.Sprintf("%d %s", len(msg), msg) }

func TestFramer(t *testing.T) {
	const a, b = "<13>Nov  8 22:00:01 host app: a", "<13>1 2025-11-08T22:00:01Z host app - - - b"
	big := "<13>" + strings.Repeat("x", 200<<10)
	tests := []struct {
		name string
		in   string
		max  int
		want []string
	}{
		{"newline", a + "\n" + b + "\n", 0, []string{"m:" + a, "m:" + b}},
		{"crlf", a + "\r\n" + b + "\r\n", 0, []string{"m:" + a, "m:" + b}},
		{"no final newline", a + "\n" + b, 0, []string{"m:" + a, "m:" + b}},
		{"octet counting", octet(a) + octet(b), 0, []string{"m:" + a, "m:" + b}},
		{"octet with trailer inside the count", octet(a+"\n") + octet(b+"\r\n"), 0, []string{"m:" + a, "m:" + b}},
		{"octet then newline trailer", octet(a) + "\n" + octet(b) + "\n", 0, []string{"m:" + a, "m:" + b}},
		{"mixed", octet(a) + b + "\n" + octet(a) + a + "\n", 0, []string{"m:" + a, "m:" + b, "m:" + a, "m:" + a}},
		{"octet message holding a newline", octet("<13>x\ny") + a + "\n", 0, []string{"m:<13>x\ny", "m:" + a}},
		{"blank lines and NULs between frames", "\n\r\n" + a + "\x00\n\n \t" + octet(b), 0, []string{"m:" + a, "m:" + b}},
		{"garbage resyncs at the newline", "hello world\n" + a + "\n", 0, []string{"b:bad framing", "m:" + a}},
		{"garbage without newline at the end", a + "\nhello", 0, []string{"m:" + a, "b:bad framing"}},
		{"digits then garbage", "12abc <13> x\n" + a + "\n", 0, []string{"b:bad framing", "m:" + a}},
		{"digits then newline", "42\n" + a + "\n", 0, []string{"b:bad framing", "m:" + a}},
		{"zero length is not a frame", "0 \n" + a + "\n", 0, []string{"b:bad framing", "m:" + a}},
		{"too many length digits", "1234567890 x\n" + a + "\n", 0, []string{"b:bad framing", "m:" + a}},
		{"newline frame too long", big + "\n" + a + "\n", 0, []string{"b:message too long", "m:" + a}},
		{"newline frame too long at the end", big, 0, []string{"b:message too long"}},
		{"octet frame too long", octet(big) + octet(a), 0, []string{"b:message too long", "m:" + a}},
		{"octet frame just fits", octet(a), len(a), []string{"m:" + a}},
		{"octet frame one over", octet(a) + octet(b), len(a) - 1, []string{"b:message too long", "b:message too long"}},
		{"newline frame just fits", a + "\r\n", len(a), []string{"m:" + a}},
		{"newline frame one over", a + "\n" + b + "\n", len(a) - 1, []string{"b:message too long", "b:message too long"}},
		{"long newline frame that fits", big + "\n" + a + "\n", len(big), []string{"m:" + big, "m:" + a}},
		{"truncated octet frame", octet(a) + "99 <13>short", 0, []string{"m:" + a, "b:truncated frame"}},
		{"truncated octet length", a + "\n" + "12", 0, []string{"m:" + a, "b:truncated frame"}},
		{"truncated too-long octet frame", "900000 <13>", 0, []string{"b:truncated frame"}},
		{"empty", "", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.max == 0 {
				tt.max = DefaultMaxMessage
			}
			want := fmt.Sprint(tt.want)
			if got := fmt.Sprint(frames(t, strings.NewReader(tt.in), tt.max)); got != want {
				t.Errorf("whole:\n got %.300s\nwant %.300s", got, want)
			}
			// Frames split across reads at every point give the same result.
			if got := fmt.Sprint(frames(t, iotest.OneByteReader(strings.NewReader(tt.in)), tt.max)); got != want {
				t.Errorf("one byte per read:\n got %.300s\nwant %.300s", got, want)
			}
			if got := fmt.Sprint(frames(t, iotest.HalfReader(strings.NewReader(tt.in)), tt.max)); got != want {
				t.Errorf("half reads:\n got %.300s\nwant %.300s", got, want)
			}
		})
	}
}

func TestFramerMessagesOwnMemory(t *testing.T) {
	var in bytes.Buffer
	for i := range 2000 {
		fmt.Fprintf(&in, "<13>message %d\n", i)
		in.WriteString(octet(fmt.Sprintf("<13>octets %d", i)))
	}
	f := newFramer(&in, DefaultMaxMessage)
	var msgs [][]byte
	for {
		msg, bad, err := f.next()
		if bad != nil {
			t.Fatal(bad)
		}
		if msg != nil {
			msgs = append(msgs, msg)
		}
		if err != nil {
			break
		}
	}
	if len(msgs) != 4000 {
		t.Fatalf("got %d messages, want 4000", len(msgs))
	}
	// Had a buffer been reused, earlier messages would read as later ones.
	for i := range 2000 {
		if got, want := string(msgs[2*i]), fmt.Sprintf("<13>message %d", i); got != want {
			t.Fatalf("message %d = %q, want %q", 2*i, got, want)
		}
		if got, want := string(msgs[2*i+1]), fmt.Sprintf("<13>octets %d", i); got != want {
			t.Fatalf("message %d = %q, want %q", 2*i+1, got, want)
		}
	}
}

func TestTrimTrailer(t *testing.T) {
	for in, want := range map[string]string{
		"":          "",
		"a":         "a",
		"a\n":       "a",
		"a\r\n":     "a",
		"a\x00":     "a",
		"a\r\n\x00": "a",
		"\n":        "",
		"a\nb":      "a\nb",
	} {
		if got := string(trimTrailer([]byte(in))); got != want {
			t.Errorf("trimTrailer(%q) = %q, want %q", in, got, want)
		}
	}
}
