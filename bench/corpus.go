package main

import (
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/stockade-ids/stockade/internal/gen"
)

// logFile is one generated log.
type logFile struct {
	Name    string // what the tables call it
	Format  string // stockade's --type
	Path    string
	Lines   int
	Filter  string // fail2ban's stock filter for it, if it has one
	Comment string
}

type corpus struct {
	logs  []logFile // replayed alone, then together
	flood logFile   // the memory test
	small logFile   // a few lines: the memory of stockade itself
}

// writeCorpus writes every log. They share one span of time, as one host's
// logs do, so that replayed together their lines interleave.
func writeCorpus(dir string, lines int, seed uint64, floodAddrs int) (*corpus, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	span := time.Duration(lines) * 10 * time.Millisecond
	spec := func(s uint64) gen.Spec { return gen.Spec{Lines: lines, Seed: seed + s, Span: span} }
	c := &corpus{logs: []logFile{
		{Name: "auth.log", Format: "syslog", Lines: lines, Filter: "sshd",
			Comment: "sshd failures (35 %) among logins, cron, sudo"},
		{Name: "access.log", Format: "nginx", Lines: lines, Filter: "nginx-botsearch",
			Comment: "nginx combined; scanners and WordPress guesses (20 %)"},
		{Name: "eve.json", Format: "eve", Lines: lines,
			Comment: "Suricata; 10 % alerts, 90 % flow, dns, http, tls, stats"},
		{Name: "fast.log", Format: "fastlog", Lines: lines,
			Comment: "Suricata; one alert a line"},
	}}
	writers := []func(io.Writer) error{
		func(w io.Writer) error { return gen.AuthLog(w, spec(0)) },
		func(w io.Writer) error { return gen.Nginx(w, spec(1)) },
		func(w io.Writer) error {
			s := spec(2)
			s.AlertPercent = 10
			return gen.Eve(w, s)
		},
		func(w io.Writer) error { return gen.FastLog(w, spec(3)) },
	}
	for i := range c.logs {
		c.logs[i].Path = filepath.Join(dir, c.logs[i].Name)
		if err := writeFile(c.logs[i].Path, writers[i]); err != nil {
			return nil, err
		}
	}
	if floodAddrs > 0 {
		const per = 2
		c.flood = logFile{Name: "flood.log", Format: "syslog", Path: filepath.Join(dir, "flood.log"), Lines: floodAddrs * per}
		if err := writeFile(c.flood.Path, func(w io.Writer) error { return gen.AuthFlood(w, floodAddrs, per) }); err != nil {
			return nil, err
		}
		c.small = logFile{Name: "small.log", Format: "syslog", Path: filepath.Join(dir, "small.log"), Lines: 1000}
		if err := writeFile(c.small.Path, func(w io.Writer) error { return gen.AuthFlood(w, 500, per) }); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// Year-less syslog stamps take the latest year that does not put a
	// line after the file's modification time.
	mt := gen.Start.AddDate(0, 1, 0)
	return os.Chtimes(path, mt, mt)
}
