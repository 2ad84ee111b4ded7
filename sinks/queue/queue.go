// Package queue keeps the decisions a remote sink (NATS, Kafka) has not
// confirmed yet in a bounded FIFO on disk, so that an outage of the remote,
// or a restart of stockade during one, loses nothing up to the bound, and
// the backlog is delivered in order once the remote is back.
//
// Each queue is its own bbolt file, queue-<name>.db in the state directory,
// rather than a bucket in state.db: bbolt has one writer per file, so the
// queue's fsyncs never wait behind the engine's saves (nor the reverse); a
// bbolt file never shrinks, so a backlog of 100,000 decisions after an
// outage does not bloat the state for good; and a backlog nobody wants can
// be thrown away by deleting one file without touching the bans.
package queue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	bucketItems = []byte("decisions")
	bucketMeta  = []byte("meta")
	keyVersion  = []byte("version")
)

// version is the entries' format: "2" holds each decision's final message
// (see Message); "1", an older stockade's, held the decision's JSON alone.
const version = "2"

// ErrClosed is returned by a closed queue.
var ErrClosed = errors.New("queue: closed")

// Queue is a durable FIFO of decisions, each as the Message the remote
// receives. Push may be called from one goroutine while another Peeks and
// Acks (one producer, one consumer).
//
// Each entry is keyed by a big-endian sequence number, so bbolt's key order
// is the arrival order; its value is the enqueue time (8 bytes, Unix ns)
// followed by the message (see appendEntry).
type Queue struct {
	db   *bolt.DB
	path string
	name string
	cfg  Config
	log  *slog.Logger

	mu     sync.Mutex
	closed bool
	next   uint64   // key of the next Push
	peeked []uint64 // keys of the last Peek's decisions, in order
	room   chan struct{}
	// lastDropLog rate-limits the drop warning.
	lastDropLog time.Time
	dropsLogged uint64

	depth   atomic.Int64
	oldest  atomic.Int64 // enqueue time of the head, Unix ns; 0 when empty
	dropped atomic.Uint64
}

// Open opens or creates dir/queue-<name>.db (mode 0600). name is the
// sink's, e.g. "nats" or "kafka-audit": letters, digits, '.', '_' and '-'.
// Only one process may hold a queue.
func Open(dir, name string, cfg Config) (*Queue, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "queue-"+name+".db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("queue %s is in use by another stockade", path)
		}
		return nil, fmt.Errorf("open queue %s: %w", path, err)
	}
	q := &Queue{db: db, path: path, name: name, cfg: cfg, log: cfg.Log, room: make(chan struct{})}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketItems)
		if err != nil {
			return err
		}
		if err := q.upgrade(meta, b); err != nil {
			return err
		}
		n := 0
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		if k, _ := c.Last(); k != nil {
			q.next = binary.BigEndian.Uint64(k) + 1
		}
		q.depth.Store(int64(n))
		q.loadOldest(b)
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("queue %s: %w", path, err)
	}
	return q, nil
}

// upgrade brings an older stockade's entries to this format, with
// cfg.Upgrade, in the transaction that opens the queue: all or none.
func (q *Queue) upgrade(meta, b *bolt.Bucket) error {
	v := meta.Get(keyVersion)
	switch {
	case v == nil || string(v) == version:
	case string(v) == "1" && q.cfg.Upgrade != nil:
		n, bad, err := upgradeAll(b, q.cfg.Upgrade)
		if err != nil {
			return err
		}
		q.dropped.Add(uint64(bad))
		q.log.Info("queue written by an older stockade: its decisions were converted to this one's format", "queue", q.name, "converted", n, "unreadable_dropped", bad)
	case string(v) == "1":
		return errors.New("written by an older stockade (format 1): open it through its sink, which converts it, or delete the file to drop its backlog")
	default:
		return fmt.Errorf("queue format %q, this stockade reads %q (and converts \"1\"): it was written by a newer stockade", v, version)
	}
	return meta.Put(keyVersion, []byte(version))
}

// upgradeAll rewrites every format 1 entry of b through enc; entries that
// do not decode are deleted and counted, as Peek would.
func upgradeAll(b *bolt.Bucket, enc Encoder) (n, bad int, err error) {
	type kv struct{ k, v []byte }
	var out []kv
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		nv, err := upgradeEntry(v, enc)
		if err != nil {
			nv = nil
			bad++
		}
		out = append(out, kv{append([]byte(nil), k...), nv})
	}
	for _, e := range out {
		if e.v == nil {
			err = b.Delete(e.k)
		} else {
			err = b.Put(e.k, e.v)
			n++
		}
		if err != nil {
			return 0, 0, err
		}
	}
	return n, bad, nil
}

