package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestProgressBarBounds: a count past the file's size (a split file's head
// is read twice) or below zero draws a full or empty bar; it once panicked
// in strings.Repeat and killed the replay before its decisions were written.
func TestProgressBarBounds(t *testing.T) {
	for _, c := range []struct {
		read, size int64
		want       string
	}{
		{150, 100, "[" + strings.Repeat("=", 30) + "] 100%"},
		{-5, 100, "[" + strings.Repeat(" ", 30) + "]   0%"},
		{50, 100, "[" + strings.Repeat("=", 15) + strings.Repeat(" ", 15) + "]  50%"},
		{10, 0, "[" + strings.Repeat(" ", 30) + "]   0%"},
	} {
		if got := progressBar(c.read, c.size, time.Second); !strings.Contains(got, c.want) {
			t.Errorf("progressBar(%d, %d) = %q, want it to hold %q", c.read, c.size, got, c.want)
		}
	}
}

// TestDevNullIsNoTerminal: /dev/null is a character device but no terminal;
// `replay 2>/dev/null` drew its bar there (and so met the panic above).
func TestDevNullIsNoTerminal(t *testing.T) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("/dev/null taken for a terminal")
	}
}
