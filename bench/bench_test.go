package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHarness runs the whole harness on small corpora, so that a change
// that breaks it (a flag renamed, a metric gone, output no longer
// parsed) fails here rather than on the day someone wants the numbers.
// The figures are not judged: they mean nothing at this size on a busy
// machine. What is judged is that every measurement ran and that the
// parallel replay wrote the same decisions as the serial one.
// TestMain lets the test binary be the bare UDP receiver the harness
// measures the kernel's share with (see measureFloor).
func TestMain(m *testing.M) {
	if os.Getenv(floorEnv) != "" {
		udpFloor()
		return
	}
	os.Exit(m.Run())
}

func TestHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("builds stockade and runs it a dozen times")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "stockade")
	build := exec.Command("go", "build", "-o", bin, "github.com/stockade-ids/stockade/cmd/stockade")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "results")
	c := config{lines: 5000, runs: 1, out: out, bin: bin, data: filepath.Join(dir, "data"), seed: 7,
		f2b: false, floodAddr: 50000, stateAddr: 3000, stateSave: 2 * time.Second, live: time.Second, liveAttacks: true, liveRate: 5000, liveSenders: 2, workers: 2, f2bConfig: f2bConfig(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := run(ctx, c); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r Results
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	checkFormats(t, r.Formats, c.f2bConfig != "")
	// At this size fast.log, where every line is an alert, reaches its
	// thresholds; sshd's 20,000 attackers need far more lines to fail
	// five times each.
	if d := r.Formats[3].Decisions; d == 0 {
		t.Errorf("%s: no decisions: the corpus or the packs lost their attacks", r.Formats[3].Log)
	}
	if p := r.Parallel; p == nil || !p.SameDecisions || p.One.Decisions == 0 {
		t.Errorf("parallel replay: %+v, want the same decisions as one core", p)
	}
	// 50,000 addresses: at 5,000 the flood's memory (about 1 MB) was within
	// the noise of the runtime's own RSS, and once measured below the base.
	if f := r.Flood; f == nil || f.BytesPerAddr <= 0 {
		t.Errorf("flood: %+v", f)
	}
	checkStateAndFloor(t, &r)
	if len(r.Live) != 2 {
		t.Fatalf("live: %d runs, want two", len(r.Live))
	}
	for _, l := range r.Live {
		if l.Sent == 0 || l.Received == 0 {
			t.Errorf("live: %+v: nothing sent or nothing counted", l)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil || !strings.Contains(string(md), "| auth.log |") {
		t.Errorf("results.md: %v\n%s", err, md)
	}
}

// checkStateAndFloor: every window of the state's flood is held, saved
// within the 2 s before the kill, and restored; the floor was measured.
func checkStateAndFloor(t *testing.T, r *Results) {
	t.Helper()
	if st := r.State; st == nil || st.Windows != 3000 || st.Saved != 3000 || st.BytesPerWin <= 0 || st.StartListen <= 0 {
		t.Errorf("state: %+v", st)
	}
	if f := r.Floor; f == nil || f.Received == 0 || f.PerCPUSec <= 0 {
		t.Errorf("udp floor: %+v", f)
	}
}

// f2bConfig is the fail2ban configuration the harness test replays the
// dialect with: the corpus's copy of fail2ban's own, else the system's,
// else none (the dialect's row is then skipped).
func f2bConfig(t *testing.T) string {
	corpus := os.Getenv("STOCKADE_CORPUS")
	if corpus == "" {
		corpus = filepath.Join("..", "..", "shared", "corpus")
	}
	for _, d := range []string{filepath.Join(corpus, "fail2ban__fail2ban", "config"), "/etc/fail2ban"} {
		if _, err := os.Stat(filepath.Join(d, "jail.conf")); err == nil {
			return d
		}
	}
	t.Log("no fail2ban configuration (corpus or /etc/fail2ban): the dialect's row is not measured")
	return ""
}

// checkFormats: every log was measured alone on one core and on two, with
// the same decisions, and the dialect's row is there when it can be.
func checkFormats(t *testing.T, fs []FormatResult, dialect bool) {
	t.Helper()
	want := 4
	if dialect {
		want++
	}
	if len(fs) != want {
		t.Fatalf("%d formats measured, want %d", len(fs), want)
	}
	for _, f := range fs {
		if f.LinesPerSec <= 0 {
			t.Errorf("%s: no rate measured: %+v", f.Log, f)
		}
		if f.MinorFaults <= 0 {
			t.Errorf("%s: no page fault counted: a process that ran faulted at least once: %+v", f.Log, f)
		}
		if f.Dialect == "" && (f.Many == nil || !f.SameDecisions || f.Many.LinesPerSec <= 0) {
			t.Errorf("%s on two cores: %+v, want a rate and the same decisions as one core", f.Log, f.Many)
		}
	}
	if dialect && fs[want-1].Dialect == "" {
		t.Errorf("the last row is not the dialect's: %+v", fs[want-1])
	}
}
