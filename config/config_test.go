package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stockade-ids/stockade/internal/srcpos"
	"github.com/stockade-ids/stockade/internal/yamlnode"
)

const base = "sources:\n  - files: [/var/log/auth.log]\n"

// TestErrors: each mistake is refused at its position, named by its path
// in the file and said in the file's words.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key with a suggestion", "metrcs: 127.0.0.1:9477\n" + base,
			[]string{"c.yaml:1:1: metrcs: unknown key; did you mean metrics?"}},
		{"bad duration", base + "sinks:\n  - exec: {ban: [/bin/true], timeout: 10x}\n",
			[]string{`c.yaml:4:39: sinks[0].exec.timeout: bad duration "10x" (use 90s, 10m, 1h, 7d, 1w)`}},
		{"not a number", "max_windows: lots\n" + base,
			[]string{`c.yaml:1:14: max_windows: want a whole number, not "lots"`}},
		{"bad memory limit", "memory_limit: 256\n" + base,
			[]string{`c.yaml:1:15: memory_limit: "256": want a size (256MiB, 1GiB, 512MB), a share of the cgroup's memory limit (80%) or off`}},
		{"memory limit too low", "memory_limit: 1MiB\n" + base,
			[]string{`c.yaml:1:15: memory_limit: "1MiB": under 16MiB, the runtime would collect without end: want 256MiB or more`}},
		{"not a bool", base + "unbans: maybe\n",
			[]string{`c.yaml:3:9: unbans: want true or false, not "maybe"`}},
		{"a list for a string", "state_dir: [a, b]\n" + base,
			[]string{"c.yaml:1:12: state_dir: want a string, not a list"}},
		{"no sources", "sinks: [{jsonl: /tmp/x}]\n",
			[]string{"c.yaml:1:1: no sources: name at least one under sources:"}},
		{"no kind", "sources:\n  - {typ: syslog}\n",
			[]string{"c.yaml:2:5: sources[0]: set exactly one of files, syslog, journald, stdin, nats, kafka, blocklist, eve_socket"}},
		{"two kinds", "sources:\n  - files: [/x]\n    stdin: true\n",
			[]string{"c.yaml:3:5: sources[0]: set exactly one of files, syslog, journald, stdin, nats, kafka, blocklist, eve_socket (files and stdin are both set)"}},
		{"kind misspelt", "sources:\n  - jornald: {}\n",
			[]string{"c.yaml:2:5: sources[0]: set exactly one of files, syslog, journald, stdin, nats, kafka, blocklist, eve_socket",
				"c.yaml:2:5: sources[0].jornald: unknown key; did you mean journald?"}},
		{"a key beside a nested kind", "sources:\n  - syslog: {udp: ':5514'}\n    senders: [192.0.2.1]\n",
			[]string{"c.yaml:3:5: sources[0].senders: unknown key beside syslog: its settings go under it (syslog: {senders: ...})"}},
		{"an inline kind's key misspelt", "sources:\n  - files: [/x]\n    strat: beginning\n",
			[]string{"c.yaml:3:5: sources[0].strat: unknown key; did you mean start?"}},
		{"a component's check at its key", base + "sinks:\n  - nftables: {family: inet6, chunk_size: 5000}\n",
			[]string{`c.yaml:4:24: sinks[0].nftables.family: "inet6": want inet, ip or ip6`,
				"c.yaml:4:43: sinks[0].nftables.chunk_size: 5000: want 2 to 1024"}},
		{"a nested section's check", base + "sinks:\n  - nats:\n      queue: {max: -1}\n",
			[]string{"c.yaml:5:20: sinks[0].nats.queue.max: -1, want at least 1"}},
		{"delivery settable and checked", base + "sinks:\n  - kafka:\n      brokers: [k:9092]\n      delivery: {min_backoff: 2s, max_backoff: 1s}\n",
			[]string{"c.yaml:6:48: sinks[0].kafka.delivery.max_backoff: 1s is below min_backoff (2s)"}},
		{"a negative rewind", "sources:\n  - kafka: {brokers: [k:9092], rewind: -1h, policy: {origins: [{name: a, key: " + key1 + "}]}}\n",
			[]string{`c.yaml:2:40: sources[0].kafka.rewind: negative duration "-1h"`}},
		{"a list item", "allow: [192.0.2.0/24, nonsense]\n" + base,
			[]string{`c.yaml:1:23: allow[1]: target "nonsense" is neither an address nor a CIDR`}},
		{"a placeholder", base + "sinks:\n  - exec: {ban: [/sbin/x, '{targte}']}\n",
			[]string{`c.yaml:4:27: sinks[0].exec.ban[1]: unknown placeholder {targte} in "{targte}" (known: {target} {scope} {rule} {pack} {duration} {expires} {offense} {origin} {id} {reason} {action})`}},
		{"a source of decisions trusts no one", "sources:\n  - nats: {url: nats://127.0.0.1:4222}\n",
			[]string{"c.yaml:2:11: sources[0].nats: policy: origins: none trusted: a source of decisions believes only the origins its policy lists, with the public key of each (stockade keygen), as stockade enforce does"}},
		{"a repeated key", "tz: UTC\ntz: Europe/Paris\n" + base,
			[]string{"c.yaml:2:1: tz: key is repeated"}},
		{"a syntax error", "sources: [\n",
			[]string{"c.yaml:1:1: did not find expected node content"}},
		{"a list at the top", "- a\n",
			[]string{"c.yaml:1:1: want a mapping of settings at the top of the file, not a list"}},
		{"a bad time zone", "tz: Mars/Olympus\n" + base,
			[]string{`c.yaml:1:5: tz: "Mars/Olympus" is not a time zone (Europe/Paris, UTC, ...)`}},
		{"nats_server roles", "nats_server: {token: s, sensors: [{name: a.b, key: nope}]}\n" + base,
			[]string{"c.yaml:1:22: nats_server.token: set either token or roles (sensors, firewalls, correlators, admins): the token would let its holder do all that the roles forbid; list administrators under admins",
				`c.yaml:1:42: nats_server.sensors[0].name: "a.b": want letters, digits, '_' or '-'`,
				`c.yaml:1:52: nats_server.sensors[0].key: "nope" is not a public user (U…) or server (N…) nkey`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tc.yaml))
			if got := lines(err); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func lines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// TestEveryErrorInOnePass: a file with many mistakes is refused with all
