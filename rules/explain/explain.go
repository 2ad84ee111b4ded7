// Package explain is stockade's fail2ban-regex: for each line of a log, what
// the parser made of it and what every rule that could see it decided, and
// why; then a summary per rule and regex (`stockade explain`).
package explain

import (
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
	"github.com/stockade-ids/stockade/sources"
)

// Explainer runs the engine over the lines of one log and keeps the
// counts of the summary.
type Explainer struct {
	w   io.Writer
	set *rules.Set
	rec *rules.Recorder
	eng *pipeline.Engine
	dec *sources.Decoder // counts the lines

	matched, missed, unseen, dups int
	rules                         map[*rules.Rule]*ruleTally
	bans                          int
}

// ruleTally is one rule's part of the summary.
type ruleTally struct {
	seen, hits                                  int
	counted, bans, already, allowlisted, paired int
	misses                                      map[string]int
	regex, ignore                               []int
}

// New explains to w the lines dec decodes, judged by the rules of set
// with a real engine (allow: never banned), so that the counts, allowlists
// and bans it shows are the ones a replay would produce.
func New(set *rules.Set, allow []netip.Prefix, dec *sources.Decoder, w io.Writer) *Explainer {
	rec := rules.NewRecorder(set)
	x := &Explainer{
		w: w, set: set, rec: rec, dec: dec,
		eng:   pipeline.NewEngine(rec, pipeline.Config{Origin: "explain", Allow: allow}),
		rules: map[*rules.Rule]*ruleTally{},
	}
	for _, r := range set.Rules() {
		x.rules[r] = &ruleTally{
			misses: map[string]int{},
			regex:  make([]int, len(r.FailRegexes())),
			ignore: make([]int, len(r.IgnoreRegexes())),
		}
	}
	return x
}

// LineResult is what explain made of one line: the structured form of
// the text Line writes (`stockade explain -o json`).
type LineResult struct {
	Line   int    `json:"line"`
	Format string `json:"format"`
	// Outcome: event (rules judged it), skipped, bad, duplicate, or
	// unseen (no rule reads such lines).
	Outcome string `json:"outcome"`
	// Reason says why a line was bad or seen by no rule.
	Reason  string            `json:"reason,omitempty"`
	Fields  map[string]string `json:"fields,omitempty"`
	Message string            `json:"message,omitempty"`
	Rules   []RuleResult      `json:"rules,omitempty"`
	// Decisions are every decision the line caused, a range rule's
	// included.
	Decisions []pipeline.Decision `json:"decisions,omitempty"`

	fields [][2]string // in the text's order
	extra  []string    // bans beyond the line's own rules, as text
}

// RuleResult is one rule's verdict on a line and why.
type RuleResult struct {
	Rule    string `json:"rule"`
	Verdict string `json:"verdict"`
	Regex   int    `json:"regex,omitempty"` // 1-based failregex number; 0: none
	Target  string `json:"target,omitempty"`
	// Why is the verdict in words; for a hit, what the engine did with it
	// (counted n/threshold, BAN, allowlisted, ...).
	Why string `json:"why"`

	hit string
}

// Line explains line n of source, writes it and returns it.
func (x *Explainer) Line(n int, source string, text string) *LineResult {
	if strings.TrimSpace(text) == "" {
		return nil // sources skip empty lines without counting them
	}
	res := x.judge(n, source, text)
	res.write(x.w)
	return res
}

