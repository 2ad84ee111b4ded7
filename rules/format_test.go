package rules

import (
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		10 * time.Minute:               "10m",
		90 * time.Minute:               "1h30m",
		7 * 24 * time.Hour:             "1w",
		60*time.Hour + 30*time.Second:  "2d12h30s",
		1500 * time.Millisecond:        "1s500ms",
		0:                              "0s",
		8*24*time.Hour + 2*time.Minute: "1w1d2m",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestAnchored(t *testing.T) {
	for re, want := range map[string]bool{
		`^a <HOST>$`:  true,
		`a <HOST>$`:   false,
		`^a <HOST>`:   false,
		`^a <HOST>\$`: false,
		`^a\\$`:       true,
	} {
		if got := Anchored(re); got != want {
			t.Errorf("Anchored(%q) = %v", re, got)
		}
	}
}