// of them, in file order, each at file:line:col; a mistake in one key
// does not hide the checks of the others.
func TestEveryErrorInOnePass(t *testing.T) {
	data := `metrcs: 127.0.0.1:9477
tz: Mars/Olympus
sources:
  - files: [/var/log/auth.log]
    typ: syslog
  - syslog: {udp: ":5514", idle_timeout: 5x, max_conns_per_peer: -1}
sinks:
  - exec: {ban: [/bin/true, "{targte}"], timeout: 10x}
  - nats: {queue: {max: -1, when_full: sometimes}, subjct: x}
`
	_, err := Parse("c.yaml", []byte(data))
	want := []string{
		"c.yaml:1:1: metrcs: unknown key; did you mean metrics?",
		`c.yaml:2:5: tz: "Mars/Olympus" is not a time zone (Europe/Paris, UTC, ...)`,
		"c.yaml:5:5: sources[0].typ: unknown key; did you mean type?",
		`c.yaml:6:42: sources[1].syslog.idle_timeout: bad duration "5x" (use 90s, 10m, 1h, 7d, 1w)`,
		"c.yaml:6:66: sources[1].syslog.max_conns_per_peer: negative",
		`c.yaml:8:29: sinks[0].exec.ban[1]: unknown placeholder {targte} in "{targte}" (known: {target} {scope} {rule} {pack} {duration} {expires} {offense} {origin} {id} {reason} {action})`,
		`c.yaml:8:51: sinks[0].exec.timeout: bad duration "10x" (use 90s, 10m, 1h, 7d, 1w)`,
		"c.yaml:9:25: sinks[1].nats.queue.max: -1, want at least 1",
		`c.yaml:9:40: sinks[1].nats.queue.when_full: "sometimes", want "drop_oldest", "drop_newest" or "block"`,
		"c.yaml:9:52: sinks[1].nats.subjct: unknown key; did you mean subject?",
	}
	if got := lines(err); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var es srcpos.Errors
	if !errors.As(err, &es) || len(es) != len(want) {
		t.Fatalf("not a srcpos.Errors of %d: %T", len(want), err)
	}
}