// judge decodes and judges line n, keeping the summary's counts.
func (x *Explainer) judge(n int, source string, text string) *LineResult {
	format := x.dec.Format()
	res := &LineResult{Line: n, Format: format.String()}
	var ev pipeline.Event
	switch o, reason := x.dec.Decode([]byte(text), &ev); o {
	case sources.Skip:
		res.Outcome = "skipped"
		return res
	case sources.Bad:
		res.Outcome, res.Reason = "bad", reason
		return res
	}
	ev.Source = source
	if ev.Line == "" {
		ev.Line = text
	}
	res.fields = fields(&ev)
	res.Fields = make(map[string]string, len(res.fields))
	for _, kv := range res.fields {
		res.Fields[kv[0]] = kv[1]
	}
	if format == pipeline.FormatSyslog {
		res.Message = ev.Message
	}

	before := x.eng.Stats()
	dups := x.eng.Duplicates
	x.rec.Verdicts = x.rec.Verdicts[:0]
	ds := x.eng.Process(&ev)
	after := x.eng.Stats()
	res.Decisions = ds
	if x.eng.Duplicates > dups {
		x.dups++
		res.Outcome = "duplicate"
		return res
	}
	if len(x.rec.Verdicts) == 0 {
		x.unseen++
		res.Outcome, res.Reason = "unseen", noRule(&ev)
		return res
	}
	res.Outcome = "event"
	hit := false
	for _, v := range x.rec.Verdicts {
		t := x.rules[v.Rule]
		t.seen++
		if v.Regex >= 0 && v.Verdict != rules.BadAddress {
			t.regex[v.Regex]++
		}
		rr := RuleResult{Rule: v.Rule.Policy.Name, Verdict: v.Verdict.String(), Regex: v.Regex + 1}
		if v.Verdict != rules.Hit {
			rr.Why = verdictText(&v)
			if v.Verdict == rules.Ignored {
				t.ignore[v.Ignore]++
			}
			t.misses[v.Verdict.String()]++
			res.Rules = append(res.Rules, rr)
			continue
		}
		hit = true
		t.hits++
		rr.Target = pipeline.Canonical(v.Hit.Target).String()
		rr.hit = hitText(&v)
		rr.Why = x.outcome(&v, t, before, after, ds, ev.Time)
		res.Rules = append(res.Rules, rr)
	}
	// Bans the line caused beyond its rules' own (a range rule).
	for _, d := range ds {
		if !x.explained(d) && d.Action == pipeline.ActionBan {
			x.bans++
			res.extra = append(res.extra, fmt.Sprintf("%s: BAN %s for %s (offense %d)", d.Rule, d.Target, rules.FormatDuration(time.Duration(d.Duration)*time.Second), d.Offense))
		}
	}
	if hit {
		x.matched++
	} else {
		x.missed++
	}
	return res
}

// write writes r as text, as fail2ban-regex would.
func (r *LineResult) write(w io.Writer) {
	switch r.Outcome {
	case "skipped":
		fmt.Fprintf(w, "%d: %s: skipped (a well-formed line that is not an event)\n\n", r.Line, r.Format)
		return
	case "bad":
		fmt.Fprintf(w, "%d: %s: bad line: %s\n\n", r.Line, r.Format, r.Reason)
		return
	}
	fmt.Fprintf(w, "%d: %s %s\n", r.Line, r.Format, fieldText(r.fields))
	if r.Message != "" {
		fmt.Fprintf(w, "   message: %s\n", r.Message)
	}
	switch r.Outcome {
	case "duplicate":
		fmt.Fprintf(w, "   the same alert as one already seen (fast.log and eve.json both log it): counted once\n\n")
		return
	case "unseen":
		fmt.Fprintf(w, "   %s\n\n", r.Reason)
		return
	}
	for _, rr := range r.Rules {
		if rr.hit == "" {
			fmt.Fprintf(w, "   %s: %s\n", rr.Rule, rr.Why)
		} else {
			fmt.Fprintf(w, "   %s: %s: %s\n", rr.Rule, rr.hit, rr.Why)
		}
	}
	for _, s := range r.extra {
		fmt.Fprintf(w, "   %s\n", s)
	}
	fmt.Fprintln(w)
}

// explained reports whether d is the ban of a rule that judged the line.
func (x *Explainer) explained(d pipeline.Decision) bool {
	for _, v := range x.rec.Verdicts {
		if v.Verdict == rules.Hit && v.Rule.Policy.Name == d.Rule {
			return true
		}
	}
	return false
}

