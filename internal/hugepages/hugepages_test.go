package hugepages

import "testing"

func TestDisabled(t *testing.T) {
	for godebug, want := range map[string]bool{
		"":                            false,
		"disablethp=1":                true,
		"disablethp=0":                false,
		"madvdontneed=1,disablethp=1": true,
		"disablethp=1, disablethp=0":  false, // the last wins
		" disablethp=1 ":              true,
		"xdisablethp=1":               false,
	} {
		got := disabled(func(k string) string {
			if k == "GODEBUG" {
				return godebug
			}
			return ""
		})
		if got != want {
			t.Errorf("GODEBUG=%q: disabled = %v, want %v", godebug, got, want)
		}
	}
}