// TestEnforcerErrors: the enforcer's file, the same way.
func TestEnforcerErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"no bus", "policy: {origins: [{name: a, key: " + key1 + "}]}\n",
			[]string{"c.yaml:1:1: set exactly one of nats, kafka: the bus the decisions come from"}},
		{"policy in the bus section", "nats: {url: nats://x, policy: {}}\npolicy: {origins: [{name: a, key: " + key1 + "}]}\n",
			[]string{"c.yaml:1:23: nats.policy: unknown key: policy: is set at the top level, not in the bus section"}},
		{"policy and nftables", "nats: {url: nats://x}\nnftables: {set_v4: a, set_v6: a}\npolicy: {origins: [{name: a, key: b}], min_bits4: 40}\nhome_net: [10.0.0.0/33]\n",
			[]string{`c.yaml:2:31: nftables.set_v6: "a" is also the IPv4 set`,
				`c.yaml:3:20: policy.origins[0]: key: "b" is not a public nkey (stockade keygen prints one)`,
				"c.yaml:3:51: policy.min_bits4: 40: want 0 to 32",
				`c.yaml:4:12: home_net[0]: target "10.0.0.0/33" is neither an address nor a CIDR`}},
		{"durations", "kafka: {brokers: [k:9092]}\npolicy: {max_duration: forever, origins: [{name: a, key: " + key1 + "}]}\n",
			[]string{`c.yaml:2:24: policy.max_duration: bad duration "forever" (use 90s, 10m, 1h, 7d, 1w)`}},
		{"memory limit", "nats: {url: nats://x}\npolicy: {origins: [{name: a, key: " + key1 + "}]}\nmemory_limit: 150%\n",
			[]string{`c.yaml:3:15: memory_limit: "150%": want a share of the cgroup's memory limit over 0% and up to 100% (80%)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEnforcer("c.yaml", []byte(tc.yaml))
			if got := lines(err); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

const key1 = "UAO7PESDROBHPI4PEWED7ZURDAVQNOO5C6NLLAE6C2ZJSAICVPO6GVVX"

// TestSettable: what the old mirror types could not set is set from YAML
// and reaches the component's Config.
func TestSettable(t *testing.T) {
	c, err := Parse("c.yaml", []byte(base+`sinks:
  - nftables: {chunk_size: 64}
  - exec: {ban: [/bin/true], queue: 7, restore: false}
  - nats: {delivery: {batch: 9, max_backoff: 1m}, reconnect_wait: 3s}
  - kafka: {brokers: [k:9092], delivery: {publish_timeout: 5s}}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sinks
	if s[0].NFTables.ChunkSize != 64 || s[1].Exec.Queue != 7 || *s[1].Exec.Restore ||
		s[2].NATS.Delivery.Batch != 9 || s[2].NATS.Delivery.MaxBackoff.Minutes() != 1 || s[2].NATS.ReconnectWait.Seconds() != 3 ||
		s[3].Kafka.Delivery.PublishTimeout.Seconds() != 5 {
		t.Errorf("settings lost: %+v %+v %+v %+v", *s[0].NFTables, *s[1].Exec, s[2].NATS.Delivery, s[3].Kafka.Delivery)
	}
	if s[0].Kind() != "nftables" || s[3].Kind() != "kafka" || s[2].Path != "sinks[2]" || s[2].Pos.Line != 6 {
		t.Errorf("entry: %q %q %q %v", s[0].Kind(), s[3].Kind(), s[2].Path, s[2].Pos)
	}
}

// TestSamples: every component's sample decodes as an entry of its list,
// validates, and names every key its configuration knows.
func TestSamples(t *testing.T) {
	check := func(t *testing.T, list, sample string, want []string) {
		t.Helper()
		data := base + list + ":\n" + entry(sample)
		if list == "sources" {
			data = "sources:\n" + entry(sample)
		}
		if _, err := Parse("sample.yaml", []byte(data)); err != nil {
			t.Fatalf("%v\n%s", err, data)
		}
		got := present(t, data)
		for _, k := range want {
			if !got[k] {
				t.Errorf("the sample does not name %s", k)
			}
		}
	}
	all := KeyPaths()
	for _, k := range SourceKinds() {
		t.Run("sources/"+k.Name, func(t *testing.T) { check(t, "sources", k.Sample, under(all, "sources[]", k)) })
	}
	for _, k := range SinkKinds() {
		t.Run("sinks/"+k.Name, func(t *testing.T) { check(t, "sinks", k.Sample, under(all, "sinks[]", k)) })
	}
}

// under are the paths of kind k's keys.
func under[E any](all []string, list string, k Kind[E]) []string {
	var e E
	c := reflect.TypeOf(k.New(&e)).Elem()
	if k.Inline {
		return keyPaths(c, list)
	}
	var out []string
	for _, p := range all {
		if p == list+"."+k.Name || strings.HasPrefix(p, list+"."+k.Name+".") {
			out = append(out, p)
		}
	}
	return out
}

// present are the key paths data holds ("sinks[].nats.queue.max").
func present(t *testing.T, data string) map[string]bool {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(data), &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	var walk func(n *yaml.Node, p string)
	walk = func(n *yaml.Node, p string) {
		n = yamlnode.Resolve(n)
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := yamlnode.Join(p, n.Content[i].Value)
				out[k] = true
				walk(n.Content[i+1], k)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, p+"[]")
			}
		}
	}
	walk(&doc, "")
	return out
}

