package config

import (
	"strings"
	"testing"
)

// TestPartitionWarnings: with partitions configured (the embedded
// server's or a partitioned source's), a NATS sink whose subject the
// partition mapping would not share out by target is warned of at its
// position; without partitions, or with {target} last, nothing is said.
func TestPartitionWarnings(t *testing.T) {
	const key = "UAO7PESDROBHPI4PEWED7ZURDAVQNOO5C6NLLAE6C2ZJSAICVPO6GVVX"
	server := "nats_server: {listen: 127.0.0.1:4222, partitions: 3}\nsources: [{files: [/var/log/auth.log]}]\n"
	source := "sources:\n  - nats: {url: nats://127.0.0.1:4222, stream: STOCKADE, partitions: 3, partition: 1, policy: {origins: [{name: web1, key: " + key + "}]}}\n"
	sink := func(subject string) string {
		s := "sinks:\n  - nats:\n      url: nats://127.0.0.1:4222\n"
		if subject != "" {
			s += "      subject: " + subject + "\n"
		}
		return s
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"server, default subject", server + sink(""), `c.yaml:4:5: sinks[0].nats.subject: "stockade.decisions.{origin}.{rule}" is not of the form stockade.decisions.<origin>.<rule>.<target>; with 3 partitions its decisions are not mapped to any partition`},
		{"source, {target} not last", source + sink("stockade.decisions.{origin}.{target}.{rule}"), `sinks[0].nats.subject: "stockade.decisions.{origin}.{target}.{rule}" does not end in {target}; with 3 partitions its decisions are shared out by another token`},
		{"source, target in a token of its own", source + sink("stockade.decisions.{origin}.{rule}.t-{target}"), "does not end in {target}"},
		{"server, other prefix", server + sink("ids.{origin}.{rule}.{action}.{target}"), "is not of the form"},
		{"server, target last", server + sink("stockade.decisions.{origin}.{rule}.{target}"), ""},
		{"no partitions", "sources: [{files: [/var/log/auth.log]}]\n" + sink(""), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("c.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			ws := c.Warnings()
			if tc.want == "" {
				if len(ws) != 0 {
					t.Fatalf("warnings %v, want none", ws)
				}
				return
			}
			if len(ws) != 1 || !strings.Contains(ws.Error(), tc.want) {
				t.Fatalf("warnings %v, want one with %q", ws, tc.want)
			}
		})
	}
}
