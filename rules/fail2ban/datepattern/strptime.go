package datepattern

// fail2ban's strptime: the %-directives of its date patterns, as Python
// regexes with named groups (fail2ban's overrides of Python's _strptime
// TimeRE), and the conversion of the groups a date matched to a time
// (fail2ban's reGroupDictStrptime).

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// timeRE maps a directive to its Python regex (C locale).
var timeRE = map[string]string{
	"a":   `(?P<a>mon|tue|wed|thu|fri|sat|sun)`,
	"A":   `(?P<A>wednesday|thursday|saturday|tuesday|monday|friday|sunday)`,
	"b":   `(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)`,
	"B":   `(?P<B>september|february|november|december|january|october|august|march|april|june|july|may)`,
	"p":   `(?P<p>am|pm)`,
	"d":   `(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])`,
	"f":   `(?P<f>[0-9]{1,6})`,
	"H":   `(?P<H>[0-1]?\d|2[0-3])`,
	"I":   `(?P<I>1[0-2]|0[1-9]|[1-9])`,
	"j":   `(?P<j>36[0-6]|3[0-5]\d|[1-2]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9])`,
	"m":   `(?P<m>0?[1-9]|1[0-2])`,
	"M":   `(?P<M>[0-5]?\d)`,
	"S":   `(?P<S>[0-5]?\d|6[0-1])`,
	"U":   `(?P<U>5[0-3]|[0-4]\d|\d)`,
	"W":   `(?P<W>5[0-3]|[0-4]\d|\d)`,
	"w":   `(?P<w>[0-6])`,
	"y":   `(?P<y>\d\d)`,
	"Y":   `(?P<Y>\d{4})`,
	"z":   `(?P<z>Z|UTC|GMT|[+-][01]\d(?::?\d{2})?)`,
	"Z":   `(?P<Z>Z|[A-Z]{3,5})`,
	"k":   ` ?(?P<H>[0-2]?\d)`,
	"l":   ` ?(?P<I>1?\d)`,
	"ExZ": `(?P<Z>` + tzAbbrRE + `)`,
	"Exz": `(?P<z>(?:` + tzAbbrRE + `)?[+-][01]\d(?::?\d{2})?|` + tzAbbrRE + `)`,
	"Exd": `(?P<d>[1-2]\d|0[1-9]|3[0-1])`,
	"Exm": `(?P<m>0[1-9]|1[0-2])`,
	"ExH": `(?P<H>[0-1]\d|2[0-3])`,
	"Exk": ` ?(?P<H>[0-1]?\d|2[0-3])`,
	"Exl": ` ?(?P<I>1[0-2]|\d)`,
	"ExM": `(?P<M>[0-5]\d)`,
	"ExS": `(?P<S>[0-5]\d|6[0-1])`,
	"Exy": `(?P<y>\d{2})`,
	"%":   `%`,
	// ExY is set by yearRE: the centuries of the years fail2ban expects.
}

const tzAbbrRE = `[A-Z](?:[A-Z]{2,4})?`

// yearRE is fail2ban's %ExY: four digits starting like a year from 2000
// to three years from now (the decade prefixes of that span).
func yearRE(now time.Time) string {
	seen := map[string]bool{}
	var prefixes []string
	for y := 2000; y <= now.Year()+3; y++ {
		p := strconv.Itoa(y)[:3]
		if !seen[p] {
			seen[p] = true
			prefixes = append(prefixes, p)
		}
	}
	return `(?P<Y>(?:` + strings.Join(prefixes, "|") + `)\d)`
}

// directive finds the %-directives of a date pattern: the two-letter
// Ex forms first, then single letters, then %%.
var directive = regexp.MustCompile(`%(Ex[A-Za-z]|[A-Za-z%])`)

// substituteTimeRE replaces the %-directives of a fail2ban date pattern
// with their regexes. alpha reports a directive that reads names (%a %A
// %b %B %p %c), which makes the pattern case-insensitive as in fail2ban.
func substituteTimeRE(pattern string, exY string) (regex string, alpha bool, err error) {
	var b strings.Builder
	last := 0
	lone := func(seg string) error {
		if strings.Contains(seg, "%") {
			// A % that starts no directive: Python's %-formatting refuses it.
			return fmt.Errorf("unescaped %% in date pattern %q", pattern)
		}
		return nil
	}
	for _, m := range directive.FindAllStringSubmatchIndex(pattern, -1) {
		if err := lone(pattern[last:m[0]]); err != nil {
			return "", false, err
		}
		key := pattern[m[2]:m[3]]
		re, ok := timeRE[key]
		if key == "ExY" {
			re, ok = exY, true
		}
		if !ok {
			return "", false, fmt.Errorf("unknown directive %%%s in date pattern %q", key, pattern)
		}
		b.WriteString(pattern[last:m[0]])
		b.WriteString(re)
		last = m[1]
		switch key {
		case "a", "A", "b", "B", "p":
			alpha = true
		}
	}
	if err := lone(pattern[last:]); err != nil {
		return "", false, err
	}
	b.WriteString(pattern[last:])
	return b.String(), alpha, nil
}

