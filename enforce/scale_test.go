package enforce

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nft "github.com/google/nftables"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/internal/netlab"
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

// TestCheckBesideTheLoop: the periodic check of the kernel's sets runs
// beside the firewall's loop. The kernel lists a set in a time growing
// with the square of its elements (a million bans: minutes), and the loop
// that feeds systemd's watchdog, ticks and answers the control socket
// waited for it: past WatchdogSec (30 s), systemd killed the firewall at
// every check. Here a check of 100,000 bans (a second or two), which finds
// and removes an element added by hand, does not hold up a ping.
func TestCheckBesideTheLoop(t *testing.T) {
	const n = 100000
	l := startLive(t)
	l.stop()
	var script strings.Builder
	for i := range n {
		if i%5000 == 0 {
			if i > 0 {
				script.WriteString(" }\n")
			}
			script.WriteString("add element inet stockade banned4 { ")
		} else {
			script.WriteString(", ")
		}
		fmt.Fprintf(&script, "45.%d.%d.%d timeout 3h", i>>15, i>>7&255, i<<1&255)
	}
	script.WriteString(" }\n")
	file := filepath.Join(t.TempDir(), "bans.nft")
	if err := os.WriteFile(file, []byte(script.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	nft := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(netlab.IPCmd, append([]string{"netns", "exec", l.ns.Name, "nft"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
	}
	nft("-f", file)
	// The bans in the kernel (public addresses: the policy refuses
	// private ones) are adopted at the start; the watch, which
	// would undo the hand-made element before the check, is off.
	l.cfg.NFTables.NoWatch = true
	l.cfg.RepairEvery = time.Second // the first check comes after the element below
	l.start()
	// Added over netlink, in a millisecond: `nft add element` lists the
	// set first (2.5 s for these 100,000 bans, more on a loaded host), so
	// the first check listed before the element was in, found nothing, and
	// the next came ten of its durations later (see nextRepair): past the
	// deadline below when a loaded host made a check take 6 s.
	addByHand(t, l.ns, "banned4", netip.MustParseAddr("192.0.2.99"), time.Hour)
	var worst time.Duration
	deadline := time.Now().Add(60 * time.Second)
	for repaired := false; !repaired; {
		if time.Now().After(deadline) {
			t.Fatal("no check repaired the element added by hand within 60 s")
		}
		start := time.Now()
		l.must(control.Request{Op: "ping"})
		worst = max(worst, time.Since(start))
		select {
		case a := <-l.acks:
			repaired = a.Verdict == VerdictRepaired
		case <-time.After(10 * time.Millisecond):
		}
	}
	if l.inKernel("192.0.2.99") {
		t.Errorf("the element added by hand is still in the set")
	}
	t.Logf("the slowest ping while checks of %d bans ran: %v", n, worst)
	if worst > 500*time.Millisecond {
		t.Errorf("a ping waited %v: the loop waited for the check's listing", worst)
	}
}

// addByHand adds a to set of the firewall's table in ns as another
// program would, over netlink: one element, timing out after timeout.
func addByHand(t *testing.T, ns *netlab.NS, set string, a netip.Addr, timeout time.Duration) {
	t.Helper()
	c, err := nft.New(nft.WithNetNSFd(int(ns.Fd)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseLasting()
	s, err := c.GetSetByName(&nft.Table{Name: "stockade", Family: nft.TableFamilyINet}, set)
	if err != nil {
		t.Fatalf("set %s: %v", set, err)
	}
	els := []nft.SetElement{{Key: a.AsSlice(), Timeout: timeout}, {Key: a.Next().AsSlice(), IntervalEnd: true}}
	if err := c.SetAddElements(s, els); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatalf("add %v to %s: %v", a, set, err)
	}
}
