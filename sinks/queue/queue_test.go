package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/pipeline"
)

// msgs are ds as JSON messages.
func msgs(t testing.TB, ds []pipeline.Decision) []Message {
	t.Helper()
	ms := make([]Message, len(ds))
	for i := range ds {
		m, err := JSON(&ds[i])
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = m
	}
	return ms
}

func num(t testing.TB, d Message) int {
	t.Helper()
	n, err := strconv.ParseInt(d.ID, 16, 64)
	if err != nil {
		t.Fatalf("decision id %q: %v", d.ID, err)
	}
	return int(n)
}

func nums(t testing.TB, ds []Message) []int {
	t.Helper()
	out := make([]int, len(ds))
	for i, d := range ds {
		out[i] = num(t, d)
	}
	return out
}

func open(t testing.TB, dir string, cfg Config) *Queue {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = testkit.Log(t)
	}
	q, err := Open(dir, "test", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func push(t testing.TB, q *Queue, ds []pipeline.Decision) {
	t.Helper()
	if err := q.Push(context.Background(), msgs(t, ds)); err != nil {
		t.Fatal(err)
	}
}

// all peeks everything without acking.
func all(t testing.TB, q *Queue) []int {
	t.Helper()
	ds, err := q.Peek(1 << 30)
	if err != nil {
		t.Fatal(err)
	}
	return nums(t, ds)
}

func equal(a, b []int) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestFIFOAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(dir, "nats", Config{Log: testkit.Log(t)})
	if err != nil {
		t.Fatal(err)
	}
	push(t, q, testkit.Decisions(0, 3))
	push(t, q, testkit.Decisions(3, 10))
	ds, err := q.Peek(4)
	if err != nil {
		t.Fatal(err)
	}
	if got := nums(t, ds); !equal(got, testkit.Seq(0, 4)) {
		t.Fatalf("peek: %v", got)
	}
	if want := msgs(t, testkit.Decisions(0, 1))[0]; string(ds[0].Data) != string(want.Data) || ds[0].ID != want.ID {
		t.Fatalf("message did not round-trip: %+v", ds[0])
	}
	if err := q.Ack(3); err != nil {
		t.Fatal(err)
	}
	if q.Depth() != 7 {
		t.Fatalf("depth %d, want 7", q.Depth())
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "queue-nats.db")); err != nil {
		t.Fatal(err)
	}

	q, err = Open(dir, "nats", Config{Log: testkit.Log(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if q.Depth() != 7 {
		t.Fatalf("depth after reopen %d, want 7", q.Depth())
	}
	push(t, q, testkit.Decisions(10, 12))
	if got := all(t, q); !equal(got, testkit.Seq(3, 12)) {
		t.Fatalf("after reopen: %v", got)
	}
}

func TestWhenFull(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  FullPolicy
		pushes  [][2]int // [from, to) of each push
		want    []int
		dropped uint64
	}{
		{"drop_oldest keeps the newest", DropOldest, [][2]int{{0, 3}, {3, 7}}, testkit.Seq(2, 7), 2},
		{"drop_oldest, one batch over max", DropOldest, [][2]int{{0, 2}, {2, 10}}, testkit.Seq(5, 10), 5},
		{"drop_newest keeps what waits", DropNewest, [][2]int{{0, 3}, {3, 7}}, testkit.Seq(0, 5), 2},
		{"drop_newest, full", DropNewest, [][2]int{{0, 5}, {5, 6}}, testkit.Seq(0, 5), 1},
		{"default is drop_oldest", "", [][2]int{{0, 4}, {4, 6}}, testkit.Seq(1, 6), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := open(t, t.TempDir(), Config{Max: 5, WhenFull: tc.policy})
			for _, p := range tc.pushes {
				push(t, q, testkit.Decisions(p[0], p[1]))
			}
			if got := all(t, q); !equal(got, tc.want) {
				t.Fatalf("queue holds %v, want %v", got, tc.want)
			}
			if q.Depth() != len(tc.want) || q.Dropped() != tc.dropped {
				t.Fatalf("depth %d dropped %d, want %d and %d", q.Depth(), q.Dropped(), len(tc.want), tc.dropped)
			}
		})
	}
}

