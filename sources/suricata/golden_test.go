package suricata

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Paris on hosts without a zone database

	"github.com/stockade-ids/stockade/internal/golden"
	"github.com/stockade-ids/stockade/internal/testcorpus"
	"github.com/stockade-ids/stockade/pipeline"
)

// row is one line of a golden file: what the parser made of one input line.
type row struct {
	N              int    `json:"n"`
	Skip           bool   `json:"skip,omitempty"`
	Bad            string `json:"bad,omitempty"`
	Time           string `json:"time,omitempty"`
	Action         string `json:"action,omitempty"`
	GID            int    `json:"gid,omitempty"`
	SID            int    `json:"sid,omitempty"`
	Rev            int    `json:"rev,omitempty"`
	Signature      string `json:"signature,omitempty"`
	Classification string `json:"classification,omitempty"`
	Priority       int    `json:"priority,omitempty"`
	Proto          string `json:"proto,omitempty"`
	Src            string `json:"src,omitempty"`
	Dst            string `json:"dst,omitempty"`
	Addr           string `json:"addr,omitempty"`
	Side           string `json:"side,omitempty"`
	Spoofable      bool   `json:"spoofable,omitempty"`
	Fingerprint    string `json:"fingerprint,omitempty"`
}

func toRow(n int, ev *pipeline.Event, err error) row {
	r := row{N: n}
	var bad *pipeline.BadLine
	switch {
	case errors.Is(err, pipeline.ErrSkip):
		r.Skip = true
		return r
	case errors.As(err, &bad):
		r.Bad = bad.Reason
		return r
	case err != nil:
		r.Bad = "unexpected error: " + err.Error()
		return r
	}
	r.Time = ev.Time.Format(time.RFC3339Nano)
	r.Action = ev.Action
	r.GID, r.SID, r.Rev = ev.GID, ev.SID, ev.Rev
	r.Signature = ev.Signature
	r.Classification = ev.Classification
	r.Priority = ev.Priority
	r.Proto = ev.Proto
	r.Src = fmt.Sprintf("%s %d", ev.SrcAddr, ev.SrcPort)
	r.Dst = fmt.Sprintf("%s %d", ev.DstAddr, ev.DstPort)
	r.Addr = ev.Addr.String()
	r.Side, r.Spoofable = ev.SideReason, ev.Spoofable
	r.Fingerprint = fmt.Sprintf("%016x", ev.Fingerprint)
	return r
}

// checkEvent holds what every parsed event must satisfy whatever the line.
func checkEvent(t testing.TB, format pipeline.Format, line []byte, ev *pipeline.Event) {
	t.Helper()
	if ev.Format != format || ev.Program != "suricata" {
		t.Errorf("format %v program %q", ev.Format, ev.Program)
	}
	if ev.Line != string(trimCR(line)) {
		t.Errorf("Line %q is not the input", ev.Line)
	}
	if ev.SideReason == "" {
		t.Error("no side reason")
	}
	// Only a home net makes an alert ban nobody.
	if (!ev.Addr.IsValid() && ev.SideReason != SideHomeNetBoth && ev.SideReason != SideHomeAttacker) || !ev.SrcAddr.IsValid() || !ev.DstAddr.IsValid() {
		t.Errorf("invalid address: addr %v src %v dst %v", ev.Addr, ev.SrcAddr, ev.DstAddr)
	}
	if ev.Addr.Is4In6() || ev.Addr.Zone() != "" {
		t.Errorf("address %v not canonical", ev.Addr)
	}
	if ev.SrcPort < 0 || ev.SrcPort > 65535 || ev.DstPort < 0 || ev.DstPort > 65535 {
		t.Errorf("ports %d %d", ev.SrcPort, ev.DstPort)
	}
	if ev.Fingerprint == 0 {
		t.Error("zero fingerprint")
	}
	if ev.Time.IsZero() {
		t.Error("zero time")
	}
}

