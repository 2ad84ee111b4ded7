package fail2ban

import "time"

// Sniff reports whether line is a line of fail2ban's own log, for choosing a
// parser per file: the asctime stamp, a logger named fail2ban..., and a
// well-formed header. Any such line counts, not only those about an
// address, since most of the log is not.
func Sniff(line []byte) bool {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	p := Parser{loc: time.UTC}
	h, err := p.header(line)
	return err == nil && hasPrefix(line[h.name:h.nameEnd], "fail2ban")
}
