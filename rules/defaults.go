package rules

import (
	"bytes"
	"embed"
	"io/fs"

	"github.com/stockade-ids/stockade/pipeline"
)

// defaultV6Count is the IPv6 prefix a rule counts failures by unless it
// says otherwise (v6_count_prefix): one end site's /64, which its owner
// can fill with as many addresses as it likes.
const defaultV6Count = 64

//go:embed packs/*.yaml
var defaultPacks embed.FS

// DefaultPacks returns the packs built into the binary (rules/packs/ in the
// source tree), parsed without their `tests:` (see untested).
func DefaultPacks() ([]*Pack, error) { return DefaultPacksFor(nil) }

// DefaultPacksFor is DefaultPacks for sources of the formats named (nil:
// of any, as DefaultPacks): a rule that can see no event of theirs is
// read, with its name and switches, but not compiled, and a Set leaves
// it out. A replay knows its files' formats before its first line, and
// compiling every rule of the built-in packs was most of its start (a
// Suricata log reads 2 of their rules). Only the built-in packs are
// loaded so: their every rule compiles in this package's tests, while a
// pack of one's own is refused whole, whatever log it is given.
func DefaultPacksFor(formats []pipeline.Format) ([]*Pack, error) {
	sub, err := fs.Sub(defaultPacks, "packs")
	if err != nil {
		return nil, err
	}
	return loadFS(untested{sub}, ".", formats)
}

// untested reads the built-in packs with their top-level `tests:` block
// blanked (`tests: []` and empty lines, so every other line keeps its
// number and a position its place): five sixths of their bytes are test
// lines, which a load only checked to be a list and `stockade test` reads
// from the files themselves (packtest), and decoding them was two fifths
// of every start's and reload's YAML. TestDefaultPacksUntested checks that
// each pack parses to the same rules either way.
type untested struct{ fs.FS }

func (u untested) ReadFile(name string) ([]byte, error) {
	data, err := fs.ReadFile(u.FS, name)
	if err != nil {
		return nil, err
	}
	return withoutTests(data), nil
}

// withoutTests is data with its top-level `tests:` key's value left out.
// A top-level line starts with neither a space, a tab nor a comment; the
// block runs to the next one. A line of a block scalar inside it is
// indented, so it never ends the block early.
func withoutTests(data []byte) []byte {
	out := make([]byte, 0, len(data))
	in := false
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line = data[:i+1]
		}
		data = data[len(line):]
		if top := len(line) > 0 && line[0] != ' ' && line[0] != '\t' && line[0] != '#' && line[0] != '\n' && line[0] != '\r'; top {
			in = bytes.HasPrefix(line, []byte("tests:"))
			if in {
				out = append(out, "tests: []"...)
				if line[len(line)-1] == '\n' {
					out = append(out, '\n')
				}
				continue
			}
		}
		if in {
			if line[len(line)-1] == '\n' {
				out = append(out, '\n')
			}
			continue
		}
		out = append(out, line...)
	}
	return out
}

// DefaultFS exposes the embedded packs, e.g. for `stockade packs dump`.
func DefaultFS() fs.FS {
	sub, _ := fs.Sub(defaultPacks, "packs")
	return sub
}