func readLines(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// checkGolden parses every line of input and compares the rows with
// testdata/golden/name, rewriting it under -update.
func checkGolden(t *testing.T, p pipeline.Parser, format pipeline.Format, input, name string) []pipeline.Event {
	t.Helper()
	var out bytes.Buffer
	var events []pipeline.Event
	for i, line := range readLines(t, input) {
		var ev pipeline.Event
		err := p.Parse(line, &ev)
		if err == nil {
			checkEvent(t, format, line, &ev)
			events = append(events, ev.Clone())
		}
		b, jerr := json.Marshal(toRow(i+1, &ev, err))
		if jerr != nil {
			t.Fatal(jerr)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	golden.Check(t, filepath.Join("testdata", "golden", name), out.Bytes())
	return events
}

func paris(t testing.TB) *time.Location {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// The corpus files are Suricata's own output from real pcaps. fast.log is
// read in UTC there: suricata-verify runs with TZ=UTC.
var corpusFast = []struct{ rel, golden string }{
	{"OISF__suricata-verify/tests/http2-files/expected/fast.log", "verify-http2-files.fast.golden"},
	{"OISF__suricata-verify/tests/http2-files-6/expected/fast.log", "verify-http2-files-6.fast.golden"},
	{"OISF__suricata-verify/tests/lua/lua-fastlog/expected/fast.log", "verify-lua-fastlog.fast.golden"},
}

var corpusEve = []struct{ rel, golden string }{
	{"OISF__suricata-verify/tests/output-eve-fileinfo/expected/eve.json", "verify-output-eve-fileinfo.eve.golden"},
	{"rhaist__surevego/testdata/eve.json", "surevego.eve.golden"},
	{"rhaist__surevego/testdata/eve_broken.json", "surevego-broken.eve.golden"},
}

func TestGoldenCorpusFast(t *testing.T) {
	for _, c := range corpusFast {
		t.Run(c.golden, func(t *testing.T) {
			checkGolden(t, NewFast(time.UTC), pipeline.FormatFastLog, testcorpus.Path(t, c.rel), c.golden)
		})
	}
}

func TestGoldenCorpusEve(t *testing.T) {
	for _, c := range corpusEve {
		t.Run(c.golden, func(t *testing.T) {
			checkGolden(t, NewEve(nil), pipeline.FormatEve, testcorpus.Path(t, c.rel), c.golden)
		})
	}
}

// testdata/fast.log and testdata/eve.json log the same eight alerts, as one
// Suricata in Europe/Paris writes them to both files; eve.json adds the
// non-alert records a real one is mostly made of.
func TestGoldenSample(t *testing.T) {
	fast := checkGolden(t, NewFast(paris(t)), pipeline.FormatFastLog, "testdata/fast.log", "sample.fast.golden")
	eve := checkGolden(t, NewEve(nil), pipeline.FormatEve, "testdata/eve.json", "sample.eve.golden")
	if len(fast) != 8 || len(eve) != len(fast) {
		t.Fatalf("%d fast.log and %d eve.json alerts, want 8 of each", len(fast), len(eve))
	}
	seen := map[uint64]bool{}
	for i := range fast {
		f, e := &fast[i], &eve[i]
		if f.Fingerprint != e.Fingerprint {
			t.Errorf("alert %d (sid %d): fast.log fingerprint %x, eve.json %x", i+1, f.SID, f.Fingerprint, e.Fingerprint)
		}
		if !f.Time.Equal(e.Time) {
			t.Errorf("alert %d: fast.log time %v, eve.json %v", i+1, f.Time, e.Time)
		}
		if f.Signature != e.Signature || f.Classification != e.Classification || f.Priority != e.Priority ||
			f.GID != e.GID || f.SID != e.SID || f.Rev != e.Rev || f.Proto != e.Proto {
			t.Errorf("alert %d differs:\nfast %+v\neve  %+v", i+1, toRow(i, f, nil), toRow(i, e, nil))
		}
		// fast.log marks only drops; eve.json says "allowed" for the rest.
		if want := cmp.Or(f.Action, "allowed"); e.Action != want {
			t.Errorf("alert %d: eve.json action %q, fast.log says %q", i+1, e.Action, want)
		}
		if seen[f.Fingerprint] {
			t.Errorf("alert %d: fingerprint %x not unique", i+1, f.Fingerprint)
		}
		seen[f.Fingerprint] = true
	}
}
