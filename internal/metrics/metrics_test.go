package metrics

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Hostile label values: a pack's rule name may hold anything YAML can.
var hostile = []string{"tab\there", `quote"here`, "newline\nhere", `back\slash`, "bad\xffutf8", "ok"}

func serve(t *testing.T) string {
	t.Helper()
	reg := NewRegistry("1.2.3")
	matches := Counter("stockade_rule_matches_total", "Events each rule judged an offense.", "rule")
	active := Gauge("stockade_active_bans", "Targets with a ban in force.")
	reg.MustRegister(Func(func(e *Emitter) {
		for i, r := range hostile {
			e.Emit(matches, float64(i+1), r)
		}
		e.Emit(active, 1e6)
	}))
	srv, err := Serve("127.0.0.1:0", reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return "http://" + srv.Addr + "/metrics"
}

func scrape(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestScrapeHostileLabels(t *testing.T) {
	body := scrape(t, serve(t))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v\n%s", err, body)
	}
	got := map[string]float64{}
	for _, m := range fams["stockade_rule_matches_total"].GetMetric() {
		got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
	}
	for i, r := range hostile {
		want := strings.ToValidUTF8(r, "\uFFFD")
		if got[want] != float64(i+1) {
			t.Errorf("rule %q: %v, want %d (all: %v)", want, got[want], i+1, got)
		}
	}
	if v := fams["stockade_active_bans"].GetMetric()[0].GetGauge().GetValue(); v != 1e6 {
		t.Errorf("active bans %v", v)
	}
	bi := fams["stockade_build_info"]
	if bi == nil || bi.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Fatalf("no stockade_build_info in\n%s", body)
	}
	labels := map[string]string{}
	for _, l := range bi.GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["version"] != "1.2.3" || !strings.HasPrefix(labels["goversion"], "go") {
		t.Errorf("build info labels %v", labels)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		if fams[name] == nil {
			t.Errorf("no %s: the Go or process collector is missing", name)
		}
	}
}

// TestPromtoolCheckMetrics: Prometheus's own linter accepts the scrape.
func TestPromtoolCheckMetrics(t *testing.T) {
	PromtoolCheck(t, scrape(t, serve(t)))
}

// PromtoolCheck runs `promtool check metrics` on a scrape, or skips
// saying how to get promtool.
func PromtoolCheck(t *testing.T, body []byte) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("skipping: needs promtool (Debian package prometheus; CI installs it)")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\nscrape:\n%s", err, out, body)
	}
}