var (
	shortMonths = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	longMonths  = []string{"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}
)

// dateFields are the fields of a date as its directives give them: -1
// for a year, month, day or day of the year the date does not have.
type dateFields struct {
	year, month, day     int
	hour, minute, second int
	julian               int
	tzoff                int // minutes east of UTC, when hasTZ
	hasTZ                bool
}

// dateGroup is a named group of a date match and its text.
type dateGroup struct{ name, v string }

// dateGroups are the groups of a date match that took part, each name
// once, in name order.
type dateGroups []dateGroup

// get is the text of the group named name, "" for none.
func (gs dateGroups) get(name string) string {
	for _, g := range gs {
		if g.name == name {
			return g.v
		}
	}
	return ""
}

// readFields reads the groups of a date match, one directive each, in
// name order; false for a zone that is none.
func readFields(groups dateGroups) (dateFields, bool) {
	f := dateFields{year: -1, month: -1, day: -1, julian: -1}
	atoi := func(s string) int { n, _ := strconv.Atoi(strings.TrimSpace(s)); return n }
	for _, g := range groups {
		k, v := g.name, g.v
		switch k {
		case "y":
			f.year = atoi(v)
			if f.year <= 2000 {
				f.year += 2000
			}
		case "Y":
			f.year = atoi(v)
		case "m":
			f.month = atoi(v)
		case "B":
			f.month = indexFold(longMonths, v) + 1
		case "b":
			f.month = indexFold(shortMonths, v) + 1
		case "d":
			f.day = atoi(v)
		case "H":
			f.hour = atoi(v)
		case "I":
			f.hour = atoi(v)
			switch strings.ToLower(groups.get("p")) {
			case "", "am":
				if f.hour == 12 {
					f.hour = 0
				}
			case "pm":
				if f.hour != 12 {
					f.hour += 12
				}
			}
		case "M":
			f.minute = atoi(v)
		case "S":
			f.second = atoi(v)
		case "j":
			f.julian = atoi(v)
		case "z", "Z":
			switch v {
			case "Z", "UTC", "GMT":
				f.tzoff, f.hasTZ = 0, true
			default:
				off, ok := zoneOffset(v)
				if !ok {
					return f, false
				}
				f.tzoff, f.hasTZ = off, true
			}
		}
	}
	return f, true
}

// strptime converts the groups of a date match to a time, as fail2ban's
// reGroupDictStrptime: a missing year is the reference's, or the one
// before when that puts the date more than a day after the reference; a
// missing day is today, or yesterday. Without a zone in the text the date
// is in loc. Fractions of a second are dropped, as fail2ban does.
func strptime(groups dateGroups, now time.Time, loc *time.Location) (time.Time, bool) {
	f, ok := readFields(groups)
	if !ok {
		return time.Time{}, false
	}
	year, month, day := f.year, f.month, f.day
	hour, minute, second := f.hour, f.minute, f.second
	julian, tzoff, hasTZ := f.julian, f.tzoff, f.hasTZ
	if month < 0 && groups.get("b")+groups.get("B") != "" {
		return time.Time{}, false // a month name that is not one
	}
	// "now" as Python's naive local datetime: its wall clock in loc.
	nowWall := wall(now.In(loc))
	assumeYear := false
	if year < 0 {
		year = now.In(loc).Year()
		assumeYear = true
	}
	if (month < 0 || day < 0) && julian > 0 {
		d := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, julian-1)
		year, month, day = d.Year(), int(d.Month()), d.Day()
	}
	assumeToday := false
	if month < 0 && day < 0 {
		n := now.In(loc)
		month, day = int(n.Month()), n.Day()
		assumeToday = true
	}
	if month < 0 || day < 0 {
		return time.Time{}, false // Python: datetime() needs both
	}
	d, ok := validDate(year, month, day, hour, minute, second)
	if !ok {
		return time.Time{}, false
	}
	if hasTZ {
		d = d.Add(-time.Duration(tzoff) * time.Minute)
	}
	if assumeToday && d.After(nowWall) {
		d = d.AddDate(0, 0, -1)
	}
	if assumeYear && d.After(nowWall.Add(24*time.Hour)) {
		d2, ok := validDate(d.Year()-1, int(d.Month()), d.Day(), d.Hour(), d.Minute(), d.Second())
		if !ok {
			return time.Time{}, false
		}
		d = d2
	}
	if hasTZ {
		return d, true // the wall clock is UTC
	}
	return time.Date(d.Year(), d.Month(), d.Day(), d.Hour(), d.Minute(), d.Second(), 0, loc), true
}

