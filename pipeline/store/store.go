// Package store persists the engine's state in bbolt: active bans, offense
// history, sliding windows and the sources' checkpoints, one transaction per
// save so they always agree. bbolt commits are atomic and fsynced, so the
// store survives kill -9 at any moment: it holds the last committed save.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/stockade-ids/stockade/pipeline"
)

var (
	bucketWindows = []byte("windows")
	bucketTargets = []byte("targets")
	bucketOffsets = []byte("offsets")
	bucketMeta    = []byte("meta")
	bucketKept    = []byte("kept")
	keyClock      = []byte("clock")
	keyVersion    = []byte("version")
)

const version = "1"

// Store is the daemon's state database (state.db in the state directory).
type Store struct {
	db   *bolt.DB
	path string
}

// Open opens or creates dir/state.db (mode 0600). Only one process may hold
// it: a second stockade on the same directory fails at once, clearly.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "state.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%s is in use by another stockade", path)
		}
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketWindows, bucketTargets, bucketOffsets, bucketMeta, bucketKept} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyVersion); v != nil && string(v) != version {
			return fmt.Errorf("state format %q, this stockade reads %q", v, version)
		}
		return meta.Put(keyVersion, []byte(version))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// State is everything a restart needs.
type State struct {
	Windows []pipeline.WindowState
	Targets []pipeline.TargetState
	Offsets map[string]json.RawMessage // source id → the source's own checkpoint
	Clock   time.Time                  // the engine's event clock at the save
}

// Load reads the last committed state. An entry that does not decode (a
// bug, or a hand-edited file) is skipped, not fatal: losing one window is
// better than refusing to start a firewall.
func (s *Store) Load() (State, int, error) {
	var st State
	bad := 0
	st.Offsets = map[string]json.RawMessage{}
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyClock); v != nil {
			if err := st.Clock.UnmarshalText(v); err != nil {
				bad++
			}
		}
		tx.Bucket(bucketWindows).ForEach(func(k, v []byte) error {
			var w pipeline.WindowState
			if err := json.Unmarshal(v, &w); err != nil {
				bad++
				return nil
			}
			st.Windows = append(st.Windows, w)
			return nil
		})
		tx.Bucket(bucketTargets).ForEach(func(k, v []byte) error {
			var t pipeline.TargetState
			if err := json.Unmarshal(v, &t); err != nil {
				bad++
				return nil
			}
			st.Targets = append(st.Targets, t)
			return nil
		})
		return tx.Bucket(bucketOffsets).ForEach(func(k, v []byte) error {
			st.Offsets[string(k)] = append(json.RawMessage(nil), v...)
			return nil
		})
	})
	return st, bad, err
}

// Save commits the engine's changes, the sources' checkpoints and the clock
// in one transaction. A non-nil offsets replaces the stored set entirely
// (checkpoints of files long rotated away must not pile up).
func (s *Store) Save(ch pipeline.Changes, offsets map[string]json.RawMessage, clock time.Time) error {
	return s.SaveWith(ch, offsets, clock, nil)
}

// SaveWith is Save with changes to records a component keeps beside the
// ledger (the enforcer's memory of the decisions it applied, its deferred
// bans), in the same transaction so that they always agree with the
// ledger: key → value, a nil value deletes the key.
func (s *Store) SaveWith(ch pipeline.Changes, offsets map[string]json.RawMessage, clock time.Time, kept map[string][]byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		kb := tx.Bucket(bucketKept)
		for k, v := range kept {
			var err error
			if v == nil {
				err = kb.Delete([]byte(k))
			} else {
				err = kb.Put([]byte(k), v)
			}
			if err != nil {
				return err
			}
		}
		wb := tx.Bucket(bucketWindows)
		for _, id := range ch.GoneWindows {
			if err := wb.Delete([]byte(id)); err != nil {
				return err
			}
		}
		for _, w := range ch.Windows {
			v, err := json.Marshal(w)
			if err != nil {
				return err
			}
			if err := wb.Put([]byte(w.ID()), v); err != nil {
				return err
			}
		}
		tb := tx.Bucket(bucketTargets)
		for _, t := range ch.Targets {
			if len(t.Records) == 0 && t.Offenses == 0 && len(t.History) == 0 {
				if err := tb.Delete([]byte(t.Target.String())); err != nil {
					return err
				}
				continue
			}
			v, err := json.Marshal(t)
			if err != nil {
				return err
			}
			if err := tb.Put([]byte(t.Target.String()), v); err != nil {
				return err
			}
		}
		if offsets != nil {
			if err := tx.DeleteBucket(bucketOffsets); err != nil {
				return err
			}
			ob, err := tx.CreateBucket(bucketOffsets)
			if err != nil {
				return err
			}
			for k, v := range offsets {
				if err := ob.Put([]byte(k), v); err != nil {
					return err
				}
			}
		}
		c, err := clock.MarshalText()
		if err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyClock, c)
	})
}

// Kept returns the records SaveWith kept.
func (s *Store) Kept() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKept).ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	return out, err
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }
