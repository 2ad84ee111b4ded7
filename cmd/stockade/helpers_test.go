package main

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond every 20 ms for up to limit.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sshdLine is one sshd failure for addr at t, in the ISO syslog format.
func sshdLine(t time.Time, addr string, n int) string {
	return fmt.Sprintf("%s web1 sshd[%d]: Failed password for root from %s port %d ssh2\n",
		t.UTC().Format("2006-01-02T15:04:05.000000-07:00"), 1000+n%9000, addr, 40000+n%20000)
}

// appendFile appends data to path.
func appendFile(t testing.TB, path string, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
