package civil

import (
	"testing"
	"time"
)

func TestAgainstTimePackage(t *testing.T) {
	for y := 1900; y <= 2400; y += 7 {
		for m := 1; m <= 12; m++ {
			if got, want := DaysIn(y, m), time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day(); got != want {
				t.Fatalf("DaysIn(%d, %d) = %d, want %d", y, m, got, want)
			}
			for _, d := range []int{1, 15, DaysIn(y, m)} {
				want := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix() / 86400
				if got := DaysFromCivil(y, m, d); got != want {
					t.Fatalf("DaysFromCivil(%d, %d, %d) = %d, want %d", y, m, d, got, want)
				}
			}
		}
	}
	if _, ok := Digits([]byte("12a")); ok {
		t.Fatal("Digits accepted a letter")
	}
	if n, ok := Digits([]byte("2025")); !ok || n != 2025 {
		t.Fatal("Digits(2025)")
	}
}
