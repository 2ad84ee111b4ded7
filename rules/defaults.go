package rules

import (
	"embed"
	"io/fs"
)

// defaultV6Count is the IPv6 prefix a rule counts failures by unless it
// says otherwise (v6_count_prefix): one end site's /64, which its owner
// can fill with as many addresses as it likes.
const defaultV6Count = 64

//go:embed packs/*.yaml
var defaultPacks embed.FS

// DefaultPacks returns the packs built into the binary (rules/packs/ in the
// source tree).
func DefaultPacks() ([]*Pack, error) {
	sub, err := fs.Sub(defaultPacks, "packs")
	if err != nil {
		return nil, err
	}
	return LoadFS(sub, ".")
}

// DefaultFS exposes the embedded packs, e.g. for `stockade packs dump`.
func DefaultFS() fs.FS {
	sub, _ := fs.Sub(defaultPacks, "packs")
	return sub
}
