package rules

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules/regex"
)

// condAgrees checks a predicate's compiled form against the VM on ev:
// a whole one answers what the VM answers, a head says no only where
// the VM does.
func condAgrees(t *testing.T, s *Set, name string, p *predicate, ev *pipeline.Event) {
	t.Helper()
	out, why := runExpr(&s.vm, p.prog, ev)
	want, _ := out.(bool)
	if why != "" {
		want = false
	}
	got := p.fast(&s.memo, ev)
	switch {
	case p.whole && got != want:
		t.Errorf("%s: compiled %v, VM %v (why %q) on %+v", name, got, want, why, ev)
	case !p.whole && !got && want:
		t.Errorf("%s: compiled head false, VM true on %+v", name, ev)
	}
}

// TestCondAgreesWithVM: every built-in predicate compiled to Go answers
// what the expr VM answers, on a generated access log (twice: the
// second pass reads the regexes' memo) and on events made to sit at
// the edges of the tests (crawler addresses and user agents, IPv4 in
// IPv6, empty fields, every status the packs name).
func TestCondAgreesWithVM(t *testing.T) {
	s := defaultSet(t)
	evs := append(generatedAccess(t, 5000, 7, nil), edgeEvents()...)
	compiled, whole := 0, 0
	for _, r := range s.rules {
		if r.when == nil || r.when.fast == nil {
			continue
		}
		compiled++
		if r.when.whole {
			whole++
		}
		for range 2 {
			for i := range evs {
				condAgrees(t, s, r.Policy.Name, r.when, &evs[i])
			}
		}
	}
	if compiled < 20 || whole < 15 {
		t.Errorf("%d predicates compiled, %d whole: the built-in packs' forms should compile", compiled, whole)
	}
	t.Logf("%d of %d rules' predicates compiled, %d whole; memo %d hits, %d misses", compiled, len(s.rules), whole, s.memo.Hits, s.memo.Misses)
}

func edgeEvents() []pipeline.Event {
	addrs := []string{"66.249.66.1", "::ffff:66.249.66.1", "2001:4860:4801::5", "157.55.39.9", "40.77.167.1", "203.0.113.9", "2001:db8::1", "::ffff:203.0.113.9"}
	uas := []string{"", "Googlebot/2.1", "Mozilla/5.0 (compatible; bingbot/2.0)", "sqlmap/1.7", "SQLMAP", "Nmap Scripting Engine", "xnmapx", "Mozilla/5.0 zgrab/0.x", "(hydra)"}
	paths := []string{"", "/", "/.env", "/wp-config.php~", "/a/../../etc/passwd", "/wp-content/plugins/x/readme.txt", "/style.css?v=1",
		"/?author=1", "/phpmyadmin/", "/admin", "http://example.com/", "/sap/bc/gui", "/x.php?id=1' or 1=1--", "/<script>alert(1)</script>", "/robots.txt", "/remote.php/dav"}
	var out []pipeline.Event
	for i, a := range addrs {
		for j, ua := range uas {
			for k, path := range paths {
				out = append(out, pipeline.Event{
					Format: pipeline.FormatNginx, Addr: netip.MustParseAddr(a), UserAgent: ua, Path: path,
					Method: []string{"GET", "POST", "CONNECT", "\x16\x03", ""}[(i+j+k)%5],
					Status: []int{200, 400, 401, 403, 404, 501, 505, 0}[(i*3+j+k)%8],
					User:   []string{"", "admin"}[(j+k)%2], HTTPVersion: []string{"HTTP/1.1", "HTTP/1.2", ""}[(i+k)%3],
				})
			}
		}
	}
	return out
}