// outcome says what the engine did with a rule's hit, read from the change
// in its statistics and the decisions the line caused.
func (x *Explainer) outcome(v *rules.RuleVerdict, t *ruleTally, before, after []pipeline.RuleStats, ds []pipeline.Decision, at time.Time) string {
	p := v.Rule.Policy
	b, a := before[p.ID], after[p.ID]
	switch target := pipeline.Canonical(v.Hit.Target); {
	case a.Allowlisted > b.Allowlisted:
		t.allowlisted++
		return "allowlisted"
	case a.Paired > b.Paired:
		t.paired++
		return "the same attempt as the line before from this process: not counted again"
	case a.AlreadyBanned > b.AlreadyBanned:
		t.already++
		return "threshold reached, but already banned"
	case a.Bans > b.Bans:
		for _, d := range ds {
			if d.Rule == p.Name && d.Action == pipeline.ActionBan {
				t.bans++
				x.bans++
				return fmt.Sprintf("BAN for %s (offense %d)", rules.FormatDuration(time.Duration(d.Duration)*time.Second), d.Offense)
			}
		}
		return "BAN"
	case !target.IsValid() || target.IsUnspecified() || target.IsMulticast():
		return "not an address that can be banned"
	default:
		t.counted++
		counted := x.eng.Counted(p, target)
		n := x.eng.Counter().Count(p, counted.Addr(), v.Hit.Key, at)
		s := fmt.Sprintf("counted %d/%d in %s", n, p.Threshold, rules.FormatDuration(p.Window))
		if v.Hit.Key != "" {
			s += " (key " + strconv.Quote(v.Hit.Key) + ")"
		} else if counted.Bits() != target.BitLen() {
			s += " (by " + counted.String() + ")"
		}
		return s
	}
}

func hitText(v *rules.RuleVerdict) string {
	s := "hit"
	if v.Regex >= 0 {
		s += fmt.Sprintf(" (regex #%d)", v.Regex+1)
	}
	s += " " + pipeline.Canonical(v.Hit.Target).String()
	if f := v.Failure; f != nil && len(f.Lines) > 1 {
		// A fail2ban session: the failure carries the lines before it.
		s += fmt.Sprintf(" (%d lines of its session)", len(f.Lines))
	}
	return s
}

func verdictText(v *rules.RuleVerdict) string {
	switch v.Verdict {
	case rules.RegexMiss:
		return "regex miss"
	case rules.Ignored:
		return fmt.Sprintf("ignored (regex #%d, ignoreregex #%d)", v.Regex+1, v.Ignore+1)
	case rules.PredicateNo:
		s := "predicate false (when: " + oneLine(v.Rule.When()) + ")"
		if v.Regex >= 0 {
			s = fmt.Sprintf("regex #%d, but %s", v.Regex+1, s)
		}
		return s
	case rules.BadAddress:
		return fmt.Sprintf("regex #%d matched, but what <HOST> captured is not an address", v.Regex+1)
	case rules.PredicateErr:
		return "predicate error (when: or key: failed on this line)"
	case rules.Helper:
		if v.Regex >= 0 {
			return fmt.Sprintf("regex #%d: a helper line (<F-NOFAIL>, or a session waiting for its address): remembered, not counted", v.Regex+1)
		}
	case rules.NoDate:
		return fmt.Sprintf("regex #%d matched, but the line has no date fail2ban could read: not counted", v.Regex+1)
	case rules.HostName:
		id := ""
		if v.Failure != nil {
			id = " " + strconv.Quote(v.Failure.ID)
		}
		return fmt.Sprintf("regex #%d matched host name%s: stockade does not resolve DNS, not counted", v.Regex+1, id)
	}
	return v.Verdict.String()
}

