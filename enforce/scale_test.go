package enforce

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// TestTickScalesWithOrigins: a firewall trusting fifty sensors recounted
// each one's active bans at every tick by going over all the bans once per
// sensor, under the lock every decision takes. With 20,000 bans a tick now
// costs about the same whether the policy names one sensor or fifty.
func TestTickScalesWithOrigins(t *testing.T) {
	const bans = 20_000
	seed, _, err := sign.Generate()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := sign.NewSigner(seed)
	msgs := make([][2]string, bans)
	for i := range msgs {
		x := pipeline.Decision{Action: pipeline.ActionBan, Target: pipeline.MustTarget(fmt.Sprintf("203.0.%d.%d", i>>8, i&255)),
			Origin: "web1", At: now.Add(-time.Second), Expires: now.Add(time.Hour), Rule: "sshd"}
		data, _ := json.Marshal(x)
		sig, _ := s.Sign(data)
		msgs[i] = [2]string{string(data), sig}
	}
	cost := func(origins int) time.Duration {
		pol := Policy{}
		for i := range origins {
			o := Origin{Name: fmt.Sprintf("web%d", i+1), MaxPerMinute: 1 << 30, MaxActive: 1 << 30}
			if i == 0 {
				o.Key = s.PublicKey()
			} else {
				o.Key = newSensor(t, o.Name).signer.PublicKey()
			}
			pol.Origins = append(pol.Origins, o)
		}
		e := newEnforcer(t, pol, &recorder{})
		for _, m := range msgs {
			if r, err := e.Judge(context.Background(), []byte(m[0]), s.PublicKey(), m[1]); err != nil || r != Accepted {
				t.Fatalf("Judge: %v %v", r, err)
			}
		}
		best := time.Duration(1<<63 - 1)
		for range 5 {
			start := time.Now()
			e.Tick()
			best = min(best, time.Since(start))
		}
		if n, per := e.Active(); n != bans || per["web1"] != bans {
			t.Fatalf("%d active, %d of web1's, want %d", n, per["web1"], bans)
		}
		return best
	}
	one, fifty := cost(1), cost(50)
	ratio := float64(fifty) / float64(one)
	t.Logf("a tick with %d bans: %v for one sensor, %v for fifty (%.1f×)", bans, one, fifty, ratio)
	if ratio > 4 {
		t.Errorf("a tick costs %.1f× as much with fifty sensors as with one: it goes over the bans for each", ratio)
	}
}

// TestNextRepair: a check of a large set, which the loop waits for, comes
// at most a tenth of the time; a quick one at the configured pace.
func TestNextRepair(t *testing.T) {
	for _, tc := range []struct{ every, took, want time.Duration }{
		{10 * time.Second, 50 * time.Millisecond, 10 * time.Second},
		{10 * time.Second, 6 * time.Second, time.Minute},
		{time.Minute, 2 * time.Second, time.Minute},
	} {
		if got := nextRepair(tc.every, tc.took); got != tc.want {
			t.Errorf("every %v, a check of %v: next in %v, want %v", tc.every, tc.took, got, tc.want)
		}
	}
}
