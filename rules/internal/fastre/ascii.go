package fastre

// isASCII reports whether s has no byte >= 0x80. Only then are bytes and
// runes the same thing (Go decodes invalid UTF-8 as U+FFFD, one byte at a
// time), so only then may the byte-wise fast path answer for regexp.
//
// It runs on every line a regex is tried on: 16 bytes a round, their high
// bits gathered and tested once, cost half the instructions of a test per
// 8 bytes.
func isASCII(s string) bool {
	const high = 0x8080808080808080
	i := 0
	for ; i+16 <= len(s); i += 16 {
		if (load64(s, i)|load64(s, i+8))&high != 0 {
			return false
		}
	}
	if i+8 <= len(s) {
		if load64(s, i)&high != 0 {
			return false
		}
		i += 8
	}
	for ; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// load64 reads the 8 bytes at s[i:] as a little-endian word; the compiler
// makes it one load.
func load64(s string, i int) uint64 {
	t := s[i : i+8]
	return uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
		uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
}