var update = os.Getenv("STOCKADE_UPDATE") != ""

// TestDeployFiles: the minimal configuration and the reference load; the
// reference is what Reference assembles from the components' samples
// (STOCKADE_UPDATE=1 writes it), and names every key the registry knows,
// so that it cannot drift from the code.
func TestDeployFiles(t *testing.T) {
	dir := filepath.Join("..", "deploy")
	ref := filepath.Join(dir, "stockade.reference.yaml")
	if update {
		if err := os.WriteFile(ref, []byte(Reference()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != Reference() {
		t.Errorf("%s differs from Reference(): run STOCKADE_UPDATE=1 go test ./config -run TestDeployFiles", ref)
	}
	if _, err := Load(ref); err != nil {
		t.Fatalf("the reference: %v", err)
	}
	got := present(t, string(data))
	for _, k := range KeyPaths() {
		if !got[k] {
			t.Errorf("the reference does not name %s", k)
		}
	}
	c, err := Load(filepath.Join(dir, "stockade.yaml"))
	if err != nil {
		t.Fatalf("the minimal configuration: %v", err)
	}
	if len(c.Sources) == 0 {
		t.Fatal("the minimal configuration has no source")
	}
}

// TestEnforcerReference: deploy/enforce.yaml loads and names every key of
// the enforcer's file.
func TestEnforcerReference(t *testing.T) {
	p := filepath.Join("..", "deploy", "enforce.yaml")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !IsEnforcer(data) {
		t.Error("not detected as an enforcer's configuration")
	}
	if _, err := ParseEnforcer(p, data); err != nil {
		t.Fatal(err)
	}
	// Its bus sections are exclusive, so some keys are documented in
	// comments: each key's name must be written, as a key or commented.
	for _, k := range EnforcerKeyPaths() {
		leaf := k[strings.LastIndexAny(k, ".]")+1:]
		if !regexp.MustCompile(`(?m)[\s{,#]` + regexp.QuoteMeta(leaf) + `:`).Match(data) {
			t.Errorf("%s does not name %s", p, k)
		}
	}
}

var position = regexp.MustCompile(`^fuzz\.yaml:\d+:\d+: `)

// FuzzParse: any bytes either load or are refused with errors that each
// start with the file's name and a position, and never name a Go type.
func FuzzParse(f *testing.F) {
	for _, p := range []string{"../deploy/stockade.yaml", "../deploy/stockade.reference.yaml", "../deploy/enforce.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(noComments(b)) // prose only slows the minimizer down
		}
	}
	f.Add([]byte(base + "sinks: [{exec: {ban: [/bin/true, '{target}'], timeout: 1w}}]\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("sources: &s [{files: [/x]}]\nsinks: *s\n<<: {tz: UTC}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, parse := range []func(string, []byte) error{
			func(p string, b []byte) error { _, err := Parse(p, b); return err },
			func(p string, b []byte) error { _, err := ParseEnforcer(p, b); return err },
		} {
			err := parse("fuzz.yaml", data)
			if err == nil {
				continue
			}
			for _, l := range strings.Split(err.Error(), "\n") {
				if !position.MatchString(l) {
					t.Fatalf("no position: %q", l)
				}
				for _, leak := range []string{"!!", "unmarshal", "reflect", "config.", "int64", "time.Duration", "struct"} {
					if strings.Contains(l, leak) && !strings.Contains(string(data), leak) {
						t.Fatalf("a Go word in %q", l)
					}
				}
			}
		}
	})
}

// TestMergeBomb: merge keys that merge mappings that merge others, ten
// times each, nine deep (a billion merges), are refused in bounded time.
func TestMergeBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x0: &a0 {stream: S}\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "x%d: &a%d {<<: [%s]}\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	b.WriteString("nats_server: *a9\n" + base)
	start := time.Now()
	_, err := Parse("b.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "b.yaml:2:5: nats_server: nested too deep or too large (aliases?)") {
		t.Errorf("err %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestSourceWebConfig: log_format and real_ip_from are checked when the
// configuration loads, and apply to files and to the access lines a
// syslog or journald source carries.
func TestSourceWebConfig(t *testing.T) {
	for _, ok := range []string{
		"sources:\n  - files: [/var/log/nginx/access.log]\n    log_format: '$remote_addr [$time_local] \"$request\" $status'\n    real_ip_from: [10.0.0.0/8]\n",
		"sources:\n  - syslog: {udp: '127.0.0.1:5514', senders: [127.0.0.1], log_format: '$remote_addr [$time_local] \"$request\" $status', real_ip_from: [10.0.0.0/8]}\n",
		"sources:\n  - journald: {log_format: '$remote_addr [$time_local] \"$request\" $status', real_ip_from: [10.0.0.0/8]}\n",
	} {
		if _, err := Parse("c.yaml", []byte(ok)); err != nil {
			t.Errorf("valid: %v", err)
		}
	}
	for _, bad := range []string{
		"sources:\n  - files: [x]\n    log_format: '$status'\n",
		"sources:\n  - files: [x]\n    real_ip_from: [proxy.example]\n",
		"sources:\n  - stdin: true\n    real_ip_from: [10.0.0.1]\n",
		"sources:\n  - syslog: {udp: ':5514', log_format: '$status'}\n",
		"sources:\n  - journald: {real_ip_from: [proxy.example]}\n",
	} {
		if _, err := Parse("c.yaml", []byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// noComments drops the comment lines of b.
func noComments(b []byte) []byte {
	var out []byte
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if t := strings.TrimSpace(l); t != "" && t[0] != '#' {
			out = append(out, l...)
		}
	}
	return out
}

// TestSettableSources: the listener's caps and the files' poll interval
// are set from YAML and reach the components' runtime configuration.
func TestSettableSources(t *testing.T) {
	c, err := Parse("c.yaml", []byte("sources:\n  - files: [/x]\n    poll: 1s\n  - syslog: {tcp: '127.0.0.1:0', max_conns: 8, max_message: 4096, idle_timeout: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	lc, err := c.Sources[1].Syslog.Listen()
	if err != nil {
		t.Fatal(err)
	}
	if c.Sources[0].Files.Poll != time.Second || lc.MaxConns != 8 || lc.MaxMessage != 4096 || lc.IdleTimeout >= 0 {
		t.Errorf("poll %v, listener %+v", c.Sources[0].Files.Poll, lc)
	}
	_, err = Parse("c.yaml", []byte("sources:\n  - files: [/x]\n    poll: 1ms\n  - syslog: {tcp: ':0', max_message: -1}\n"))
	want := []string{"c.yaml:3:11: sources[0].poll: 1ms: want 10ms or more (0 is the default, 250ms)", "c.yaml:4:38: sources[1].syslog.max_message: negative"}
	if got := lines(err); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
}

// TestSyslogReceiveBuffer: receive_buffer reaches the listener, and a
// bad one is refused at its key.
func TestSyslogReceiveBuffer(t *testing.T) {
	c, err := Parse("c.yaml", []byte("sources:\n  - syslog: {udp: '127.0.0.1:0', receive_buffer: 33554432}\n"))
	if err != nil {
		t.Fatal(err)
	}
	lc, err := c.Sources[0].Syslog.Listen()
	if err != nil {
		t.Fatal(err)
	}
	if lc.ReceiveBuffer != 32<<20 {
		t.Errorf("receive buffer %d, want %d", lc.ReceiveBuffer, 32<<20)
	}
	_, err = Parse("c.yaml", []byte("sources:\n  - syslog: {udp: ':0', receive_buffer: -1}\n  - syslog: {udp: ':0', receive_buffer: 2000000000}\n  - syslog: {tcp: ':0', receive_buffer: 65536}\n"))
	want := []string{
		"c.yaml:2:41: sources[0].syslog.receive_buffer: negative",
		"c.yaml:3:41: sources[1].syslog.receive_buffer: 2000000000: want at most 1073741824 (1 GiB)",
		"c.yaml:4:41: sources[2].syslog.receive_buffer: sizes the udp and unix sockets: it needs udp: or unix:",
	}
	if got := lines(err); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
}
