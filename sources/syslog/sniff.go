package syslog

// Sniff reports whether line looks like syslog in one of the forms Parse
// reads: a timestamp of its kind followed by a space and more text. It is
// meant for choosing a file's format from its first lines, and is strict
// enough not to claim nginx access or error logs, Suricata fast.log or
// eve.json, or fail2ban's own log, whose timestamp has a space for 'T', or
// MySQL's error log (see mysqlErrorLog).
func Sniff(line []byte) bool {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	i := 0
	if len(line) > 0 && line[0] == '<' {
		var ok bool
		if i, ok = skipPRI(line); !ok {
			return false
		}
		if v := versionEnd(line, i); v > 0 {
			if v < len(line) && line[v] == '-' {
				return followed(line, v+1)
			}
			_, n, err := isoStamp(line[v:])
			return err == nil && followed(line, v+n)
		}
	}
	var (
		n   int
		err error
	)
	if i < len(line) && isDigit(line[i]) {
		_, n, err = isoStamp(line[i:])
		if err == nil && i == 0 && mysqlErrorLog(line[n:]) {
			return false
		}
	} else {
		_, n, err = bsdStamp(line[i:])
	}
	return err == nil && followed(line, i+n)
}

// followed reports whether b[i:] is a space and then something else.
func followed(b []byte, i int) bool {
	if i >= len(b) || b[i] != ' ' {
		return false
	}
	i = skipSpaces(b, i)
	return i < len(b)
}

// mysqlErrorLog reports whether rest, what follows a line's RFC 3339
// timestamp, is MySQL's (5.7 and 8) error-log header: " 12 [Note] ", a
// thread id and a bracketed level. Read as syslog it would give a host
// "12" and a program "Note"; its lines are plain timestamped text. No
// syslog writer names a host with digits alone and tags itself with one of
// these words in brackets.
func mysqlErrorLog(rest []byte) bool {
	if len(rest) < 2 || rest[0] != ' ' || !isDigit(rest[1]) {
		return false
	}
	i := 2
	for i < len(rest) && isDigit(rest[i]) {
		i++
	}
	rest = rest[i:]
	for _, level := range [...]string{"Note", "Warning", "Error", "ERROR", "System"} {
		if len(rest) > len(level)+3 && rest[0] == ' ' && rest[1] == '[' &&
			string(rest[2:2+len(level)]) == level && rest[2+len(level)] == ']' && rest[3+len(level)] == ' ' {
			return true
		}
	}
	return false
}
