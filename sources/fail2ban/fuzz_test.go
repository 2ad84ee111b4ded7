package fail2ban

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/stockade-ids/stockade/internal/testcorpus"
	"github.com/stockade-ids/stockade/pipeline"
)

var reasons = []*pipeline.BadLine{errNoTime, errTime, errLogger, errLevel, errJail, errAddr}

var verbs = map[string]bool{
	VerbFound: true, VerbBan: true, VerbUnban: true, VerbRestoreBan: true, VerbIncreaseBan: true, VerbAlreadyBanned: true,
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add([]byte(tc.line))
	}
	for _, line := range readLines(f, "testdata/fail2ban.log") {
		f.Add(line)
	}
	if root := testcorpus.Root(); root != "" {
		if b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(recidiveLog))); err == nil {
			for line := range bytes.Lines(b) {
				f.Add(bytes.TrimSuffix(line, []byte("\n")))
			}
		}
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		orig := bytes.Clone(line)
		var ev pipeline.Event
		err := New(time.UTC).Parse(line, &ev)
		if !bytes.Equal(line, orig) {
			t.Fatal("Parse modified its input")
		}
		sniffed := Sniff(line)
		switch {
		case err == pipeline.ErrSkip:
			if !reflect.DeepEqual(ev, pipeline.Event{}) {
				t.Fatalf("a skipped line wrote the event: %+v", ev)
			}
			return
		case err != nil:
			known := false
			for _, r := range reasons {
				known = known || err == error(r)
			}
			if !known {
				t.Fatalf("error %v is not one of the package's reasons", err)
			}
			// Sniff judges the header; the message may still be torn.
			if sniffed && (err == errNoTime || err == errTime || err == errLogger || err == errLevel) {
				t.Fatalf("Sniff accepts a line whose header Parse refuses: %v", err)
			}
			return
		}
		if ev.Format != pipeline.FormatFail2ban || ev.Time.IsZero() || ev.PID < 0 {
			t.Fatalf("format %v time %v pid %d", ev.Format, ev.Time, ev.PID)
		}
		if !ev.Addr.IsValid() || ev.Addr != pipeline.Canonical(ev.Addr) {
			t.Fatalf("addr %v is not a canonical address", ev.Addr)
		}
		if !verbs[ev.Verb] {
			t.Fatalf("verb %q is not one of the fixed set", ev.Verb)
		}
		if ev.Jail == "" || ev.Program == "" || ev.Level == "" {
			t.Fatalf("jail %q program %q level %q", ev.Jail, ev.Program, ev.Level)
		}
		// The jail opens the message: the structure, not later text.
		if want := "[" + ev.Jail + "] "; len(ev.Message) < len(want) || ev.Message[:len(want)] != want {
			t.Fatalf("message %q does not open with jail %q", ev.Message, ev.Jail)
		}
		if want := string(bytes.TrimSuffix(line, []byte("\r"))); ev.Line != want {
			t.Fatalf("Line %q, want %q", ev.Line, want)
		}
		for _, s := range []string{ev.Line, ev.Program, ev.Level, ev.Message, ev.Jail} {
			if !aliases(line, s) {
				t.Fatalf("field %q does not alias the line", s)
			}
		}
	})
}

// aliases reports whether s is empty or lies inside b: the zero-copy
// contract.
func aliases(b []byte, s string) bool {
	if s == "" {
		return true
	}
	if len(b) == 0 {
		return false
	}
	lo := uintptr(unsafe.Pointer(&b[0]))
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	return p >= lo && p+uintptr(len(s)) <= lo+uintptr(len(b))
}
