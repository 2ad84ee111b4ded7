package rules

import (
	"embed"
	"io/fs"
)

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
