package jsonl_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sinks/jsonl"
	"github.com/stockade-ids/stockade/sources"
)

// hugeDecision is a ban whose evidence an attacker wrote: 20 lines of 4,000
// control bytes, each escaped six times over (\u0001), about 480 KB of
// JSON, the deciding line last.
func hugeDecision() pipeline.Decision {
	ev := make([]string, 20)
	for i := range ev {
		ev[i] = strings.Repeat("\x01", 4000)
	}
	ev[len(ev)-1] = "Failed password for root from 198.51.100.7 port 22 ssh2 " + strings.Repeat("\x01", 100)
	return pipeline.Decision{
		ID: "d1", Action: pipeline.ActionBan, Target: pipeline.MustTarget("198.51.100.7"),
		Rule: "sshd", Reason: "5 failures", At: time.Unix(1e9, 0).UTC(), Duration: 3600,
		Origin: "web1", Evidence: ev,
	}
}

// TestDecisionFileReadsBack: a decisions file is read again by stockade
// (a correlator's file source, `stockade replay decisions.jsonl`), whose
// readers take a line up to sources.MaxLine. A decision larger than that,
// its evidence full of an attacker's escaped bytes, was counted as a bad
// line there: the ban was lost to whoever read the file. The sink writes
// it with the last evidence lines that fit a line, the deciding one last.
func TestDecisionFileReadsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decisions.jsonl")
	s, err := jsonl.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := hugeDecision()
	small := pipeline.Decision{ID: "d2", Action: pipeline.ActionBan, Target: pipeline.MustTarget("203.0.113.9"), Rule: "sshd", At: time.Unix(1e9+1, 0).UTC()}
	if err := s.Write(t.Context(), []pipeline.Decision{d, small}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(d.Evidence) != 20 {
		t.Fatalf("the sink changed the caller's decision: %d evidence lines", len(d.Evidence))
	}

	// Every line is within what a reader takes, its end of line included.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.SplitAfter(string(raw), "\n") {
		if len(l) > sources.MaxLine {
			t.Errorf("line %d is %d bytes, over the %d a reader takes", i+1, len(l), sources.MaxLine)
		}
	}

	f, err := sources.Open(path, sources.Options{Format: pipeline.FormatDecision})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	for {
		var ev pipeline.Event
		err := f.Next(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.Addr.String())
	}
	if len(got) != 2 || got[0] != "198.51.100.7" || got[1] != "203.0.113.9" {
		t.Errorf("read back %v, want both bans; counts %+v", got, f.Counts())
	}

	// What was kept is the end of the evidence, the deciding line last.
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 4<<20)
	if !sc.Scan() {
		t.Fatal("no first line")
	}
	var back pipeline.Decision
	if err := json.Unmarshal(sc.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if n := len(back.Evidence); n == 0 || n == 20 || back.Evidence[n-1] != d.Evidence[19] || back.Evidence[0] != d.Evidence[20-n] {
		t.Errorf("kept %d evidence lines, want the last of the 20 that fit, the deciding one last", n)
	}
	if back.ID != d.ID || back.Target != d.Target || back.Duration != d.Duration || back.Reason != d.Reason {
		t.Errorf("the ban itself changed: %+v", back)
	}
}

// TestDecisionTooLargeWithoutEvidence: a decision over a line's bound even
// with no evidence (a Suricata signature of control bytes, escaped, in its
// reason) cannot be fitted; it is still written, whole, and the batch goes
// on: the file is the record of what was decided, and a reader counts the
// line as too long, as it did before lines were fitted. Refused, it failed
// the write and every decision after it in the batch.
func TestDecisionTooLargeWithoutEvidence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decisions.jsonl")
	s, err := jsonl.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	big := hugeDecision()
	big.Reason = "suricata: " + strings.Repeat("\x01", 20000)
	small := pipeline.Decision{ID: "d2", Action: pipeline.ActionBan, Target: pipeline.MustTarget("203.0.113.9"), Rule: "sshd", At: time.Unix(1e9+1, 0).UTC()}
	if err := s.Write(t.Context(), []pipeline.Decision{big, small}); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines written, want both decisions", len(lines))
	}
	var back pipeline.Decision
	if err := json.Unmarshal([]byte(lines[0]), &back); err != nil {
		t.Fatal(err)
	}
	if back.Reason != big.Reason || len(back.Evidence) != len(big.Evidence) {
		t.Errorf("the decision that cannot fit was not written whole: reason %d bytes, %d evidence lines", len(back.Reason), len(back.Evidence))
	}
}
