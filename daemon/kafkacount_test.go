package daemon

import (
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/store"
	"github.com/stockade-ids/stockade/sources/tail"
)

// TestKafkaCountsSavedWithState: what the engine judged of each Kafka
// partition goes into the state's checkpoints beside a file's, comes back
// from a reopened store, and is what a Kafka source of that topic starts
// from; a files source takes no partition's entry for a file, and an entry
// that is not one is ignored.
func TestKafkaCountsSavedWithState(t *testing.T) {
	k := kafkaCounts{counted: map[kafkaPart]int64{}}
	dec, lines := k.topicID("decisions"), k.topicID("lines")
	if dec != 1 || lines != 2 || k.topicID("decisions") != 1 {
		t.Fatalf("topic ids %d %d: want 1 and 2, the same id for the same topic", dec, lines)
	}
	for _, ev := range []pipeline.Event{
		{Topic: dec, Partition: 0, Offset: 5}, {Topic: dec, Partition: 0, Offset: 7}, {Topic: dec, Partition: 0, Offset: 6},
		{Topic: dec, Partition: 3, Offset: 1, WarmUp: true}, {Topic: lines, Partition: 0, Offset: 42},
		{Topic: 9, Partition: 0, Offset: 1}, // no such topic: ignored
	} {
		k.handled(&ev)
	}
	if !k.dirty {
		t.Fatal("not marked for the next save")
	}
	out := map[string]json.RawMessage{}
	fileCP, _ := json.Marshal(tail.Checkpoint{Path: "/var/log/auth.log", Fingerprint: 7, Offset: 100})
	out["/var/log/auth.log\x00x"] = fileCP
	k.checkpoints(out)
	out[kafkaKeyPrefix+"junk"] = json.RawMessage(`{"kafka_topic":"","counted":-1}`)

	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(pipeline.Changes{}, out, time.Now()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if st, err = store.Open(dir); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	saved, _, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}

	r := kafkaCounts{counted: map[kafkaPart]int64{}}
	r.restore(saved.Offsets)
	if got, want := r.countedOf(r.topicID("decisions")), map[int]int64{0: 7, 3: 1}; !maps.Equal(got, want) {
		t.Errorf("decisions: %v, want %v (the highest offset judged of each partition, warm-up too)", got, want)
	}
	if got, want := r.countedOf(r.topicID("lines")), map[int]int64{0: 42}; !maps.Equal(got, want) {
		t.Errorf("lines: %v, want %v", got, want)
	}
	if got := r.countedOf(r.topicID("other")); len(got) != 0 {
		t.Errorf("a topic never read: %v, want nothing", got)
	}
	if len(r.counted) != 3 {
		t.Errorf("restored %v: want 3 partitions, the junk entry ignored", r.counted)
	}

	if got := fileCheckpoints(saved.Offsets); len(got) != 1 || got["/var/log/auth.log\x00x"].Offset != 100 {
		t.Errorf("a files source would take %v: want the file's checkpoint alone", got)
	}
}
