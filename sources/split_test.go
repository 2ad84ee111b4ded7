package sources

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
)

// readAll reads f with Next: each event as text, and the counts.
func readAll(t *testing.T, f *File) ([]string, Counts) {
	t.Helper()
	var out []string
	for {
		var ev pipeline.Event
		err := f.Next(&ev)
		if errors.Is(err, io.EOF) {
			return out, f.Counts()
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, eventText(&ev))
	}
}

func eventText(ev *pipeline.Event) string {
	return fmt.Sprintf("%s %s %s %d %s %q %q %d %s", ev.Time.Format(time.RFC3339Nano), ev.Source, ev.Format, ev.Offset, ev.Addr, ev.Program, ev.User, ev.Status, ev.Line)
}

// readChunked reads f in chunks, decoding them last chunk first, so that
// every chunk is decoded before the ones before it settle (the worst case
// of a parallel replay), then settles them in file order, decoding again
// those that do not stand. It returns the events, the counts and how
// many chunks were decoded again.
func readChunked(t *testing.T, f *File) ([]string, Counts, int, int) {
	t.Helper()
	var chunks []pipeline.Chunk
	for {
		c, err := f.NextChunk()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, c)
	}
	decode := func(c pipeline.Chunk) []string {
		var out []string
		for {
			var ev pipeline.Event
			err := c.Next(&ev)
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, eventText(&ev))
		}
	}
	evs := make([][]string, len(chunks))
	for i := len(chunks) - 1; i >= 0; i-- {
		evs[i] = decode(chunks[i])
	}
	var out []string
	again := 0
	for i, c := range chunks {
		for tries := 0; !c.Settle(); tries++ {
			if tries > 0 {
				t.Fatalf("chunk %d does not settle when decoded again", i)
			}
			again++
			evs[i] = decode(c)
		}
		out = append(out, evs[i]...)
		c.Release()
	}
	return out, f.Counts(), len(chunks), again
}

// TestFileChunks: a file read in chunks, decoded out of order, gives the
// events (times, offsets, fields) and the counts of the file read line by
// line, whatever its line endings, blank lines, lines too long, last line
// without an end, gzip, and what an access log's parser learns from its
// lines.
func TestFileChunks(t *testing.T) {
	syslogLine := func(i int) string {
		return fmt.Sprintf("Nov  8 22:%02d:%02d host sshd[%d]: Failed password for root from 203.0.113.%d port 22 ssh2", i/60%60, i%60, 100+i%7, i%250)
	}
	var sys strings.Builder
	n := 3 * chunkSize / 100 // lines of about 100 bytes: three chunks, and the long lines
	for i := range n {
		switch i {
		case 10:
			sys.WriteString("\n\n\r\n") // blank lines, not counted
		case n / 4:
			// Around MaxLine, counted with the terminator as Next does.
			for _, n := range []int{MaxLine - 2, MaxLine - 1, MaxLine, MaxLine + 1} {
				sys.WriteString(syslogLine(i) + " " + strings.Repeat("x", n-len(syslogLine(i))-1) + "\n")
			}
		case n / 3:
			sys.WriteString(strings.Repeat("y", chunkSize+1000) + "\n") // longer than a chunk
		case n / 2:
			sys.WriteString(strings.Repeat("z", 3*chunkSize) + "\n")
		case 2 * n / 3:
			sys.WriteString("not syslog at all\r\n")
		}
		sys.WriteString(syslogLine(i))
		if i%3 == 0 {
			sys.WriteString("\r")
		}
		if i < n-1 {
			sys.WriteString("\n") // the last line has no end
		}
	}

	// Lines of every length around the limits, at random places: the
	// chunks' edges fall anywhere in them.
	var random strings.Builder
	r := rand.New(rand.NewPCG(19, 6))
	for i := 0; random.Len() < 4*chunkSize; i++ {
		n := 20 + r.IntN(200)
		switch r.IntN(40) {
		case 0:
			n = MaxLine - 3 + r.IntN(6)
		case 1:
			n = 0
		case 2:
			n = MaxLine + r.IntN(3*MaxLine)
		}
		line := syslogLine(i)
		if n > len(line) {
			line += strings.Repeat("w", n-len(line))
		}
		random.WriteString(line[:min(len(line), max(n, 0))])
		random.WriteString([]string{"\n", "\r\n"}[r.IntN(2)])
	}

	// An access log whose first chunk teaches its parser that a field
	// precedes the client address; the later chunks hold lines that read
	// two ways, refused once that is known.
	var web strings.Builder
	for i := 0; web.Len() < 3*chunkSize+chunkSize/2; i++ {
		if i == 100 {
			web.WriteString(`- 192.0.2.10 - - [08/Nov/2025:22:00:00 +0100] "GET / HTTP/1.1" 200 10 "-" "x"` + "\n")
		}
		if i%500 == 7 {
			web.WriteString(`203.0.113.9 - 1.2.3.4 - x [08/Nov/2025:22:00:01 +0100] "GET / HTTP/1.1" 401 10 "-" "x"` + "\n")
		}
		fmt.Fprintf(&web, `198.51.100.%d - - [08/Nov/2025:22:%02d:%02d +0100] "GET /wp-login.php?%s HTTP/1.1" 404 10 "-" "agent"`+"\n", i%250, i/60%60, i%60, strings.Repeat("q", 40))
	}
	// The same lines through syslog, as nginx's access_log syslog: sends
	// them: the access parser inside the syslog decoder learns.
	var websys strings.Builder
	for line := range strings.Lines(web.String()) {
		websys.WriteString("Nov  8 22:00:00 web nginx: " + line)
	}

	for _, tc := range []struct {
		name, text string
		format     pipeline.Format
		gz         bool
		stream     bool // read as a stream (stdin), in order, not in place
		redecoded  bool // some chunk must be decoded again
	}{
		{"syslog", sys.String(), pipeline.FormatSyslog, false, false, false},
		{"syslog gzip", sys.String(), pipeline.FormatSyslog, true, false, false},
		{"syslog stream", sys.String(), pipeline.FormatSyslog, false, true, false},
		{"access log learns", web.String(), pipeline.FormatNginx, false, false, true},
		{"access log stream learns", web.String(), pipeline.FormatNginx, false, true, true},
		{"access lines in syslog learn", websys.String(), pipeline.FormatSyslog, false, false, true},
		{"random lengths", random.String(), pipeline.FormatSyslog, false, false, false},
		{"random lengths stream", random.String(), pipeline.FormatSyslog, false, true, false},
		{"empty", "", pipeline.FormatSyslog, false, false, false},
		{"blank", "\n\n\r\n", pipeline.FormatSyslog, false, false, false},
		{"one line, no end", "Nov  8 22:00:00 h sshd[1]: x", pipeline.FormatSyslog, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			data := []byte(tc.text)
			if tc.gz {
				var b bytes.Buffer
				z := gzip.NewWriter(&b)
				z.Write(data)
				z.Close()
				data = b.Bytes()
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			opt := Options{Format: tc.format, Ref: ref, Loc: time.UTC}
			open := func() *File {
				f, err := Open(path, opt)
				if tc.stream {
					var fh *os.File
					if fh, err = os.Open(path); err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { fh.Close() })
					f, err = OpenStream(path, fh, opt)
				}
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
				return f
			}
			want, wantCounts := readAll(t, open())
			got, gotCounts, chunks, again := readChunked(t, open())
			t.Logf("%d events, %d chunks, %d decoded again; counts %+v", len(want), chunks, again, wantCounts)
			if !slices(got, want) {
				t.Errorf("the chunks' events differ from Next's:\n%s", firstDiff(got, want))
			}
			if !reflect.DeepEqual(gotCounts, wantCounts) {
				t.Errorf("counts %+v, want %+v", gotCounts, wantCounts)
			}
			if tc.redecoded && again == 0 {
				t.Error("no chunk was decoded again: the test tests nothing")
			}
			if len(tc.text) > 2*chunkSize && chunks < 3 {
				t.Errorf("%d chunks of %d bytes", chunks, len(tc.text))
			}
		})
	}
}

