package sources

import (
	"bytes"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/stockade-ids/stockade/pipeline"
)

// Docker's json-file logging driver (/var/lib/docker/containers/ID/ID-json.log)
// writes each line a container prints as one JSON object:
//
//	{"log":"203.0.113.5 - - [...] \"GET / HTTP/1.1\" 200 ...\n","stream":"stdout","time":"2025-11-08T22:00:01.123456789Z"}
//
// The Decoder unwraps it and judges the inner line in its own format,
// dated by time (the daemon's clock when the line was read, in UTC and
// to the nanosecond).

// Bad-line reasons of the Docker wrapper.
var (
	errDockerJSON    = pipeline.Bad("bad docker record")
	errDockerTime    = pipeline.Bad("bad docker time")
	errDockerPartial = pipeline.Bad("docker partial line")
)

// dockerPrefix is how every json-file record starts: the driver's struct
// writes log first.
var dockerPrefix = []byte(`{"log":"`)

// SniffDocker reports whether line is a json-file record.
func SniffDocker(line []byte) bool {
	var buf []byte
	_, _, err := unwrapDocker(line, &buf)
	return err == nil || err == errDockerPartial
}

// unwrapDocker returns the line a json-file record holds, unescaped into
// *buf (reused), without its newline, and the record's time. A record whose
// log does not end in a newline is a piece of a line longer than the
// driver's buffer (16 KiB): it is refused (errDockerPartial), counted, as
// the pieces of a line too long to parse.
func unwrapDocker(line []byte, buf *[]byte) ([]byte, time.Time, error) {
	line = bytes.TrimRight(line, "\r ")
	if !bytes.HasPrefix(line, dockerPrefix) || line[len(line)-1] != '}' {
		return nil, time.Time{}, errDockerJSON
	}
	inner, rest, ok := jsonString(line[len(dockerPrefix):], (*buf)[:0])
	if !ok {
		return nil, time.Time{}, errDockerJSON
	}
	*buf = inner
	i := bytes.Index(rest, []byte(`"time":"`))
	if i < 0 {
		return nil, time.Time{}, errDockerJSON
	}
	ts := rest[i+len(`"time":"`):]
	e := bytes.IndexByte(ts, '"')
	if e < 0 {
		return nil, time.Time{}, errDockerJSON
	}
	t, err := time.Parse(time.RFC3339Nano, pipeline.UnsafeString(ts[:e]))
	if err != nil || t.Year() < 1970 {
		return nil, time.Time{}, errDockerTime
	}
	if len(inner) == 0 || inner[len(inner)-1] != '\n' {
		return nil, time.Time{}, errDockerPartial
	}
	inner = inner[:len(inner)-1]
	if n := len(inner); n > 0 && inner[n-1] == '\r' {
		inner = inner[:n-1]
	}
	return inner, t, nil
}

// jsonString decodes the JSON string whose content starts b (after its
// opening quote), appending it to out; rest is what follows the closing
// quote.
func jsonString(b, out []byte) (s, rest []byte, ok bool) {
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			return out, b[i+1:], true
		case c < 0x20:
			return nil, nil, false
		case c != '\\':
			j := i + 1
			for j < len(b) && b[j] != '"' && b[j] != '\\' && b[j] >= 0x20 {
				j++
			}
			out = append(out, b[i:j]...)
			i = j
			continue
		}
		if i+1 >= len(b) {
			return nil, nil, false
		}
		switch e := b[i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, n := jsonRune(b[i:])
			if n == 0 {
				return nil, nil, false
			}
			out = utf8.AppendRune(out, r)
			i += n
			continue
		default:
			return nil, nil, false
		}
		i += 2
	}
	return nil, nil, false
}

// jsonRune decodes `\uXXXX`, or a surrogate pair of two, at the start of
// b; n is the bytes read, 0 when malformed.
func jsonRune(b []byte) (rune, int) {
	r, ok := hex4(b)
	if !ok {
		return 0, 0
	}
	if utf16.IsSurrogate(r) {
		if r2, ok := hex4(b[6:]); ok {
			if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
				return d, 12
			}
		}
		return utf8.RuneError, 6
	}
	return r, 6
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range b[2:6] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// DockerHead reports whether head, the first bytes of a log, is a
// json-file log (most of its first lines are records), and returns the
// lines its records hold, for detecting their format.
func DockerHead(head []byte) ([]byte, bool) {
	var inner, buf []byte
	n, docker := 0, 0
	for len(head) > 0 && n < DetectLines {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		n++
		in, _, err := unwrapDocker(line, &buf)
		if err == nil {
			inner = append(append(inner, in...), '\n')
		}
		if err == nil || err == errDockerPartial {
			docker++
		}
	}
	if n == 0 || docker*2 <= n {
		return nil, false
	}
	return inner, true
}

// SetDocker makes the Decoder unwrap Docker json-file records (see
// DockerHead) and judge the line each holds in the Decoder's format.
func (d *Decoder) SetDocker(on bool) { d.docker = on }

// unwrap is Decode's first step for a Docker log: the record's line, or
// a bad line.
func (d *Decoder) unwrap(line []byte) ([]byte, time.Time, error) {
	return unwrapDocker(line, &d.dockerBuf)
}