func checkName(name string) error {
	if name == "" || name[0] == '.' {
		return fmt.Errorf("queue: name %q: want letters, digits, '.', '_' or '-', not starting with '.'", name)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("queue: name %q: want letters, digits, '.', '_' or '-', not %q", name, r)
		}
	}
	return nil
}

// Path is the queue's file.
func (q *Queue) Path() string { return q.path }

// Name is the queue's name.
func (q *Queue) Name() string { return q.name }

// Depth is how many decisions wait.
func (q *Queue) Depth() int { return int(q.depth.Load()) }

// OldestAge is how long the oldest waiting decision has waited at now (0
// when none waits): the delay a consumer of the remote is behind.
func (q *Queue) OldestAge(now time.Time) time.Duration {
	t := q.oldest.Load()
	if t == 0 {
		return 0
	}
	if d := now.Sub(time.Unix(0, t)); d > 0 {
		return d
	}
	return 0
}

// Dropped counts the decisions dropped since Open because the queue was
// full (or because their entry did not decode).
func (q *Queue) Dropped() uint64 { return q.dropped.Load() }

func key(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// loadOldest reads the head's enqueue time; b is the items bucket of a
// transaction that sees the queue as it now is.
func (q *Queue) loadOldest(b *bolt.Bucket) {
	_, v := b.Cursor().First()
	if len(v) < 8 {
		q.oldest.Store(0)
		return
	}
	t := int64(binary.BigEndian.Uint64(v))
	if t == 0 {
		t = 1 // 0 means empty
	}
	q.oldest.Store(t)
}

// Push appends ms and returns once they are on disk (one fsynced bbolt
// commit per call). When the queue is full it drops or waits as
// Config.WhenFull says; only Block looks at ctx.
func (q *Queue) Push(ctx context.Context, ms []Message) error {
	if len(ms) == 0 {
		return nil
	}
	now := time.Now()
	size := 0
	for i := range ms {
		size += entrySize(&ms[i])
	}
	// One allocation for the batch's entries, which bbolt needs until the
	// commit.
	buf := make([]byte, 0, size)
	vals := make([][]byte, len(ms))
	for i := range ms {
		start := len(buf)
		buf = appendEntry(buf, &ms[i], now)
		vals[i] = buf[start:len(buf):len(buf)]
	}
	for len(vals) > 0 {
		n, room, err := q.push(vals)
		if err != nil {
			return err
		}
		vals = vals[n:]
		if n > 0 {
			continue
		}
		// Only Block admits nothing: wait for an Ack to make room.
		select {
		case <-room:
		case <-ctx.Done():
			return fmt.Errorf("queue %s full, %d decisions not queued: %w", q.name, len(vals), ctx.Err())
		}
	}
	return nil
}

// push commits what the policy admits of vals and returns how many of vals
// it consumed (admitted or dropped). When Block admits nothing it returns
// the channel that is closed when room frees up.
func (q *Queue) push(vals [][]byte) (int, <-chan struct{}, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, nil, ErrClosed
	}
	depth := int(q.depth.Load())
	free := max(q.cfg.Max-depth, 0)
	consumed := len(vals)
	var dropNew, evict int
	switch q.cfg.WhenFull {
	case Block:
		if free == 0 {
			return 0, q.room, nil
		}
		if len(vals) > free {
			vals = vals[:free]
			consumed = free
		}
	case DropNewest:
		if len(vals) > free {
			dropNew = len(vals) - free
			vals = vals[:free]
		}
	default: // DropOldest
		if len(vals) > q.cfg.Max {
			dropNew = len(vals) - q.cfg.Max // the oldest of this batch
			vals = vals[dropNew:]
		}
		evict = max(depth+len(vals)-q.cfg.Max, 0)
	}
	evicted := 0
	err := q.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketItems)
		if evict > 0 {
			keys := make([][]byte, 0, evict)
			c := b.Cursor()
			for k, _ := c.First(); k != nil && len(keys) < evict; k, _ = c.Next() {
				keys = append(keys, k)
			}
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			evicted = len(keys)
		}
		for i, v := range vals {
			if err := b.Put(key(q.next+uint64(i)), v); err != nil {
				return err
			}
		}
		if evicted > 0 || depth == 0 {
			q.loadOldest(b)
		}
		return nil
	})
	if err != nil {
		q.loadOldestView()
		return 0, nil, fmt.Errorf("queue %s: %w", q.name, err)
	}
	q.next += uint64(len(vals))
	q.depth.Add(int64(len(vals) - evicted))
	if lost := dropNew + evicted; lost > 0 {
		q.dropped.Add(uint64(lost))
		q.logDrops()
	}
	return consumed, nil, nil
}