func slices(a, b []string) bool { return reflect.DeepEqual(a, b) || len(a) == 0 && len(b) == 0 }

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("event %d:\n got %.300s\nwant %.300s", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("%d events, want %d", len(got), len(want))
}

// TestPlaceLenShrinksAtTheEnd: the chunks read in place cover the file
// once, in order, placeSize each until the last tailChunks of them, then
// shorter and shorter, never under an eighth of placeSize but for the
// file's last bytes, so the last chunk decoded leaves a decoder idle for
// a short time only.
func TestPlaceLenShrinksAtTheEnd(t *testing.T) {
	for _, size := range []int64{1, placeSize / 8, placeSize - 1, placeSize + 1, 3*placeSize + 17, 4 * placeSize, 100*placeSize + 12345} {
		var lens []int64
		for at := int64(0); at < size; {
			n := placeLen(size - at)
			if n <= 0 || n > placeSize {
				t.Fatalf("size %d: a chunk of %d bytes at %d", size, n, at)
			}
			lens = append(lens, n)
			at += n
			if at > size {
				t.Fatalf("size %d: chunks past the end (%d)", size, at)
			}
		}
		for i := 1; i < len(lens); i++ {
			if lens[i] > lens[i-1] {
				t.Fatalf("size %d: chunk %d of %d bytes after one of %d", size, i, lens[i], lens[i-1])
			}
			if i < len(lens)-1 && lens[i] < placeSize/8 {
				t.Fatalf("size %d: chunk %d of %d bytes, under placeSize/8 and not the last", size, i, lens[i])
			}
		}
		if last := lens[len(lens)-1]; size >= tailChunks*placeSize && last > placeSize/4 {
			t.Errorf("size %d: the last chunk is %d bytes", size, last)
		}
		if size >= 2*tailChunks*placeSize && len(lens) > int(size/placeSize)+4*tailChunks {
			t.Errorf("size %d: %d chunks", size, len(lens))
		}
	}
}
