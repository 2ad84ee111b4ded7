package tail

import "bytes"

// maxFingerprint bounds the bytes a fingerprint covers, so a file whose
// first line is huge still gets one.
const maxFingerprint = 4 << 10

// fingerprint identifies a file by its first line, given its first bytes:
// a rename keeps it, a truncation and rewrite changes it. It returns the
// hash and how many bytes it covers (the '\n' included), or 0, 0 while the
// first line is not complete. The hash is FNV-1a, stable across versions
// because checkpoints store it; it is never 0, which means "none".
func fingerprint(head []byte) (uint64, int) {
	if len(head) > maxFingerprint {
		head = head[:maxFingerprint]
	}
	n := len(head)
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head, n = head[:i], i+1
	} else if n < maxFingerprint {
		return 0, 0
	}
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for _, c := range head {
		h ^= uint64(c)
		h *= prime64
	}
	if h == 0 {
		h = 1
	}
	return h, n
}
