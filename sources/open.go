package sources

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"github.com/stockade-ids/stockade/pipeline"
)

// readBuffer is the size of a Reader's buffer; detection looks at up to
// headSize of it.
const (
	readBuffer = 256 << 10
	headSize   = 64 << 10
)

// The reasons OpenReader cannot tell a format.
var (
	ErrEmpty        = errors.New("empty: cannot detect its format")
	ErrUndetectable = errors.New("cannot detect the log format from the first lines")
	// ErrArchive is a log compressed other than by gzip (logrotate's
	// compresscmd set to xz, zstd or bzip2): a log left unread, not a
	// file that is no log.
	ErrArchive = errors.New("not read: only gzip archives are (decompress it first)")
)

// archives are the magic bytes of the compressed formats OpenReader does
// not read.
var archives = []struct {
	kind  string
	magic string
}{
	{"xz", "\xfd7zXZ\x00"},
	{"zstd", "\x28\xb5\x2f\xfd"},
	{"bzip2", "BZh"},
	{"lz4", "\x04\x22\x4d\x18"},
	{"compress (.Z)", "\x1f\x9d"},
}

// Reader is a log opened for reading: gunzipped when it was gzip (known by
// its magic bytes, not its name), with its format.
type Reader struct {
	*bufio.Reader
	Format pipeline.Format
	// Docker: the log is Docker's json-file; Format is that of the lines
	// its records hold (see Decoder.SetDocker).
	Docker bool
	gz     *gzip.Reader
}

// OpenReader opens the log that r reads, gunzipping it when it is gzip,
// and detects its format from its first lines unless format is given. A
// Docker json-file log is known as such whatever the format given, and the
// format detected is that of the lines its records hold. It
// fails with ErrEmpty or ErrUndetectable when it cannot tell the format,
// with ErrArchive for a log compressed other than by gzip, and with
// gzip's error for a broken gzip header.
func OpenReader(r io.Reader, format pipeline.Format) (*Reader, error) {
	return openReader(r, format, readBuffer)
}

// openReader is OpenReader with buffers of size bytes (at least headSize).
func openReader(r io.Reader, format pipeline.Format, size int) (*Reader, error) {
	br := bufio.NewReaderSize(r, size)
	rd := &Reader{Reader: br, Format: format}
	magic, _ := br.Peek(6)
	for _, a := range archives {
		if bytes.HasPrefix(magic, []byte(a.magic)) && (a.kind != "bzip2" || len(magic) > 3 && magic[3] >= '1' && magic[3] <= '9') {
			return nil, fmt.Errorf("%s-compressed, %w", a.kind, ErrArchive)
		}
	}
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		rd.gz = gz
		rd.Reader = bufio.NewReaderSize(gz, size)
	}
	head, _ := rd.Peek(headSize)
	if inner, ok := DockerHead(head); ok {
		rd.Docker, head = true, inner
	}
	if rd.Format == pipeline.FormatUnknown {
		if rd.Format = Detect(head); rd.Format == pipeline.FormatUnknown {
			rd.Close()
			if len(bytes.TrimSpace(head)) == 0 {
				return nil, ErrEmpty
			}
			return nil, ErrUndetectable
		}
	}
	return rd, nil
}

// Close releases the gzip reader; the underlying reader is the caller's.
func (r *Reader) Close() error {
	if r.gz != nil {
		return r.gz.Close()
	}
	return nil
}