// noRule says why no rule could see a line.
func noRule(ev *pipeline.Event) string {
	if ev.Format == pipeline.FormatSyslog && ev.Program != "" {
		return fmt.Sprintf("no rule reads %s lines from program %s", ev.Format, ev.Program)
	}
	return fmt.Sprintf("no rule reads %s lines", ev.Format)
}

// fields lists the parsed fields that matter to rules, the empty ones left
// out.
func fields(ev *pipeline.Event) [][2]string {
	var kv [][2]string
	add := func(k, v string) {
		if v != "" {
			kv = append(kv, [2]string{k, v})
		}
	}
	num := func(k string, n int) {
		if n != 0 {
			add(k, strconv.Itoa(n))
		}
	}
	if !ev.Time.IsZero() {
		add("time", ev.Time.Format(time.RFC3339Nano))
	}
	add("host", ev.Host)
	add("program", ev.Program)
	num("pid", ev.PID)
	if ev.Addr.IsValid() {
		add("addr", ev.Addr.String())
	}
	add("user", ev.User)
	add("method", ev.Method)
	add("path", ev.Path)
	num("status", ev.Status)
	num("priority", ev.Priority)
	if ev.SID != 0 {
		add("sid", fmt.Sprintf("%d:%d:%d", ev.GID, ev.SID, ev.Rev))
	}
	add("signature", ev.Signature)
	if ev.SideReason != "" {
		// Which side of the alert is the candidate, and why.
		side := "none"
		switch {
		case ev.Addr.IsValid() && ev.Addr == ev.SrcAddr:
			side = "src"
		case ev.Addr.IsValid() && ev.Addr == ev.DstAddr:
			side = "dst"
		}
		add("side", side+"("+ev.SideReason+")")
	}
	if ev.Spoofable {
		add("spoofable", "yes")
	}
	add("jail", ev.Jail)
	add("verb", ev.Verb)
	return kv
}

