package daemon

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/stockade-ids/stockade/pipeline"
)

// kafkaCounts is, per Kafka topic and partition, the offset after the
// last record the engine handled (warm-up records too), saved with the
// state as a checkpoint of its own, in the same commit as the windows
// that count the record: the loop handles one event at a time and saves
// between them. A Kafka source started on a restored state warms a
// partition up from there (bus.KafkaConfig.Counted), so that what the
// saved windows count is not counted again: a rule over decisions with a
// threshold above 1 counted a sensor's bans twice after a restart.
type kafkaCounts struct {
	topics  []string // by id - 1 (pipeline.Event.Topic)
	counted map[kafkaPart]int64
	dirty   bool // moved since the last save
}

type kafkaPart struct {
	topic     string
	partition int32
}

// kafkaCheckpoint is a partition's entry among the state's checkpoints.
// It has no path: a files source takes no entry without one.
type kafkaCheckpoint struct {
	Topic     string `json:"kafka_topic"`
	Partition int32  `json:"kafka_partition"`
	Counted   int64  `json:"counted"`
}

// kafkaKeyPrefix starts a partition's key among the checkpoints (a
// file's key starts with its absolute path).
const kafkaKeyPrefix = "kafka\x00"

// topicID is topic's id for its events, from 1; 0 once 65,535 topics
// are taken (their records then warm up as without a saved state).
func (k *kafkaCounts) topicID(topic string) uint16 {
	for i, t := range k.topics {
		if t == topic {
			return uint16(i + 1)
		}
	}
	if len(k.topics) >= math.MaxUint16 {
		return 0
	}
	k.topics = append(k.topics, topic)
	return uint16(len(k.topics))
}

// countedOf is what the state counted of topic id's partitions.
func (k *kafkaCounts) countedOf(id uint16) map[int]int64 {
	if id == 0 {
		return nil
	}
	out := map[int]int64{}
	for p, o := range k.counted {
		if p.topic == k.topics[id-1] {
			out[int(p.partition)] = o
		}
	}
	return out
}

// handled records that the engine judged ev, a Kafka record.
func (k *kafkaCounts) handled(ev *pipeline.Event) {
	if int(ev.Topic) > len(k.topics) {
		return
	}
	p := kafkaPart{k.topics[ev.Topic-1], ev.Partition}
	if ev.Offset > k.counted[p] {
		k.counted[p] = ev.Offset
		k.dirty = true
	}
}

// checkpoints adds every partition's entry to out.
func (k *kafkaCounts) checkpoints(out map[string]json.RawMessage) {
	for p, o := range k.counted {
		b, err := json.Marshal(kafkaCheckpoint{Topic: p.topic, Partition: p.partition, Counted: o})
		if err == nil {
			out[kafkaKeyPrefix+p.topic+"\x00"+strconv.Itoa(int(p.partition))] = b
		}
	}
}

// restore takes the partitions' entries of the checkpoints saved (a
// state of an older stockade has none: its partitions warm up from the
// rewind, as they did).
func (k *kafkaCounts) restore(saved map[string]json.RawMessage) {
	for key, raw := range saved {
		if !strings.HasPrefix(key, kafkaKeyPrefix) {
			continue
		}
		var cp kafkaCheckpoint
		if json.Unmarshal(raw, &cp) != nil || cp.Topic == "" || cp.Partition < 0 || cp.Counted <= 0 {
			continue
		}
		p := kafkaPart{cp.Topic, cp.Partition}
		k.counted[p] = max(k.counted[p], cp.Counted)
	}
}
