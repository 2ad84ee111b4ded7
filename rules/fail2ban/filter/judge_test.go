package filter

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/rules/fail2ban/datepattern"
	"github.com/stockade-ids/stockade/rules/regex"
)

// sshdLike is a connection-tracking filter in the shape of fail2ban's
// sshd: a prefregex naming the connection (<F-MLFID>), a helper line that
// gives the address (<F-NOFAIL>), a failure and a close that forgets it.
func sshdLike(t testing.TB) *Filter {
	t.Helper()
	compile := func(src string) *regex.Regex {
		re, err := Compile(src, "no", true)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		return re
	}
	dates, err := datepattern.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Filter{
		Dates:    dates,
		Pref:     compile(`^<F-MLFID>\s*\S+ sshd\[\d+\]: </F-MLFID>\s*<F-CONTENT>.+</F-CONTENT>$`),
		MaxLines: 1,
		Fail: []*regex.Regex{
			compile(`^Failed password for <F-USER>\S+</F-USER> from <HOST> port \d+`),
			compile(`^<F-NOFAIL>Connection from</F-NOFAIL> <HOST>`),
			compile(`^Disconnecting: Too many authentication failures for <F-USER>\S+</F-USER>`),
			compile(`^<F-NOFAIL><F-MLFFORGET>Connection closed</F-MLFFORGET></F-NOFAIL> by <ADDR>`),
		},
	}
}

// TestJudgeRecyclesConnections: more connections than the cache holds,
// interleaved, each a helper line with the address then a failure
// without one. The failures of connections the cache dropped, and of
// lines it never kept, are reused for later ones: every failure must
// still carry its own connection's lines, user and address, and nothing
// of another's. A Failure cloned stays as it was while the session goes
// on.
func TestJudgeRecyclesConnections(t *testing.T) {
	f := sshdLike(t)
	s := f.NewSession()
	at := time.Date(2025, 8, 14, 11, 0, 0, 0, time.UTC)
	judge := func(line string) Result {
		return s.Judge(Line{Text: line, FindDate: true}, at, time.UTC)
	}
	opening := func(c int) string {
		return fmt.Sprintf("Aug 14 11:00:00 srv sshd[%d]: Connection from 192.0.2.%d port 22", c, c%250+1)
	}
	const conns, open = 400, 60 // open: connections between a helper line and its failure
	var first *Failure
	for c := range conns + open {
		if c < conns {
			if res := judge(opening(c)); res.Outcome != Helper {
				t.Fatalf("connection %d: helper line judged %v", c, res.Outcome)
			}
		}
		d := c - open
		if d < 0 {
			continue
		}
		fail := fmt.Sprintf("Aug 14 11:00:00 srv sshd[%d]: Disconnecting: Too many authentication failures for user%d", d, d)
		res := judge(fail)
		if res.Outcome != Found || res.Addr.String() != fmt.Sprintf("192.0.2.%d", d%250+1) {
			t.Fatalf("connection %d: %v %v, want its address found", d, res.Outcome, res.Addr)
		}
		got := res.Failure
		if want := []string{opening(d), fail}; !slices.Equal(got.Lines, want) {
			t.Fatalf("connection %d: lines %q, want %q", d, got.Lines, want)
		}
		if want := []string{fmt.Sprintf("user%d", d)}; !slices.Equal(got.Users, want) || field(got, "user") != want[0] {
			t.Fatalf("connection %d: users %q, user field %q, want %q", d, got.Users, field(got, "user"), want)
		}
		if first == nil {
			first = got.Clone()
		}
	}
	if first.ID != "192.0.2.1" || field(first, "user") != "user0" || len(first.Lines) != 2 || first.Lines[0] != opening(0) {
		t.Fatalf("the clone of the first failure changed: %+v", first)
	}
}

// TestJudgeKeepsDateInside: a line whose date is inside it (the text
// the regexes search is then no tail of the line): the failure carries
// the line as written, the groups the line's words.
func TestJudgeKeepsDateInside(t *testing.T) {
	s := sshdLike(t).NewSession()
	line := "srv sshd[9]: Aug 14 11:00:00 Failed password for root from 192.0.2.9 port 22 ssh2"
	res := s.Judge(Line{Text: line, FindDate: true}, time.Date(2025, 8, 14, 12, 0, 0, 0, time.UTC), time.UTC)
	if res.Outcome != Found || res.Failure.Time.Hour() != 11 {
		t.Fatalf("%v at %v, want a failure dated 11:00", res.Outcome, res.Failure)
	}
	if f := res.Failure; !slices.Equal(f.Lines, []string{line}) || field(f, "user") != "root" || field(f, "ip4") != "192.0.2.9" {
		t.Fatalf("failure %+v", f)
	}
}

// TestJudgeHitAllocations: a failure costs a share of one allocation,
// the chunk the copy of its line the connection keeps is carved from
// (several lines to a chunk); the failure (its dict of groups) and the
// Failure are reused.
func TestJudgeHitAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not counted under the race detector (sync.Pool drops items)")
	}
	s := sshdLike(t).NewSession()
	at := time.Date(2025, 8, 14, 11, 0, 0, 0, time.UTC)
	lines := make([]string, 200)
	for i := range lines {
		lines[i] = fmt.Sprintf("Aug 14 11:00:00 srv sshd[%d]: Failed password for root from 192.0.2.%d port 22 ssh2", i, i+1)
	}
	i := 0
	judge := func() {
		if res := s.Judge(Line{Text: lines[i%len(lines)], FindDate: true}, at, time.UTC); res.Outcome != Found {
			t.Fatalf("%q: %v", lines[i%len(lines)], res.Outcome)
		}
		i++
	}
	for range 2 * mlfMax {
		judge() // the cache full, its failures dropped to be reused
	}
	if n := testing.AllocsPerRun(500, judge); n > 0.25 {
		t.Errorf("%.2f allocations per failure, want a chunk per several", n)
	}
}

func field(f *Failure, name string) string {
	v, _ := f.Field(name)
	return v
}

// BenchmarkJudgeConnections: failures of a new connection each (sshd's
// pid), as an attack's lines come: each line looks its connection up,
// keeps it, and the full cache drops its oldest.
func BenchmarkJudgeConnections(b *testing.B) {
	f := sshdLike(b)
	s := f.NewSession()
	at := time.Date(2025, 8, 14, 11, 0, 0, 0, time.UTC)
	var lines []string
	for c := range 1000 {
		lines = append(lines, fmt.Sprintf("Aug 14 11:00:00 srv sshd[%d]: Failed password for root from 192.0.2.%d port 22", 1000+c, c%250+1))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if res := s.Judge(Line{Text: lines[i%len(lines)], FindDate: true}, at, time.UTC); res.Outcome != Found {
			b.Fatalf("%q: %v", lines[i%len(lines)], res.Outcome)
		}
		i++
	}
}