// fieldText writes fields as key=value, quoting values with spaces.
func fieldText(kv [][2]string) string {
	var b strings.Builder
	for _, f := range kv {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		v := f[1]
		if strings.ContainsAny(v, " \"") {
			v = strconv.Quote(v)
		}
		b.WriteString(f[0] + "=" + v)
	}
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Summary writes the counts of every line explained so far.
func (x *Explainer) Summary() {
	w := x.w
	fmt.Fprintln(w, "Summary")
	c := x.dec.Counter().Counts()
	fmt.Fprintf(w, "  lines: %d read, %d events, %d skipped, %d bad", c.Lines, c.Events, c.Skipped, sumCounts(c.Bad))
	if len(c.Bad) > 0 {
		fmt.Fprintf(w, " (%s)", counts(c.Bad))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  events: %d matched, %d missed, %d seen by no rule, %d duplicates\n", x.matched, x.missed, x.unseen, x.dups)
	fmt.Fprintf(w, "  bans: %d\n", x.bans)
	for _, r := range x.set.Rules() {
		t := x.rules[r]
		if t.seen == 0 {
			fmt.Fprintf(w, "\n  rule %s (pack %s): saw no line\n", r.Policy.Name, r.Policy.Pack)
			continue
		}
		fmt.Fprintf(w, "\n  rule %s (pack %s): seen %d, hits %d, bans %d\n", r.Policy.Name, r.Policy.Pack, t.seen, t.hits, t.bans)
		if t.hits > 0 {
			fmt.Fprintf(w, "    hits: %d counted, %d banned, %d already banned, %d allowlisted, %d paired\n",
				t.counted, t.bans, t.already, t.allowlisted, t.paired)
		}
		if len(t.misses) > 0 {
			fmt.Fprintf(w, "    misses: %s\n", counts(t.misses))
		}
		if r.Dialect() == "fail2ban" {
			fmt.Fprintf(w, "    dialect fail2ban: %s\n", Engines(r))
		}
		regexTable(w, "failregex", r.FailRegexes(), t.regex)
		regexTable(w, "ignoreregex", r.IgnoreRegexes(), t.ignore)
		if s := r.When(); s != "" {
			fmt.Fprintf(w, "    when: %s\n", oneLine(s))
		}
	}
}

// regexTable lists regexes with their hits, like fail2ban-regex.
func regexTable(w io.Writer, what string, res []string, hits []int) {
	if len(res) == 0 {
		return
	}
	fmt.Fprintf(w, "    %s: %d total\n", what, sumInts(hits))
	for i, re := range res {
		fmt.Fprintf(w, "      #%-2d %5d  %s\n", i+1, hits[i], re)
	}
}

func sumInts(ns []int) int {
	s := 0
	for _, n := range ns {
		s += n
	}
	return s
}

func sumCounts[N int | uint64](m map[string]N) N {
	var s N
	for _, n := range m {
		s += n
	}
	return s
}

// counts renders "reason n, reason n", most frequent first.
func counts[N int | uint64](m map[string]N) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// Engines says which engine runs a rule's regexes: RE2 (linear
// time) when the Python pattern translates exactly, regexp2 (backtracking,
// with a time limit) when it needs lookarounds, back references,
// conditionals or Unicode word boundaries.
func Engines(r *rules.Rule) string {
	fail, ignore, pref := r.RegexEngines()
	var parts []string
	if pref != "" {
		parts = append(parts, "prefregex on "+pref)
	}
	parts = append(parts, "failregex "+kindList(fail))
	if len(ignore) > 0 {
		parts = append(parts, "ignoreregex "+kindList(ignore))
	}
	return strings.Join(parts, ", ")
}

// kindList writes engine kinds by regex number: "#1-3 re2, #4 regexp2".
func kindList(kinds []string) string {
	var parts []string
	for i := 0; i < len(kinds); {
		j := i
		for j+1 < len(kinds) && kinds[j+1] == kinds[i] {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprintf("#%d %s", i+1, kinds[i]))
		} else {
			parts = append(parts, fmt.Sprintf("#%d-%d %s", i+1, j+1, kinds[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// SummaryResult is Summary's counts (`stockade explain -o json`).
type SummaryResult struct {
	Lines      int               `json:"lines"`
	Events     int               `json:"events"`
	Skipped    int               `json:"skipped"`
	Bad        map[string]uint64 `json:"bad,omitempty"`
	Matched    int               `json:"matched"`
	Missed     int               `json:"missed"`
	Unseen     int               `json:"unseen"`
	Duplicates int               `json:"duplicates"`
	Bans       int               `json:"bans"`
	Rules      []RuleSummary     `json:"rules"`
}

// RuleSummary is one rule's part of the summary.
type RuleSummary struct {
	Rule   string         `json:"rule"`
	Pack   string         `json:"pack"`
	Seen   int            `json:"seen"`
	Hits   int            `json:"hits"`
	Bans   int            `json:"bans"`
	Misses map[string]int `json:"misses,omitempty"`
	// Regex and Ignore count the lines each failregex and ignoreregex
	// matched, by number.
	Regex  []int `json:"failregex_hits,omitempty"`
	Ignore []int `json:"ignoreregex_hits,omitempty"`
}

// Totals returns the counts of every line explained so far.
func (x *Explainer) Totals() SummaryResult {
	c := x.dec.Counter().Counts()
	s := SummaryResult{
		Lines: int(c.Lines), Events: int(c.Events), Skipped: int(c.Skipped), Bad: c.Bad,
		Matched: x.matched, Missed: x.missed, Unseen: x.unseen, Duplicates: x.dups, Bans: x.bans,
		Rules: []RuleSummary{},
	}
	for _, r := range x.set.Rules() {
		t := x.rules[r]
		s.Rules = append(s.Rules, RuleSummary{
			Rule: r.Policy.Name, Pack: r.Policy.Pack, Seen: t.seen, Hits: t.hits, Bans: t.bans,
			Misses: t.misses, Regex: t.regex, Ignore: t.ignore,
		})
	}
	return s
}
