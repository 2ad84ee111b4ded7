// Package testcorpus finds the shared corpus of real logs written by others
// (../shared/corpus beside the repository, or $STOCKADE_CORPUS). Tests and
// benchmarks read it in place; it is never copied into the project.
package testcorpus

import (
	"os"
	"path/filepath"
	"testing"
)

// Root returns the corpus directory, or "" when there is none.
func Root() string {
	if d := os.Getenv("STOCKADE_CORPUS"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			c := filepath.Join(dir, "..", "shared", "corpus")
			if fi, err := os.Stat(c); err == nil && fi.IsDir() {
				return c
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Path returns the corpus file or directory rel (slash-separated), skipping
// tb with a clear message when the corpus or that entry is absent.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	root := Root()
	if root == "" {
		tb.Skip("shared corpus not found: set STOCKADE_CORPUS or place it at ../shared/corpus beside the repository")
	}
	p := filepath.Join(root, filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("corpus entry %s absent: %v", rel, err)
	}
	return p
}
