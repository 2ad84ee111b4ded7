package sources

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// descriptorsUnder counts this process's descriptors open on files in dir.
func descriptorsUnder(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(l, dir+"/") {
			n++
		}
	}
	return n
}

// writeInterleaved writes files sshd logs whose lines alternate in time
// between them (file i holds seconds i, i+files, ...), the order that
// makes a merge read from every file in turn, every other one gzipped;
// the last file's first line is the only one past a buffer's worth of
// bytes into it. It returns the paths and the lines in time order.
func writeInterleaved(t *testing.T, dir string, files, lines int) ([]string, []string) {
	t.Helper()
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	var paths, all []string
	bodies := make([]strings.Builder, files)
	for j := range lines {
		for i := range files {
			ts := start.Add(time.Duration(j*files+i) * time.Second)
			l := fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from 198.51.%d.%d port 22 ssh2", ts.Format(time.Stamp), 100+i, i, j%250+1)
			bodies[i].WriteString(l + "\n")
			all = append(all, l)
		}
	}
	for i := range files {
		p := filepath.Join(dir, fmt.Sprintf("auth-%03d.log", i))
		var err error
		if i%2 == 1 {
			p += ".gz"
			var fh *os.File
			if fh, err = os.Create(p); err == nil {
				zw := gzip.NewWriter(fh)
				if _, err = io.WriteString(zw, bodies[i].String()); err == nil {
					err = zw.Close()
				}
				if cerr := fh.Close(); err == nil {
					err = cerr
				}
			}
		} else {
			err = os.WriteFile(p, []byte(bodies[i].String()), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths, all
}

// TestPoolBoundsDescriptors: 40 logs read through a Pool of 4 hold at most
// 4 descriptors at any moment, and the merge reads every line of every
// one, in time order, as it does with each file open throughout: the
// worst order, each line from another file, plain and gzipped, each read
// over several of the reader's buffers.
func TestPoolBoundsDescriptors(t *testing.T) {
	dir := t.TempDir()
	const files, lines = 40, 3000 // about 300 KB a file
	paths, want := writeInterleaved(t, dir, files, lines)

	pool := NewPool(4)
	opt := Options{Format: pipeline.FormatSyslog, Loc: time.UTC, Ref: time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC), Pool: pool}
	its := make([]pipeline.Iterator, 0, files)
	var opened []*File
	for _, p := range paths {
		f, err := Open(p, opt)
		if err != nil {
			t.Fatal(err)
		}
		if f.rd.Size() != headSize {
			t.Fatalf("%s: a buffer of %d bytes; a file that waits its turn holds %d", p, f.rd.Size(), headSize)
		}
		opened = append(opened, f)
		its = append(its, f)
		if n := descriptorsUnder(t, dir); n > 4 {
			t.Fatalf("%d descriptors open after opening %d files", n, len(opened))
		}
	}
	m, err := pipeline.NewMerge(its)
	if err != nil {
		t.Fatal(err)
	}
	most, got := 0, 0
	for {
		ev, _, err := m.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if got < len(want) && ev.Line != want[got] {
			t.Fatalf("line %d: %q, want %q", got, ev.Line, want[got])
		}
		got++
		if got%97 == 0 {
			most = max(most, descriptorsUnder(t, dir))
		}
	}
	if got != len(want) {
		t.Fatalf("%d lines read, want %d", got, len(want))
	}
	if most > 4 || pool.Open() > 4 {
		t.Fatalf("up to %d descriptors open while reading (the pool counts %d), want at most 4", most, pool.Open())
	}
	for _, f := range opened {
		if _, shrank := f.Shrank(); shrank {
			t.Errorf("%s said to have shrunk", f.Path)
		}
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	}
	if n := descriptorsUnder(t, dir); n != 0 || pool.Open() != 0 {
		t.Fatalf("%d descriptors left open after Close (the pool counts %d)", n, pool.Open())
	}
}

// TestPoolFileReplaced: a file parked, then replaced by another of the
// same name before its turn came, is an error at its next read, not the
// other file's lines read from the old one's offset.
func TestPoolFileReplaced(t *testing.T) {
	dir := t.TempDir()
	paths, _ := writeInterleaved(t, dir, 2, 20000) // plain file 0 past one buffer
	pool := NewPool(1)
	opt := Options{Format: pipeline.FormatSyslog, Loc: time.UTC, Ref: time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC), Pool: pool}
	a, err := Open(paths[0], opt)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(paths[1], opt) // parks a
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := os.Rename(paths[0], paths[0]+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(paths[0], []byte(strings.Repeat("Mar  1 00:00:00 web1 sshd[1]: Accepted password for x from 203.0.113.1 port 22 ssh2\n", 5000)), 0o644); err != nil {
		t.Fatal(err)
	}
	var ev pipeline.Event
	for {
		err = a.Next(&ev)
		if err != nil {
			break
		}
		if strings.Contains(ev.Line, "203.0.113.1") {
			t.Fatal("read the replacement's lines")
		}
	}
	if errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "replaced") {
		t.Fatalf("reading past the buffer of a replaced file: %v, want an error saying it was replaced", err)
	}
}

// TestPoolKeepsPipes: a pipe among the files of a Pool (`replay <(zcat
// …)`) is never parked: closed, its writer would be cut off and its
// lines lost, and it cannot be opened again where it was.
func TestPoolKeepsPipes(t *testing.T) {
	dir := t.TempDir()
	paths, _ := writeInterleaved(t, dir, 2, 20000)
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	const lines = 20000
	done := make(chan error, 1)
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			done <- err
			return
		}
		var b strings.Builder
		for j := range lines {
			fmt.Fprintf(&b, "Mar  1 00:%02d:%02d web1 sshd[9]: Failed password for root from 203.0.113.%d port 22 ssh2\n", j/60%60, j%60, j%250+1)
		}
		_, err = io.WriteString(w, b.String())
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	pool := NewPool(1)
	opt := Options{Format: pipeline.FormatSyslog, Loc: time.UTC, Ref: time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC), Pool: pool}
	p, err := Open(fifo, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var files []*File
	for _, path := range paths {
		f, err := Open(path, opt)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	// Read the pipe and the files in turn, a buffer's worth at a time.
	n := 0
	var ev pipeline.Event
	for more := true; more; {
		more = false
		for i := 0; i < 500; i++ {
			if err := p.Next(&ev); err == nil {
				n++
				more = true
			} else if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			for _, f := range files {
				if err := f.Next(&ev); err == nil {
					more = true
				} else if !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
			}
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("the pipe's writer: %v", err)
	}
	if n != lines {
		t.Fatalf("%d of the pipe's %d lines read", n, lines)
	}
}

// TestPoolConcurrentOpens: files opened and read on several goroutines at
// once (a parallel replay's readers): a file holding a descriptor always
// holds one of the pool's places, so the descriptors never outnumber them.
// A file being opened was in the pool's list before it had its
// descriptor, and another file's reserve could take it for one to park,
// leaving it open and uncounted. (Counting /proc/self/fd from several
// goroutines is no measure here: one listing's own descriptor is reused
// by a file before another reads the links.)
func TestPoolConcurrentOpens(t *testing.T) {
	dir := t.TempDir()
	paths, _ := writeInterleaved(t, dir, 48, 400)
	pool := NewPool(3)
	opt := Options{Format: pipeline.FormatSyslog, Loc: time.UTC, Ref: time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC), Pool: pool}
	uncounted := func(f *File) bool {
		k := f.f.(*parkable)
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.fh != nil && k.elem == nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(paths))
	var bad atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < len(paths); i += 8 {
				f, err := Open(paths[i], opt)
				if err != nil {
					errs <- err
					return
				}
				if uncounted(f) {
					bad.Add(1)
				}
				var ev pipeline.Event
				for {
					if err := f.Next(&ev); err != nil {
						if !errors.Is(err, io.EOF) {
							errs <- err
						}
						break
					}
					if uncounted(f) {
						bad.Add(1)
					}
				}
				f.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if bad.Load() > 0 || pool.Open() != 0 {
		t.Fatalf("%d times a file held a descriptor outside the pool's count (%d still counted after Close)", bad.Load(), pool.Open())
	}
	if n := descriptorsUnder(t, dir); n != 0 {
		t.Fatalf("%d descriptors left open", n)
	}
}