// loadOldestView resyncs the cached head time after a failed commit (the
// callbacks of a rolled-back transaction may have cached a head that is
// not on disk).
func (q *Queue) loadOldestView() {
	q.db.View(func(tx *bolt.Tx) error {
		q.loadOldest(tx.Bucket(bucketItems))
		return nil
	})
}

// logDrops warns at most once a minute, with the count since the last
// warning. q.mu is held.
func (q *Queue) logDrops() {
	now := time.Now()
	if now.Sub(q.lastDropLog) < time.Minute {
		return
	}
	total := q.dropped.Load()
	q.log.Warn("queue full: decisions dropped", "queue", q.name, "policy", string(q.cfg.WhenFull),
		"max", q.cfg.Max, "dropped", total-q.dropsLogged, "dropped_total", total)
	q.lastDropLog, q.dropsLogged = now, total
}

// Peek returns up to n messages from the head, oldest first, without
// removing them. Entries that no longer decode (a bug, or a file edited by
// hand) are dropped and counted rather than blocking the queue forever.
func (q *Queue) Peek(n int) ([]Message, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, ErrClosed
	}
	q.peeked = q.peeked[:0]
	if n <= 0 {
		return nil, nil
	}
	var ds []Message
	var bad [][]byte
	err := q.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketItems).Cursor()
		for k, v := c.First(); k != nil && len(ds) < n; k, v = c.Next() {
			d, err := readEntry(v)
			if err != nil {
				bad = append(bad, append([]byte(nil), k...))
				continue
			}
			ds = append(ds, d)
			q.peeked = append(q.peeked, binary.BigEndian.Uint64(k))
		}
		return nil
	})
	if err != nil {
		q.peeked = q.peeked[:0]
		return nil, fmt.Errorf("queue %s: %w", q.name, err)
	}
	if len(bad) > 0 {
		if err := q.deleteKeys(bad); err != nil {
			return nil, err
		}
		q.dropped.Add(uint64(len(bad)))
		q.log.Error("queue entries that did not decode were dropped", "queue", q.name, "count", len(bad))
	}
	return ds, nil
}

func (q *Queue) deleteKeys(keys [][]byte) error {
	n := 0
	err := q.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketItems)
		for _, k := range keys {
			if b.Get(k) != nil {
				n++
			}
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		q.loadOldest(b)
		return nil
	})
	if err != nil {
		q.loadOldestView()
		return fmt.Errorf("queue %s: %w", q.name, err)
	}
	q.depth.Add(-int64(n))
	q.signalRoom()
	return nil
}

// Ack removes the first n decisions of the last Peek: the remote confirmed
// them. Whatever a drop_oldest Push evicted meanwhile is already gone, and
// nothing pushed since the Peek is touched.
func (q *Queue) Ack(n int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if n <= 0 {
		return nil
	}
	if n > len(q.peeked) {
		return fmt.Errorf("queue %s: ack of %d decisions, the last peek returned %d", q.name, n, len(q.peeked))
	}
	last := q.peeked[n-1]
	removed := 0
	err := q.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketItems)
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= last; k, _ = c.Next() {
			keys = append(keys, k)
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		removed = len(keys)
		q.loadOldest(b)
		return nil
	})
	if err != nil {
		q.loadOldestView()
		return fmt.Errorf("queue %s: %w", q.name, err)
	}
	q.peeked = append(q.peeked[:0], q.peeked[n:]...)
	q.depth.Add(-int64(removed))
	q.signalRoom()
	return nil
}

// signalRoom wakes Pushes blocked on a full queue. q.mu is held.
func (q *Queue) signalRoom() {
	close(q.room)
	q.room = make(chan struct{})
}

// Close closes the file; decisions not acked wait in it for the next Open.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	q.signalRoom()
	return q.db.Close()
}
