package sources

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stockade-ids/stockade/internal/gen"
	"github.com/stockade-ids/stockade/pipeline"
)

// TestReadLine: File hands out every line as the stream holds
// it, CR LF and a last line without newline included, counts each line
// over MaxLine (newline included) once as too long, whatever its length
// against the block, and keeps the offset at the end of the line handed
// out, however the reader delivers the bytes.
func TestReadLine(t *testing.T) {
	const blockSize = readBuffer // the reader's buffer
	var data bytes.Buffer
	add := func(n int, c byte, eol string) {
		data.WriteString(strings.Repeat(string(c), n))
		data.WriteString(eol)
	}
	add(10, 'a', "\n")
	add(0, 'x', "\n")
	add(20, 'b', "\r\n")
	add(MaxLine-1, 'c', "\n")     // the longest line read
	add(MaxLine, 'd', "\n")       // one over, with its newline
	add(blockSize+3, 'e', "\n")   // longer than a block
	add(3*blockSize+7, 'f', "\n") // several blocks
	add(MaxLine-2, 'g', "\r\n")   // its CR counts
	add(MaxLine-1, 'h', "\r\n")   // one over by its CR
	add(blockSize-1, 'i', "\n")   // the block holds it but it is too long
	add(5, 'j', "\n")
	add(MaxLine+1, 'k', "") // the last line, too long, no newline
	type want struct {
		line   string
		tooLng bool
		offset int64
	}
	var wants []want
	wantFor := func(b []byte) []want {
		var ws []want
		var off int64
		for len(b) > 0 {
			i := bytes.IndexByte(b, '\n')
			piece := b
			if i >= 0 {
				piece = b[:i+1]
			}
			b = b[len(piece):]
			off += int64(len(piece))
			if len(piece) > MaxLine {
				ws = append(ws, want{tooLng: true, offset: off})
				continue
			}
			ws = append(ws, want{line: string(trimEOL(piece)), offset: off})
		}
		return ws
	}
	for _, tail := range []string{"", "last line\n", "last line"} {
		all := append(bytes.Clone(data.Bytes()), tail...)
		wants = wantFor(all)
		for name, r := range map[string]func() io.Reader{
			"whole":   func() io.Reader { return bytes.NewReader(all) },
			"onebyte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(all)) },
			"half":    func() io.Reader { return iotest.HalfReader(bytes.NewReader(all)) },
		} {
			f, err := OpenStream("test", r(), Options{Format: pipeline.FormatPlain})
			if err != nil {
				t.Fatal(err)
			}
			var bad uint64
			for i, w := range wants {
				line, err := f.readLine()
				if err != nil {
					t.Fatalf("%s %q: line %d: %v", name, tail, i, err)
				}
				if w.tooLng {
					bad++
				}
				got := f.Counts().Bad[ReasonTooLong]
				switch {
				case w.tooLng && line != nil, !w.tooLng && string(line) != w.line:
					t.Fatalf("%s %q: line %d: got %d bytes, want %d (too long %v)", name, tail, i, len(line), len(w.line), w.tooLng)
				case got != bad:
					t.Fatalf("%s %q: line %d: %d too long, want %d", name, tail, i, got, bad)
				case f.offset != w.offset:
					t.Fatalf("%s %q: line %d: offset %d, want %d", name, tail, i, f.offset, w.offset)
				}
			}
			if _, err := f.readLine(); err != io.EOF {
				t.Fatalf("%s %q: after the last line: %v, want io.EOF", name, tail, err)
			}
		}
	}
}

// TestReadLineError: the lines before a read error are read, then the
// error, with the log's name; the part of a line it cut is no line.
func TestReadLineError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("one\ntwo\nthr"), iotest.ErrReader(boom))
	f, err := OpenStream("test", r, Options{Format: pipeline.FormatPlain})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"one", "two"} {
		if line, err := f.readLine(); err != nil || string(line) != want {
			t.Fatalf("got %q %v, want %q", line, err, want)
		}
	}
	if line, err := f.readLine(); !errors.Is(err, boom) || line != nil || !strings.HasPrefix(err.Error(), "test: ") {
		t.Fatalf("got %q %v, want the error", line, err)
	}
}

// TestShrankWhileRead: a log truncated in place while it is read (as
// copytruncate does) reads to its new end, and Shrank says so, with the
// size it has now; a file read whole, or grown, did not shrink.
func TestShrankWhileRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.log")
	var data bytes.Buffer // about 2 MB, well past the read buffer and the cut
	if err := gen.AuthLog(&data, gen.Spec{Lines: 20000, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ev pipeline.Event
	if err := f.Next(&ev); err != nil {
		t.Fatal(err)
	}
	if _, shrank := f.Shrank(); shrank {
		t.Fatal("shrank before the truncation")
	}
	const cut = 1 << 20
	if err := os.Truncate(path, cut); err != nil {
		t.Fatal(err)
	}
	n := 1
	for {
		ev.Reset()
		err := f.Next(&ev)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n >= 20000 {
		t.Fatalf("read %d events of a file cut to %d bytes", n, cut)
	}
	now, shrank := f.Shrank()
	if !shrank || now != cut {
		t.Fatalf("Shrank() = %d, %v; want %d, true", now, shrank, cut)
	}
	if w := f.ShrankWarning(); !strings.Contains(w, fmt.Sprintf("shrank from %d to %d bytes", data.Len(), cut)) {
		t.Fatalf("ShrankWarning() = %q", w)
	}

	g, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := os.WriteFile(path, append(data.Bytes(), data.Bytes()...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, shrank := g.Shrank(); shrank || g.ShrankWarning() != "" {
		t.Fatal("a grown file shrank")
	}
}

// TestOpenReaderRefusesOtherArchives: a log compressed by xz, zstd, bzip2,
// lz4 or compress is refused as such (ErrArchive: a log left unread), not
// taken for a file that is no log, nor read as garbage lines under a
// format given.
func TestOpenReaderRefusesOtherArchives(t *testing.T) {
	for kind, data := range map[string]string{
		"xz":            "\xfd7zXZ\x00\x00\x04\xe6\xd6\xb4\x46",
		"zstd":          "\x28\xb5\x2f\xfd\x24\x00\x01\x00",
		"bzip2":         "BZh91AY&SY\x00\x00",
		"lz4":           "\x04\x22\x4d\x18\x64\x40\xa7",
		"compress (.Z)": "\x1f\x9d\x90\x41",
	} {
		for _, format := range []pipeline.Format{pipeline.FormatUnknown, pipeline.FormatSyslog} {
			_, err := OpenReader(strings.NewReader(data), format)
			if !errors.Is(err, ErrArchive) || !strings.Contains(err.Error(), kind+"-compressed") {
				t.Errorf("%s, format %v: %v, want ErrArchive naming it", kind, format, err)
			}
		}
	}
	// A log whose first line begins "BZh" but not with a block size is a log.
	if _, err := OpenReader(strings.NewReader("BZh? 2025-11-08T10:00:00Z web1 sshd[1]: Failed password for root from 203.0.113.7 port 22 ssh2\n"), pipeline.FormatSyslog); err != nil {
		t.Errorf("a line beginning BZh?: %v", err)
	}
}
