package config

import (
	"errors"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/internal/srcpos"
	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/sinks/exec"
	"github.com/stockade-ids/stockade/sinks/jsonl"
	"github.com/stockade-ids/stockade/sinks/kafka"
	"github.com/stockade-ids/stockade/sinks/mail"
	"github.com/stockade-ids/stockade/sinks/nats"
	"github.com/stockade-ids/stockade/sinks/nftables"
	"github.com/stockade-ids/stockade/sinks/webhook"
	"github.com/stockade-ids/stockade/sources/blocklist"
	"github.com/stockade-ids/stockade/sources/listen"
	"github.com/stockade-ids/stockade/sources/tail"
)

// Source is one entry of sources:, exactly one of its kinds set.
type Source struct {
	Files     *tail.FilesConfig
	Syslog    *listen.SyslogConfig
	Stdin     *StdinConfig
	Journald  *listen.JournaldConfig
	NATS      *NATSSource
	Kafka     *KafkaSource
	Blocklist *blocklist.Config
	EveSocket *listen.EveConfig

	// Path names the entry in messages ("sources[2]"); Pos is where it is.
	// Neither is part of what the entry configures (a reload compares
	// entries by what they configure, wherever they stand).
	Path string     `json:"-"`
	Pos  srcpos.Pos `json:"-"`
}

// Sink is one entry of sinks:, exactly one of its kinds set.
type Sink struct {
	JSONL    *jsonl.Config
	Exec     *exec.Config
	NFTables *nftables.Config
	NATS     *nats.Config
	Kafka    *kafka.Config
	// Notifications.
	Webhook *webhook.Config
	Mail    *mail.Config

	Path string     `json:"-"`
	Pos  srcpos.Pos `json:"-"`
}

// Kind is the name of the entry's kind ("files", "syslog", ...).
func (s Source) Kind() string { return kindOf(&s, SourceKinds()) }

// Kind is the name of the entry's kind ("jsonl", "nftables", ...).
func (s Sink) Kind() string { return kindOf(&s, SinkKinds()) }

// Kind is one kind of entry: its name in the file, and how its section
// is decoded and checked.
type Kind[E any] struct {
	Name string
	// Inline kinds keep their keys beside their name in the entry
	// (`- files: [...]` then `type: syslog`); the others hold them under
	// it (`- syslog: {udp: ...}`).
	Inline bool
	// New makes the kind's configuration in e and returns it for decoding.
	New func(e *E) any
	// Get is the kind's configuration in e, nil when unset.
	Get func(e *E) any
	// Sample is a commented example of the kind's section.
	Sample string
}

// kind is a Kind whose configuration is a *C held in the field field
// returns.
func kind[E, C any](name string, inline bool, sample string, field func(*E) **C) Kind[E] {
	return Kind[E]{
		Name: name, Inline: inline, Sample: sample,
		New: func(e *E) any { c := new(C); *field(e) = c; return c },
		Get: func(e *E) any {
			if c := *field(e); c != nil {
				return c
			}
			return nil
		},
	}
}

// SourceKinds are the kinds of sources:, in the order documented.
func SourceKinds() []Kind[Source] {
	return []Kind[Source]{
		kind("files", true, tail.Sample, func(s *Source) **tail.FilesConfig { return &s.Files }),
		kind("syslog", false, listen.SyslogSample, func(s *Source) **listen.SyslogConfig { return &s.Syslog }),
		kind("journald", false, listen.JournaldSample, func(s *Source) **listen.JournaldConfig { return &s.Journald }),
		kind("stdin", true, stdinSample, func(s *Source) **StdinConfig { return &s.Stdin }),
		kind("nats", false, natsSourceSample, func(s *Source) **NATSSource { return &s.NATS }),
		kind("kafka", false, kafkaSourceSample, func(s *Source) **KafkaSource { return &s.Kafka }),
		kind("blocklist", false, blocklist.Sample, func(s *Source) **blocklist.Config { return &s.Blocklist }),
		kind("eve_socket", false, listen.EveSample, func(s *Source) **listen.EveConfig { return &s.EveSocket }),
	}
}