// TestCondForms: each form cond takes, and the forms it leaves to the VM
// (whole, a head of the && chain, or nothing), against the VM.
func TestCondForms(t *testing.T) {
	cases := []struct {
		src   string
		fast  bool // some of it compiles
		whole bool
	}{
		{`status == 404`, true, true},
		{`404 == status`, true, true},
		{`status != 404 && method == "GET"`, true, true},
		{`bytes >= 100 && bytes < 1000 || 5 > pid`, true, true},
		{`status in [400, 403] || method in ["GET", "HEAD"]`, true, true},
		{`not (path startsWith "/a") and path endsWith ".php" or user_agent contains "x"`, true, true},
		{`path matches "(?i)\\.php$" && !(path matches "^/ok")`, true, true},
		{`in_cidr(addr, "203.0.113.0/24") || in_cidr(addr, "2001:db8::/32")`, true, true},
		{`spoofable || true`, true, true},
		// Chains of three and more terms, leant either way and mixed
		// (see chainTerms): one call each, evaluated in the VM's order.
		{`status == 404 && method == "GET" && path contains "a" && user == ""`, true, true},
		{`status == 404 && (method == "GET" && (path contains "a" && user == ""))`, true, true},
		{`status == 401 || status == 403 || method == "POST" || spoofable`, true, true},
		{`status == 401 || (status == 403 || (method == "POST" || spoofable))`, true, true},
		{`status == 404 && method == "GET" || path contains "a" && user == "" || spoofable`, true, true},
		{`(status == 404 || method == "GET" || spoofable) && !(path contains "a" || user == "admin" || pid == 3)`, true, true},
		{`status == 404 && method == "GET" && lower(path) == "/x" && user == ""`, true, false},
		{`status == 404 && lower(path) == "/x"`, true, false},
		{`status == 404 && distinct(path, addr, "10m") >= 2 && method == "GET"`, true, false},
		{`lower(path) == "/x" && status == 404`, false, false},
		{`captures["user"] == "root"`, false, false},
		{`let p = path; p == "/x"`, false, false},
		{`status in [400, "x"]`, false, false},
		{`bytes == 1.5`, false, false},
	}
	evs := edgeEvents()
	for i := range evs {
		evs[i].Bytes = int64(i * 37 % 2000)
		evs[i].PID = i % 9
		evs[i].Spoofable = i%2 == 0
	}
	s := &Set{}
	for _, tc := range cases {
		t.Run(tc.src, func(t *testing.T) {
			p, err := compilePredicate(tc.src, &stateRef{})
			if err != nil {
				t.Fatal(err)
			}
			if (p.fast != nil) != tc.fast || p.whole != tc.whole {
				t.Fatalf("compiled %v, whole %v; want %v, %v", p.fast != nil, p.whole, tc.fast, tc.whole)
			}
			if p.fast == nil {
				return
			}
			for i := range evs {
				if strings.Contains(tc.src, "distinct") {
					// distinct() needs an engine: the head alone.
					if p.fast(&s.memo, &evs[i]) != (evs[i].Status == 404) {
						t.Fatalf("head of %q wrong on %+v", tc.src, evs[i])
					}
					continue
				}
				condAgrees(t, s, tc.src, p, &evs[i])
			}
		})
	}
}

// TestRegexMemo: the memo answers what the regex answers, for two
// regexes over the same strings, for strings longer than it keeps, and
// after slots are overwritten by more strings than it holds.
func TestRegexMemo(t *testing.T) {
	mk := func(src string) *regex.Regex {
		e, err := regex.Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		return &regex.Regex{Src: src, Engine: e}
	}
	a, b := mk(`(?i)zgrab|nikto`), mk(`(?i)\.php`)
	var m regexMemo
	strs := []string{"", "zgrab", "x.PHP", "nikto.php", strings.Repeat("a", memoLen) + "zgrab", strings.Repeat("b", memoLen-5) + "nikto"}
	for i := range 3 * memoSlots {
		strs = append(strs, "/p"+strings.Repeat("x", i%50)+[]string{"zgrab", ".php", ""}[i%3]+string(rune('a'+i%26)))
	}
	for round := range 2 {
		for _, s := range strs {
			for _, re := range []*regex.Regex{a, b} {
				if got, want := m.match(re, s), re.Match(s); got != want {
					t.Fatalf("round %d: memo says %v, %s on %q says %v", round, got, re.Src, s, want)
				}
			}
		}
	}
	if m.Hits == 0 {
		t.Error("no look-up found its string")
	}
}

// FuzzCondAgreesWithVM: the built-in predicates compiled to Go answer
// what the VM answers whatever a client writes into the fields they
// read (path, user agent, method, version, user) and whatever its
// address and status.
func FuzzCondAgreesWithVM(f *testing.F) {
	f.Add("/wp-config.php~", "sqlmap/1.7", "GET", "HTTP/1.1", "", 404, []byte{66, 249, 66, 1})
	f.Add("/a/%2e%2e/b", "Googlebot/2.1", "CONNECT", "HTTP/1.2", "admin", 400, []byte{0x20, 0x01, 0x48, 0x60, 0x48, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5})
	f.Add("/?author=1", "", "\x16\x03", "", "root", 401, []byte{})
	s := defaultSet(f)
	var preds []*predicate
	for _, r := range s.rules {
		if r.when != nil && r.when.fast != nil {
			preds = append(preds, r.when)
		}
	}
	f.Fuzz(func(t *testing.T, path, ua, method, version, user string, status int, addr []byte) {
		ev := pipeline.Event{Format: pipeline.FormatNginx, Path: path, UserAgent: ua, Method: method, HTTPVersion: version, User: user, Status: status}
		if a, ok := netip.AddrFromSlice(addr); ok {
			ev.Addr = a
		}
		for range 2 { // the second time from the memo
			for _, p := range preds {
				condAgrees(t, s, p.src, p, &ev)
			}
		}
	})
}
