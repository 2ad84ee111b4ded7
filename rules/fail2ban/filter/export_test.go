package filter

// BuildIndexWith builds f's index with its fast paths (the prefix line
// read by structure, the failregexes' leads) or without, for the tests
// of package filter_test that compare the two.
func BuildIndexWith(f *Filter, fast bool) { f.index.Do(func() { f.buildIndexWith(fast) }) }

// FastPaths reports whether f reads its prefregex by structure.
func FastPaths(f *Filter) bool { return f.prefix != nil }