// SinkKinds are the kinds of sinks:, in the order documented.
func SinkKinds() []Kind[Sink] {
	return []Kind[Sink]{
		kind("jsonl", false, jsonl.Sample, func(s *Sink) **jsonl.Config { return &s.JSONL }),
		kind("nftables", false, nftables.Sample, func(s *Sink) **nftables.Config { return &s.NFTables }),
		kind("exec", false, exec.Sample, func(s *Sink) **exec.Config { return &s.Exec }),
		kind("nats", false, nats.Sample, func(s *Sink) **nats.Config { return &s.NATS }),
		kind("kafka", false, kafka.Sample, func(s *Sink) **kafka.Config { return &s.Kafka }),
		kind("webhook", false, webhookSample, func(s *Sink) **webhook.Config { return &s.Webhook }),
		kind("mail", false, mailSample, func(s *Sink) **mail.Config { return &s.Mail }),
	}
}

func kindOf[E any](e *E, kinds []Kind[E]) string {
	for _, k := range kinds {
		if k.Get(e) != nil {
			return k.Name
		}
	}
	return ""
}

// DecodeYAML reads one entry of sources:.
func (s *Source) DecodeYAML(d *yamlnode.Decoder, n *yaml.Node, path string) {
	s.Path, s.Pos = path, d.Pos(yamlnode.Resolve(n))
	decodeEntry(d, n, path, s, SourceKinds())
}

// DecodeYAML reads one entry of sinks:.
func (s *Sink) DecodeYAML(d *yamlnode.Decoder, n *yaml.Node, path string) {
	s.Path, s.Pos = path, d.Pos(yamlnode.Resolve(n))
	decodeEntry(d, n, path, s, SinkKinds())
}

// validator is a component configuration's check: yamlnode.Problems, each
// put at its key's position.
type validator interface{ Validate() error }

// decodeEntry is where "exactly one of" is checked, for every list of
// entries: the entry names one kind, and its section decodes strictly
// and validates, every problem at its position.
func decodeEntry[E any](d *yamlnode.Decoder, n *yaml.Node, path string, e *E, kinds []Kind[E]) {
	fields, ok := d.Fields(n, path)
	if !ok {
		return
	}
	names := make([]string, len(kinds))
	byName := map[string]Kind[E]{}
	for i, k := range kinds {
		names[i] = k.Name
		byName[k.Name] = k
	}
	var found []yamlnode.Field
	for _, f := range fields {
		if _, ok := byName[f.Key.Value]; ok {
			found = append(found, f)
		}
	}
	oneOf := "set exactly one of " + strings.Join(names, ", ")
	switch len(found) {
	case 0:
		d.Add(yamlnode.Resolve(n), path, "%s", oneOf)
		for _, f := range fields {
			if s := yamlnode.Suggest(f.Key.Value, names); s != "" {
				d.Add(f.Key, yamlnode.Join(path, f.Key.Value), "unknown key; did you mean %s?", s)
			}
		}
		return
	case 1:
	default:
		d.Add(found[1].Key, path, "%s (%s and %s are both set)", oneOf, found[0].Key.Value, found[1].Key.Value)
		return
	}
	k := byName[found[0].Key.Value]
	c := k.New(e)
	section, at := found[0].Value, yamlnode.Join(path, k.Name)
	if k.Inline {
		section, at = n, path
	} else {
		for _, f := range fields {
			if f.Key != found[0].Key {
				d.Add(f.Key, yamlnode.Join(path, f.Key.Value), "unknown key beside %s: its settings go under it (%s: {%s: ...})", k.Name, k.Name, f.Key.Value)
			}
		}
	}
	d.Decode(section, at, c)
	if v, ok := c.(validator); ok {
		d.Report(section, at, keyed(k.Name, v.Validate()))
	}
}

// KindNames are the names of kinds, for messages.
func KindNames[E any](kinds []Kind[E]) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.Name
	}
	return strings.Join(names, ", ")
}

// keyed is a Validate's error as yamlnode.Problems: those it is, or, from
// a component that words its lines "webhook: body: what", each line with
// its key, so that it is put at the key's position all the same.
func keyed(kind string, err error) error {
	var ps yamlnode.Problems
	if err == nil || errors.As(err, &ps) {
		return err
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		rest := strings.TrimPrefix(line, kind+": ")
		key, msg, ok := strings.Cut(rest, ": ")
		if !ok || !isKey(key) {
			key, msg = "", rest
		}
		ps.Add(key, "%s", msg)
	}
	return ps
}

// isKey reports whether s reads as a key path (max_queue, headers.X-Y,
// to[0]).
func isKey(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\"'")
}
