package rules

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/stockade-ids/stockade/internal/gen"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources/nginx"
)

// TestGatePlanSameAsWalk: Match by the candidate lists' plans (bit sets
// over the list) hits what Match hits walking each rule's gate, over the
// bench's generated access log (visitors, scanners, WordPress logins)
// and its lines in upper case.
func TestGatePlanSameAsWalk(t *testing.T) {
	var buf bytes.Buffer
	if err := gen.Nginx(&buf, gen.Spec{Lines: 5000, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	planned, walked := defaultSet(t), defaultSet(t)
	walked.plans = nil
	p := nginx.New()
	var hits, judged int
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		for _, line := range []string{l, strings.ToUpper(l)} {
			var ev pipeline.Event
			if p.Parse([]byte(line), &ev) != nil {
				continue
			}
			if planned.planFor(planned.Candidates(&ev)) == nil {
				t.Fatal("the access log's candidate list has no plan")
			}
			e1, e2 := ev, ev
			got, want := hitNames(planned.Match(&e1, nil)), hitNames(walked.Match(&e2, nil))
			if !slices.Equal(got, want) {
				t.Fatalf("%s\n  planned hits %v, walked %v", line, got, want)
			}
			hits += len(got)
			judged++
		}
	}
	if hits == 0 || judged == 0 {
		t.Fatalf("%d lines, %d hits: the test shows nothing", judged, hits)
	}
}

func hitNames(hs []pipeline.Hit) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Policy.Name)
	}
	return out
}
