package store

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stockade-ids/stockade/pipeline"
)

// legacyName is the state of stockade before the snapshot and log: a
// bbolt database with a bucket of JSON windows, each quoting its lines,
// about 600 bytes a window.
const legacyName = "state.db"

// upgrade converts a state.db in place: its windows, targets, checkpoints,
// kept records and clock become the first snapshot (windows keep quoting
// their lines until they next change), and state.db is renamed
// state.db.old, not removed: an older stockade can still be started on a
// copy of it, and nothing reads it again.
func (s *Store) upgrade() error {
	old, err := readLegacy(s.path(legacyName))
	if err != nil {
		return fmt.Errorf("upgrade %s: %w", legacyName, err)
	}
	sn := NewSnapshot()
	for i := range old.Windows {
		sn.Window(&old.Windows[i])
	}
	targets, err := encodeTargets(old.Targets)
	if err != nil {
		return err
	}
	s.remember(targets, old.Offsets, old.Clock, old.Kept)
	sn.flush(0)
	if err := s.writeSnapshot(sn); err != nil {
		return fmt.Errorf("upgrade %s: %w", legacyName, err)
	}
	if err := os.Rename(s.path(legacyName), s.path(legacyName+".old")); err != nil {
		return fmt.Errorf("upgrade %s: %w", legacyName, err)
	}
	s.syncDir()
	return nil
}

type legacyState struct {
	State
	Kept map[string][]byte
}

// readLegacy reads a state.db. An entry that does not decode is skipped.
func readLegacy(path string) (legacyState, error) {
	st := legacyState{State: State{Offsets: map[string]json.RawMessage{}}, Kept: map[string][]byte{}}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return st, err
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket([]byte("meta")); m != nil {
			if v := m.Get([]byte("version")); v != nil && string(v) != "1" {
				return fmt.Errorf("state format %q, this stockade reads 1 (to upgrade)", v)
			}
			if v := m.Get([]byte("clock")); v != nil {
				st.Clock.UnmarshalText(v)
			}
		}
		each(tx, "windows", func(k, v []byte) {
			var w pipeline.WindowState
			if json.Unmarshal(v, &w) == nil {
				if w.Evidence == nil {
					w.Evidence = []string{}
				}
				st.Windows = append(st.Windows, w)
			}
		})
		each(tx, "targets", func(k, v []byte) {
			var t pipeline.TargetState
			if json.Unmarshal(v, &t) == nil && t.Target.IsValid() {
				st.Targets = append(st.Targets, t)
			}
		})
		each(tx, "offsets", func(k, v []byte) { st.Offsets[string(k)] = append(json.RawMessage(nil), v...) })
		each(tx, "kept", func(k, v []byte) { st.Kept[string(k)] = append([]byte(nil), v...) })
		return nil
	})
	return st, err
}

func each(tx *bolt.Tx, bucket string, f func(k, v []byte)) {
	if b := tx.Bucket([]byte(bucket)); b != nil {
		b.ForEach(func(k, v []byte) error {
			f(k, v)
			return nil
		})
	}
}
