package tail

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// Every wait in these tests is bounded by deadline; the poll is short so
// that they are fast.
const (
	testPoll = 20 * time.Millisecond
	deadline = 5 * time.Second
)

// authLine is a real sshd line as rsyslog writes it; tag and i come back
// out of the parsed message through key, which is how the tests check that
// every line arrives exactly once and in order.
func authLine(tag string, i int) string {
	return fmt.Sprintf("2025-11-08T22:%02d:%02d.000000+00:00 web1 sshd[%d]: Failed password for invalid user %s-%d from 203.0.113.%d port %d ssh2\n",
		i/60%60, i%60, 4000+i, tag, i, i%250+1, 40000+i)
}

func authLines(tag string, from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(authLine(tag, i))
	}
	return b.String()
}

// accessLine is a real nginx combined log line.
func accessLine(i int) string {
	return fmt.Sprintf("198.51.100.%d - - [08/Nov/2025:22:00:%02d +0100] \"POST /wp-login.php?n=%d HTTP/1.1\" 200 4876 \"https://blog.example.org/wp-login.php\" \"Mozilla/5.0 (Windows NT 10.0; Win64; x64)\"\n",
		i%250+1, i%60, i)
}

var keyRE = regexp.MustCompile(`invalid user (\w+)-(\d+) `)

// key returns the tag and number authLine put in ev.
func key(t *testing.T, ev pipeline.Event) (string, int) {
	t.Helper()
	m := keyRE.FindStringSubmatch(ev.Message)
	if m == nil {
		t.Fatalf("event from %s without a key: %q", ev.Source, ev.Line)
	}
	n, _ := strconv.Atoi(m[2])
	return m[1], n
}

// checkLines checks that evs hold the lines [0, want[tag]) of every tag
// exactly once each, in order within a tag (one tag per file).
func checkLines(t *testing.T, evs []pipeline.Event, want map[string]int) {
	t.Helper()
	spans := map[string][2]int{}
	for tag, n := range want {
		spans[tag] = [2]int{0, n}
	}
	checkSpans(t, evs, spans)
}

// checkSpans checks that evs hold the lines [from, to) of every tag exactly
// once each, in order within a tag.
func checkSpans(t *testing.T, evs []pipeline.Event, want map[string][2]int) {
	t.Helper()
	next := map[string]int{}
	for tag, span := range want {
		next[tag] = span[0]
	}
	for _, ev := range evs {
		tag, n := key(t, ev)
		if _, ok := want[tag]; !ok {
			t.Fatalf("unexpected line %s-%d", tag, n)
		}
		if n != next[tag] {
			t.Fatalf("%s-%d where %s-%d was due: lost, repeated or out of order (source %s, offset %d)", tag, n, tag, next[tag], ev.Source, ev.Offset)
		}
		next[tag]++
	}
	for tag, span := range want {
		if next[tag] != span[1] {
			t.Errorf("%s: got lines up to %d, want up to %d", tag, next[tag], span[1])
		}
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func fileFingerprint(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := fingerprint(b)
	return fp
}

// harness runs a Tailer and collects what it sends.
type harness struct {
	t      *testing.T
	tl     *Tailer
	cancel context.CancelFunc
	done   chan error
	wg     sync.WaitGroup

	mu        sync.Mutex
	evs       []pipeline.Event
	positions []pipeline.Event
}

type option func(*Tailer)

func pollOnly(t *Tailer) { t.noWatch = true }

func start(t *testing.T, cfg Config, opts ...option) *harness {
	t.Helper()
	if cfg.Poll == 0 {
		cfg.Poll = testPoll
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	tl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range opts {
		o(tl)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, tl: tl, cancel: cancel, done: make(chan error, 1)}
	out := make(chan pipeline.Event, 8)
	go func() { h.done <- tl.Run(ctx, out) }()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			select {
			case ev := <-out:
				h.mu.Lock()
				if IsPosition(&ev) {
					h.positions = append(h.positions, ev)
				} else {
					h.evs = append(h.evs, ev)
				}
				h.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(h.stop)
	return h
}

// stop cancels Run and waits for it; it may be called more than once.
func (h *harness) stop() {
	h.t.Helper()
	h.cancel()
	select {
	case err, ok := <-h.done:
		if ok && err != nil {
			h.t.Errorf("Run: %v", err)
		}
		if ok {
			close(h.done)
		}
	case <-time.After(deadline):
		h.t.Fatal("Run did not return after cancel")
	}
	h.wg.Wait()
}

func (h *harness) events() []pipeline.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]pipeline.Event(nil), h.evs...)
}

// count is how many events have arrived, without copying them.
func (h *harness) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.evs)
}

// wait waits until at least n events have arrived, then a few polls more so
// that any extra event (a line read twice) shows up too.
func (h *harness) wait(n int) []pipeline.Event {
	h.t.Helper()
	waitFor(h.t, fmt.Sprintf("%d events", n), func() bool { return len(h.events()) >= n })
	time.Sleep(5 * testPoll)
	return h.events()
}

func (h *harness) stats(path string) FileStats {
	for _, s := range h.tl.Stats() {
		if s.Path == path {
			return s
		}
	}
	return FileStats{}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(testPoll / 4)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
