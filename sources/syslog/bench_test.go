package syslog

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

func BenchmarkParse(b *testing.B) {
	forms := []struct{ name, line string }{
		{"rfc3164", "Nov  8 22:00:01 bastion sshd[2738]: Failed password for invalid user admin from 203.0.113.45 port 51022 ssh2"},
		{"rsyslog", "2025-11-08T22:00:01.123456+01:00 bastion sshd-session[2738]: Failed password for invalid user admin from 203.0.113.45 port 51022 ssh2"},
		{"rfc5424", `<38>1 2025-11-08T22:00:01.123456+01:00 bastion.example.com sshd 2738 - [timeQuality tzKnown="1" isSynced="1"] Failed password for invalid user admin from 203.0.113.45 port 51022 ssh2`},
	}
	for _, form := range forms {
		b.Run(form.name, func(b *testing.B) {
			p := New(ref, time.UTC)
			line := []byte(form.line)
			var ev pipeline.Event
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Parse(line, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}

	// A realistic mix: the sample auth.log, whose lines straddle New Year,
	// read in a zone with DST, plus a few lines of the other two forms.
	b.Run("mixed", func(b *testing.B) {
		loc := loadLocation(b, "Europe/Berlin")
		lines := readLines(b, filepath.Join("testdata", "auth.log"))
		for _, f := range forms[1:] {
			lines = append(lines, []byte(f.line))
		}
		total := 0
		for _, l := range lines {
			total += len(l)
		}
		p := New(ref, loc)
		var ev pipeline.Event
		b.SetBytes(int64(total / len(lines)))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := p.Parse(lines[i], &ev); err != nil {
				b.Fatal(err)
			}
			if i++; i == len(lines) {
				i = 0
			}
		}
	})
}

func BenchmarkSniff(b *testing.B) {
	line := []byte("Nov  8 22:00:01 bastion sshd[2738]: Failed password for invalid user admin from 203.0.113.45 port 51022 ssh2")
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if !Sniff(line) {
			b.Fatal("not sniffed")
		}
	}
}
