package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/stockade-ids/stockade/internal/yamlnode"
)

// ParseDuration accepts Go durations ("90s", "1h30m") and the day and week
// units ban times are usually written in ("7d", "1w", "1w2d").
func ParseDuration(s string) (time.Duration, error) { return yamlnode.ParseDuration(s) }

// FormatDuration writes a duration the way packs do: 10m, 1h30m, 1w, 2d12h.
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		unit string
		d    time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.unit)
			d -= n * u.d
		}
	}
	if d > 0 || b.Len() == 0 {
		// Below a second: say it exactly rather than round it away.
		return b.String() + d.String()
	}
	return b.String()
}
