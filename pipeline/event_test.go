package pipeline

import (
	"strings"
	"testing"
	"unsafe"
)

// TestCloneKeepsFieldsInLine: a clone owns its strings (the buffer the
// line was read into may be overwritten), and the fields sliced from the
// line are slices of the clone's line, so a matcher scanning the line
// speaks for them; a field from elsewhere is a copy of its own.
func TestCloneKeepsFieldsInLine(t *testing.T) {
	buf := []byte(`203.0.113.9 - - [08/Nov/2025:22:00:00 +0000] "GET /wp-content/x.php HTTP/1.1" 404 1 "-" "curl/8"`)
	line := unsafe.String(&buf[0], len(buf))
	i := strings.Index(line, "/wp-content")
	ev := Event{Line: line, Method: line[i-4 : i-1], Path: line[i : i+len("/wp-content/x.php")],
		UserAgent: line[len(line)-7 : len(line)-1], Source: "access.log", Captures: map[string]string{"k": line[:11]}}
	c := ev.Clone()
	for i := range buf {
		buf[i] = 'x' // the reader's next line
	}
	if c.Path != "/wp-content/x.php" || c.Method != "GET" || c.UserAgent != "curl/8" || c.Line[:11] != "203.0.113.9" {
		t.Fatalf("clone %q %q %q %q", c.Method, c.Path, c.UserAgent, c.Line[:11])
	}
	lp := uintptr(unsafe.Pointer(unsafe.StringData(c.Line)))
	for _, f := range []string{c.Method, c.Path, c.UserAgent} {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(f))); p < lp || p+uintptr(len(f)) > lp+uintptr(len(c.Line)) {
			t.Errorf("field %q is not within the clone's line", f)
		}
	}
	if c.Captures["k"] != "203.0.113.9" || c.Source != "access.log" {
		t.Errorf("captures %v, source %q", c.Captures, c.Source)
	}
}
