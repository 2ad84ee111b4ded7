package syslog

import "bytes"

// clock is a timestamp as written; year is unset for RFC 3164, which has none.
// off is the zone offset in seconds when zoned.
type clock struct {
	year, mon, day int
	sod            int // seconds since midnight; 86400 for a leap second
	nsec           int
	off            int
	zoned          bool
}

// bsdStamp parses the RFC 3164 timestamp "Mmm dd hh:mm:ss" at the start of b,
// with the day space-padded ("Nov  8") or not ("Nov 8") and an optional
// fraction of a second, and returns its length. Until a day follows the
// month the line does not look like a timestamp at all: "no timestamp".
func bsdStamp(b []byte) (c clock, n int, err error) {
	if len(b) < 5 || b[3] != ' ' {
		return c, 0, errNoTime
	}
	c.mon = month(b[0], b[1], b[2])
	if c.mon == 0 {
		return c, 0, errNoTime
	}
	i := 4
	if b[i] == ' ' {
		i++
	}
	if i >= len(b) || !isDigit(b[i]) {
		return c, 0, errNoTime
	}
	c.day = int(b[i] - '0')
	i++
	if i < len(b) && isDigit(b[i]) {
		c.day = c.day*10 + int(b[i]-'0')
		i++
	}
	if i+9 > len(b) || b[i] != ' ' || b[i+3] != ':' || b[i+6] != ':' {
		return c, 0, errBadTime
	}
	h, ok1 := two(b[i+1], b[i+2])
	m, ok2 := two(b[i+4], b[i+5])
	s, ok3 := two(b[i+7], b[i+8])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || s > 60 ||
		c.day == 0 || c.day > maxDay[c.mon] {
		return c, 0, errBadTime
	}
	c.sod = h*3600 + m*60 + s
	i += 9
	if i < len(b) && b[i] == '.' {
		var k int
		if c.nsec, k = fraction(b[i+1:]); k == 0 {
			return c, 0, errBadTime
		}
		i += 1 + k
	}
	return c, i, nil
}

// header splits what follows an RFC 3164 or rsyslog timestamp, from i (the
// first byte after the spaces behind it), into HOST, the TAG's program and
// pid, and the index where the message starts. The token after the
// timestamp is the host unless it is the tag already: some writers leave the
// host out, and no host ends in ':', starts with '[' or '(' or holds a '['.
// All the spaces after the tag go, since sudo pads its message to align it.
//
// The variants other syslogs write (fail2ban's filters accept them too):
// FreeBSD's "-v" facility and level ("<auth.info>") before the host, a
// Linux-VServer context ("@vserver_name") after it, a tag without its
// colon when it ends in a bracket ("sshd[123] msg", "[sshd] msg"), and the
// tag forms of splitTag.
func header(line []byte, i int) (host, prog []byte, pid, msg int) {
	j := tokenEnd(line, i)
	if verbose(line[i:j]) && j < len(line) {
		i = skipSpaces(line, j)
		j = tokenEnd(line, i)
	}
	if line[j-1] != ':' && !tagLike(line[i:j]) {
		host = line[i:j]
		i = skipSpaces(line, j)
		j = tokenEnd(line, i)
		if bytes.HasPrefix(line[i:j], []byte("@vserver_")) && j < len(line) {
			i = skipSpaces(line, j)
			j = tokenEnd(line, i)
		}
	}
	if j > i && (line[j-1] == ':' || line[j-1] == ']' && j < len(line) && tagLike(line[i:j])) {
		end := j
		if line[j-1] == ':' {
			end--
		}
		var ok bool
		if prog, pid, ok = splitTag(line[i:end]); ok {
			i = skipSpaces(line, j)
		}
	}
	return host, prog, pid, i
}

// tagLike reports whether a token can only be a tag, never a host: it
// starts with a bracket or holds one.
func tagLike(t []byte) bool {
	return len(t) > 0 && (t[0] == '[' || t[0] == '(' || bytes.IndexByte(t, '[') >= 0)
}

// verbose reports whether t is FreeBSD syslogd -v's "<facility.level>".
func verbose(t []byte) bool {
	return len(t) > 3 && t[0] == '<' && t[len(t)-1] == '>' && bytes.IndexByte(t, '.') > 1
}

// splitTag splits an RFC 3164 tag, its trailing ':' removed, into program
// and pid: "sshd[123]", "sudo", "pam_unix(sshd:auth)", "/usr/sbin/cron".
// The program runs to the first '['; a pid is taken only from a bracketed
// number closing the tag. A tag with no program is not a tag. Two older
// forms name the program around it: "sshd(pam_unix)[123]" (a PAM module
// logging for sshd, RHEL 5 and earlier: the program is sshd, so that its
// lines pair with sshd's own) and "[sshd]" or "(sshd)".
func splitTag(t []byte) (prog []byte, pid int, ok bool) {
	if n := len(t); n > 2 && (t[0] == '[' && t[n-1] == ']' || t[0] == '(' && t[n-1] == ')') {
		if in := t[1 : n-1]; !bytes.ContainsAny(in, "[]() ") {
			return in, 0, true
		}
		return nil, 0, false
	}
	k := bytes.IndexByte(t, '[')
	if k < 0 {
		return t, 0, len(t) > 0
	}
	if k == 0 {
		return nil, 0, false
	}
	if t[len(t)-1] == ']' {
		pid = atoi(t[k+1 : len(t)-1])
	}
	prog = t[:k]
	if p := bytes.IndexByte(prog, '('); p > 0 && prog[len(prog)-1] == ')' && pid != 0 {
		prog = prog[:p]
	}
	return prog, pid, true
}

// maxDay is the longest each month can be; Feb 29 is checked against the
// year once that is known.
var maxDay = [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// month returns 1-12 for a three-letter English month name in any case, or 0.
func month(a, b, c byte) int {
	switch uint32(a|0x20)<<16 | uint32(b|0x20)<<8 | uint32(c|0x20) {
	case 'j'<<16 | 'a'<<8 | 'n':
		return 1
	case 'f'<<16 | 'e'<<8 | 'b':
		return 2
	case 'm'<<16 | 'a'<<8 | 'r':
		return 3
	case 'a'<<16 | 'p'<<8 | 'r':
		return 4
	case 'm'<<16 | 'a'<<8 | 'y':
		return 5
	case 'j'<<16 | 'u'<<8 | 'n':
		return 6
	case 'j'<<16 | 'u'<<8 | 'l':
		return 7
	case 'a'<<16 | 'u'<<8 | 'g':
		return 8
	case 's'<<16 | 'e'<<8 | 'p':
		return 9
	case 'o'<<16 | 'c'<<8 | 't':
		return 10
	case 'n'<<16 | 'o'<<8 | 'v':
		return 11
	case 'd'<<16 | 'e'<<8 | 'c':
		return 12
	}
	return 0
}

// two parses two decimal digits.
func two(a, b byte) (int, bool) {
	a -= '0'
	b -= '0'
	return int(a)*10 + int(b), a < 10 && b < 10
}

// fraction parses the digits of a fraction of a second at the start of b
// and returns nanoseconds and the number of digits; digits past the ninth
// are consumed but do not count.
func fraction(b []byte) (nsec, n int) {
	scale := 100_000_000
	for n < len(b) && isDigit(b[n]) {
		nsec += int(b[n]-'0') * scale
		scale /= 10
		n++
	}
	return nsec, n
}
