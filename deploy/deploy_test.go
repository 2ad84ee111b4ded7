// Package deploy holds no code: its tests check the monitoring files
// shipped beside the configurations (the Grafana dashboard, the
// Prometheus alert rules) against the metrics stockade exposes.
package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

type panel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	Targets    []struct {
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
}

type dashboard struct {
	Editable   bool    `json:"editable"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("grafana/stockade-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	return d
}

// TestDashboard: read-only, one templated Prometheus data source that every
// query uses, unique panel ids.
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.Editable {
		t.Error("the dashboard is editable; it ships read-only")
	}
	var ds bool
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			ds = true
		}
	}
	if !ds {
		t.Error("no datasource template variable of type prometheus")
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if !strings.Contains(string(p.Datasource), "${datasource}") {
			t.Errorf("panel %q: data source %s, want ${datasource}", p.Title, p.Datasource)
		}
		for _, tg := range p.Targets {
			if !strings.Contains(string(tg.Datasource), "${datasource}") {
				t.Errorf("panel %q: a query's data source is %s, want ${datasource}", p.Title, tg.Datasource)
			}
		}
	}
}

var metricName = regexp.MustCompile(`\bstockade_[a-z0-9_]+`)

// TestMetricsExist: every stockade metric the dashboard and the alerts
// query is one the code exposes, so a rename cannot leave a panel or an
// alert silently empty.
func TestMetricsExist(t *testing.T) {
	exposed := map[string]bool{}
	err := filepath.WalkDir("..", func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (e.Name() == "testdata" || strings.HasPrefix(e.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range regexp.MustCompile(`"(stockade_[a-z0-9_]+)"`).FindAllStringSubmatch(string(b), -1) {
			exposed[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	used := map[string][]string{}
	d := loadDashboard(t)
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, m := range metricName.FindAllString(tg.Expr, -1) {
				used[m] = append(used[m], "dashboard panel "+p.Title)
			}
		}
	}
	alerts, err := os.ReadFile("prometheus/stockade-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(alerts), "\n") {
		if strings.Contains(line, "expr:") {
			for _, m := range metricName.FindAllString(line, -1) {
				used[m] = append(used[m], "alert rule")
			}
		}
	}
	var missing []string
	for m, where := range used {
		base := m
		for _, suf := range []string{"_bucket", "_count", "_sum"} {
			base = strings.TrimSuffix(base, suf)
		}
		if !exposed[m] && !exposed[base] {
			missing = append(missing, m+" ("+where[0]+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("no code exposes %s", m)
	}
}

// TestDashboardQueries: every panel's query parses as PromQL, checked by
// promtool on a rule file made of them.
func TestDashboardQueries(t *testing.T) {
	promtool := needPromtool(t)
	d := loadDashboard(t)
	r := strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$instance", ".*")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			n++
			q, _ := json.Marshal(r.Replace(tg.Expr))
			b.WriteString("      - record: dashboard_query\n        expr: " + string(q) + "\n")
		}
	}
	if n < 20 {
		t.Fatalf("only %d queries in the dashboard", n)
	}
	f := filepath.Join(t.TempDir(), "queries.yaml")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules on the dashboard's queries: %v\n%s", err, out)
	}
}

// TestAlertRules runs the alert rules' own tests (promtool test rules).
func TestAlertRules(t *testing.T) {
	promtool := needPromtool(t)
	if out, err := exec.Command(promtool, "check", "rules", "prometheus/stockade-alerts.yaml").CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	cmd := exec.Command(promtool, "test", "rules", "stockade-alerts.test.yaml")
	cmd.Dir = "prometheus"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

func needPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("skipping: needs promtool (Debian package prometheus; CI installs it)")
	}
	return p
}
