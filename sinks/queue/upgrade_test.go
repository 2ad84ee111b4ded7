package queue

import (
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/pipeline"
)

// writeV1 writes a queue file as a stockade of format 1 left it: each
// entry the enqueue time and the decision's JSON; one entry unreadable.
func writeV1(t *testing.T, dir string, n int) time.Time {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "queue-test.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	enq := time.Now().Add(-time.Hour)
	err = db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		meta.Put(keyVersion, []byte("1"))
		b, _ := tx.CreateBucket(bucketItems)
		for i, d := range testkit.Decisions(0, n) {
			j, _ := json.Marshal(&d)
			v := binary.BigEndian.AppendUint64(nil, uint64(enq.UnixNano()))
			b.Put(key(uint64(i)), append(v, j...))
		}
		return b.Put(key(uint64(n)), []byte("12345678{not json"))
	})
	if err != nil {
		t.Fatal(err)
	}
	return enq
}

// TestOldFormat: a backlog an older stockade queued is converted by the
// sink's encoder when the queue opens, keeping order and enqueue times;
// without an encoder the queue is refused with a message saying what to
// do; a format from the future is refused.
func TestOldFormat(t *testing.T) {
	t.Run("converted", func(t *testing.T) {
		dir := t.TempDir()
		enq := writeV1(t, dir, 5)
		signed := EncodeFunc(func(d *pipeline.Decision) (Message, error) {
			m, err := JSON(d)
			m.Key, m.Signer, m.Sig = "subject."+d.Rule, "key", "sig-"+d.ID
			return m, err
		})
		q := open(t, dir, Config{Upgrade: signed})
		if got := all(t, q); !equal(got, testkit.Seq(0, 5)) || q.Depth() != 5 || q.Dropped() != 1 {
			t.Fatalf("converted queue holds %v (depth %d, dropped %d), want 0..4, 5, 1", got, q.Depth(), q.Dropped())
		}
		ms, _ := q.Peek(1)
		want, _ := signed(&testkit.Decisions(0, 1)[0])
		if ms[0].Key != want.Key || ms[0].Sig != want.Sig || string(ms[0].Data) != string(want.Data) {
			t.Fatalf("converted message %+v, want %+v", ms[0], want)
		}
		if age := q.OldestAge(time.Now()); age < time.Hour-time.Minute || age > time.Hour+time.Minute {
			t.Fatalf("oldest waited %v since %v, want about an hour: the enqueue time was lost", age, enq)
		}
		q.Close()
		q = open(t, dir, Config{}) // now format 2: no encoder needed
		if q.Depth() != 5 {
			t.Fatalf("reopened: depth %d", q.Depth())
		}
	})
	t.Run("refused without an encoder", func(t *testing.T) {
		dir := t.TempDir()
		writeV1(t, dir, 1)
		_, err := Open(dir, "test", Config{})
		if err == nil || !strings.Contains(err.Error(), "older stockade (format 1)") || !strings.Contains(err.Error(), "queue-test.db") {
			t.Fatalf("err %v, want a refusal naming the file and the format", err)
		}
	})
	t.Run("newer format refused", func(t *testing.T) {
		dir := t.TempDir()
		db, _ := bolt.Open(filepath.Join(dir, "queue-test.db"), 0o600, nil)
		db.Update(func(tx *bolt.Tx) error {
			meta, _ := tx.CreateBucket(bucketMeta)
			return meta.Put(keyVersion, []byte("9"))
		})
		db.Close()
		if _, err := Open(dir, "test", Config{}); err == nil || !strings.Contains(err.Error(), "newer stockade") {
			t.Fatalf("err %v", err)
		}
	})
}
