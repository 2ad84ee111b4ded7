package fastre

// isASCII reports whether s has no byte >= 0x80. Only then are bytes and
// runes the same thing (Go decodes invalid UTF-8 as U+FFFD, one byte at a
// time), so only then may the byte-wise fast path answer for regexp.
func isASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		t := s[i : i+8]
		x := uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
		if x&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