func TestBlockWaitsForAck(t *testing.T) {
	q := open(t, t.TempDir(), Config{Max: 2, WhenFull: Block})
	push(t, q, testkit.Decisions(0, 1))

	pushed := make(chan error, 1)
	go func() { pushed <- q.Push(context.Background(), msgs(t, testkit.Decisions(1, 4))) }()
	select {
	case err := <-pushed:
		t.Fatalf("push into a full queue returned at once: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	// Two acks of one each make room for the two that still wait.
	for range 2 {
		deadline := time.Now().Add(5 * time.Second)
		for q.Depth() < 2 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if _, err := q.Peek(1); err != nil {
			t.Fatal(err)
		}
		if err := q.Ack(1); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-pushed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("push still blocked after acks made room")
	}
	if got := all(t, q); !equal(got, testkit.Seq(2, 4)) || q.Dropped() != 0 {
		t.Fatalf("queue holds %v (dropped %d), want [2 3]", got, q.Dropped())
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	if err := q.Push(ctx, msgs(t, testkit.Decisions(4, 5))); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("push into a full queue with an expiring ctx: %v", err)
	}
}

// TestAckAfterEviction: a drop_oldest Push between Peek and Ack evicts some
// of the peeked decisions; the Ack must not then remove newer ones.
func TestAckAfterEviction(t *testing.T) {
	q := open(t, t.TempDir(), Config{Max: 4})
	push(t, q, testkit.Decisions(0, 4))
	ds, err := q.Peek(3)
	if err != nil {
		t.Fatal(err)
	}
	push(t, q, testkit.Decisions(4, 6)) // evicts 0 and 1
	if err := q.Ack(len(ds)); err != nil {
		t.Fatal(err)
	}
	if got := all(t, q); !equal(got, testkit.Seq(3, 6)) {
		t.Fatalf("queue holds %v, want [3 4 5]", got)
	}
	if err := q.Ack(4); err == nil {
		t.Fatal("ack of more than the last peek returned: want an error")
	}
}

func TestOldestAge(t *testing.T) {
	q := open(t, t.TempDir(), Config{})
	if age := q.OldestAge(time.Now()); age != 0 {
		t.Fatalf("empty queue: age %v", age)
	}
	push(t, q, testkit.Decisions(0, 1))
	time.Sleep(20 * time.Millisecond)
	push(t, q, testkit.Decisions(1, 2))
	now := time.Now()
	if age := q.OldestAge(now); age < 20*time.Millisecond || age > 10*time.Second {
		t.Fatalf("age %v, want about 20ms", age)
	}
	q.Peek(1)
	q.Ack(1)
	if age := q.OldestAge(now); age >= 20*time.Millisecond {
		t.Fatalf("after acking the oldest: age %v, want under 20ms", age)
	}
	q.Peek(1)
	q.Ack(1)
	if age := q.OldestAge(now); age != 0 {
		t.Fatalf("drained: age %v", age)
	}
}

func TestUndecodableEntryDropped(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(dir, "test", Config{})
	if err != nil {
		t.Fatal(err)
	}
	push(t, q, testkit.Decisions(0, 2))
	q.Close()
	db, err := bolt.Open(filepath.Join(dir, "queue-test.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketItems).Put(key(0), []byte("garbage!{")) })
	db.Close()

	q = open(t, dir, Config{})
	if got := all(t, q); !equal(got, []int{1}) || q.Dropped() != 1 || q.Depth() != 1 {
		t.Fatalf("queue holds %v, dropped %d, depth %d; want [1], 1, 1", got, q.Dropped(), q.Depth())
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, queue string
		cfg         Config
		want        string
	}{
		{"bad policy", "q", Config{WhenFull: "drop_random"}, "when_full"},
		{"bad max", "q", Config{Max: -1}, "max"},
		{"slash in name", "../q", Config{}, "name"},
		{"empty name", "", Config{}, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(dir, tc.queue, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %q", err, tc.want)
			}
		})
	}
	t.Run("in use", func(t *testing.T) {
		open(t, dir, Config{})
		_, err := Open(dir, "test", Config{})
		if err == nil || !strings.Contains(err.Error(), "in use") {
			t.Fatalf("second open: %v", err)
		}
	})
}

func TestClosed(t *testing.T) {
	q := open(t, t.TempDir(), Config{})
	q.Close()
	if err := q.Push(context.Background(), msgs(t, testkit.Decisions(0, 1))); !errors.Is(err, ErrClosed) {
		t.Fatalf("push after close: %v", err)
	}
	if _, err := q.Peek(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("peek after close: %v", err)
	}
}

// TestSurvivesKill9 kills a child that pushes and acks as fast as it can at
// random moments. Every reopen must find a contiguous run of decisions (no
// gap, no repeat, whole batches), holding everything the child's Push had
// returned for and not acked.
func TestSurvivesKill9(t *testing.T) {
	if os.Getenv("STOCKADE_QUEUE_CHILD") != "" {
		t.Skip("child")
	}
	dir := t.TempDir()
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestQueueWriterChild$")
		cmd.Env = append(os.Environ(), "STOCKADE_QUEUE_CHILD="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(150+round*70) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		q, err := Open(dir, "kill9", Config{})
		if err != nil {
			t.Fatalf("round %d: reopen after kill -9: %v", round, err)
		}
		got := all(t, q)
		depth := q.Depth()
		q.Close()
		pushed, acked := childProgress(t, dir)
		if depth != len(got) {
			t.Fatalf("round %d: depth %d, %d entries", round, depth, len(got))
		}
		if len(got) == 0 {
			if pushed-acked > childBatch {
				t.Fatalf("round %d: empty, but the child pushed up to %d and acked up to %d", round, pushed, acked)
			}
			continue
		}
		first, last := got[0], got[len(got)-1]
		if !equal(got, testkit.Seq(first, last+1)) {
			t.Fatalf("round %d: not contiguous: %v", round, got)
		}
		if (last+1)%childBatch != 0 {
			t.Fatalf("round %d: torn batch: last decision %d", round, last)
		}
		// The log lags the queue by at most the call in flight, so the
		// queue may hold more than the log says, never less.
		if last+1 < pushed || first < acked {
			t.Fatalf("round %d: holds [%d, %d], but the child's pushes returned up to %d and acks up to %d", round, first, last, pushed, acked)
		}
		t.Logf("round %d: %d decisions waiting, [%d, %d]", round, len(got), first, last)
	}
}

const childBatch = 10

// childProgress reads the last complete line of the child's log: how far
// its returned Pushes and Acks had got.
func childProgress(t *testing.T, dir string) (pushed, acked int) {
	b, _ := os.ReadFile(filepath.Join(dir, "progress"))
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 2; i >= 0; i-- { // the last element follows the last newline
		if _, err := fmt.Sscanf(lines[i], "%d %d", &pushed, &acked); err == nil {
			return pushed, acked
		}
	}
	return 0, 0
}

// TestQueueWriterChild is what TestSurvivesKill9 kills; it runs only as that
// child. It pushes batches of childBatch and acks every other batch, logging
// after each call returns.
func TestQueueWriterChild(t *testing.T) {
	dir := os.Getenv("STOCKADE_QUEUE_CHILD")
	if dir == "" {
		t.Skip("runs only as TestSurvivesKill9's child")
	}
	var q *Queue
	var err error
	for range 100 { // the previous child's lock may linger a moment
		if q, err = Open(dir, "kill9", Config{}); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	next, acked := 0, 0
	if got := all(t, q); len(got) > 0 {
		next, acked = got[len(got)-1]+1, got[0]
	} else {
		next, acked = childProgress(t, dir)
	}
	log, err := os.OpenFile(filepath.Join(dir, "progress"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		push(t, q, testkit.Decisions(next, next+childBatch))
		next += childBatch
		fmt.Fprintf(log, "%d %d\n", next, acked)
		if i%2 == 1 {
			ds, err := q.Peek(childBatch)
			if err != nil {
				t.Fatal(err)
			}
			if err := q.Ack(len(ds)); err != nil {
				t.Fatal(err)
			}
			acked += len(ds)
			fmt.Fprintf(log, "%d %d\n", next, acked)
		}
	}
}