// wall returns t's wall clock as a UTC time, for naive comparisons.
func wall(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// validDate builds a naive date (UTC wall clock), refusing what Python's
// datetime refuses (February 30th, hour 24, second 61 is clamped by no one:
// Python refuses 60 and 61 too).
func validDate(y, mo, d, h, mi, s int) (time.Time, bool) {
	if y < 1 || y > 9999 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC)
	if t.Day() != d {
		return time.Time{}, false
	}
	return t, true
}

// indexFold is the index of strings.ToLower(s) in list (lower case), or
// -2. An ASCII s is compared without regard to case, with no lower-case
// copy made; any other is lowered as Python's str.lower (fail2ban's
// strptime) would, since Unicode folding takes more than lowering does
// (U+017F, a long s, folds to s but is lower case already).
func indexFold(list []string, s string) int {
	ascii := true
	for i := 0; i < len(s); i++ {
		ascii = ascii && s[i] < utf8.RuneSelf
	}
	if !ascii {
		s = strings.ToLower(s)
	}
	for i, v := range list {
		if v == s || ascii && strings.EqualFold(v, s) {
			return i
		}
	}
	return -2 // month 0 after +1 is refused
}

var fixedOffsetTZ = regexp.MustCompile(`^(` + tzAbbrRE + `)?([+-][01]\d(?::?\d{2})?)?$`)

// zoneOffset is fail2ban's zone2offset: an abbreviation from its table,
// an offset, or both (CET+0100), in minutes east of UTC.
func zoneOffset(tz string) (int, bool) {
	m := fixedOffsetTZ.FindStringSubmatch(tz)
	if m == nil {
		return 0, false
	}
	base, ok := tzAbbrOffsets[m[1]]
	if !ok {
		return 0, false
	}
	off := m[2]
	switch {
	case off == "":
		return base, true
	case len(off) <= 3:
		h, _ := strconv.Atoi(off)
		return base + h*60, true
	}
	sign := 1
	if off[0] == '-' {
		sign = -1
	}
	h, _ := strconv.Atoi(off[1:3])
	rest := off[3:]
	rest = strings.TrimPrefix(rest, ":")
	mi, _ := strconv.Atoi(rest)
	return base + sign*(h*60+mi), true
}

// tzAbbrOffsets is fail2ban's table of zone abbreviations (fixed offsets,
// in minutes; no DST switch, as in fail2ban).
var tzAbbrOffsets = func() map[string]int {
	const table = `-12 Y
-11 X NUT SST
-10 W CKT HAST HST TAHT TKT
-9 V AKST GAMT GIT HADT HNY
-8 U AKDT CIST HAY HNP PST PT
-7 T HAP HNR MST PDT
-6 S CST EAST GALT HAR HNC MDT
-5 R CDT COT EASST ECT EST ET HAC HNE PET
-4 Q AST BOT CLT COST EDT FKT GYT HAE HNA PYT
-3 P ADT ART BRT CLST FKST GFT HAA PMST PYST SRT UYT WGT
-2 O BRST FNT PMDT UYST WGST
-1 N AZOT CVT EGT
0 Z EGST GMT UTC WET WT
1 A CET DFT WAT WEDT WEST
2 B CAT CEDT CEST EET SAST WAST
3 C EAT EEDT EEST IDT MSK
4 D AMT AZT GET GST KUYT MSD MUT RET SAMT SCT
5 E AMST AQTT AZST HMT MAWT MVT PKT TFT TJT TMT UZT YEKT
6 F ALMT BIOT BTT IOT KGT NOVT OMST YEKST
7 G CXT DAVT HOVT ICT KRAT NOVST OMSST THA WIB
8 H ACT AWST BDT BNT CAST HKT IRKT KRAST MYT PHT SGT ULAT WITA WST
9 I AWDT IRKST JST KST PWT TLT WDT WIT YAKT
10 K AEST ChST PGT VLAT YAKST YAPT
11 L AEDT LHDT MAGT NCT PONT SBT VLAST VUT
12 M ANAST ANAT FJT GILT MAGST MHT NZST PETST PETT TVT WFT
13 FJST NZDT
11.5 NFT
10.5 ACDT LHST
9.5 ACST
6.5 CCT MMT
5.75 NPT
5.5 SLT
4.5 AFT IRDT
3.5 IRST
-2.5 HAT NDT
-3.5 HNT NST NT
-4.5 HLV VET
-9.5 MART MIT`
	m := map[string]int{"": 0}
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		h, _ := strconv.ParseFloat(f[0], 64)
		for _, tz := range f[1:] {
			m[tz] = int(h * 60)
		}
	}
	return m
}()
