package fail2ban

import (
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ name, line string }{
		{"ban", "2025-11-08 22:00:18,902 fail2ban.actions        [1187]: NOTICE  [sshd] Ban 198.51.100.9"},
		{"found", "2025-11-08 22:00:01,210 fail2ban.filter         [1187]: INFO    [sshd] Found 198.51.100.9 - 2025-11-08 22:00:01"},
		{"ipv6", "2025-11-08 22:01:02,331 fail2ban.filter         [1187]: INFO    [nginx-http-auth] Found 2001:db8:85a3::8a2e:370:7334 - 2025-11-08 22:01:02"},
		{"skip", "2025-11-08 21:58:12,140 fail2ban.jail           [1187]: INFO    Jail 'sshd' started"},
		{"bad", "Traceback (most recent call last):"},
	} {
		for _, loc := range []struct {
			name string
			loc  *time.Location
		}{{"utc", time.UTC}, {"zurich", zurich(b)}} {
			b.Run(bc.name+"/"+loc.name, func(b *testing.B) {
				line := []byte(bc.line)
				p := New(loc.loc)
				var ev pipeline.Event
				b.ReportAllocs()
				b.SetBytes(int64(len(line)))
				for b.Loop() {
					ev.Reset()
					_ = p.Parse(line, &ev)
				}
			})
		}
	}
}

func BenchmarkSniff(b *testing.B) {
	line := []byte("2025-11-08 22:00:18,902 fail2ban.actions        [1187]: NOTICE  [sshd] Ban 198.51.100.9")
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		Sniff(line)
	}
}
