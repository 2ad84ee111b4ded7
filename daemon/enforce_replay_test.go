package daemon

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockade-ids/stockade/control"
	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/netlab"
	"github.com/stockade-ids/stockade/internal/testkit"
	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// TestReplayedDecisions is issue 14's finding 7 end to end, over a real
// JetStream and a firewall's own nftables in its namespace: an attacker
// who can publish on the bus but holds no key captures the sensor's
// signed ban and unban off the stream and publishes them again (each with
// a new Nats-Msg-Id, so JetStream's own de-duplication keeps them). The
// ban replayed after the sensor's unban does not reach the kernel; the
// pair replayed a hundred times does not spend the sensor's rate (five
// bans a minute), so its next five genuine bans all reach the kernel.
func TestReplayedDecisions(t *testing.T) {
	f := newFleet(t, "nats", 1)
	f.tune = func(c *EnforceConfig) {
		c.Policy.Origins[0].MayUnban = true
		c.Policy.Origins[0].MaxPerMinute = 5
	}
	fw := f.startFirewall(0)
	f.startSensor()
	nsFd := int(f.lab.Hosts[0].Fd)
	inKernel := func(addr string) bool { _, ok := kernelBans(t, nsFd)[netip.MustParseAddr(addr)]; return ok }
	judged := func() uint64 {
		var n uint64
		for _, c := range fw.e.Enforcer().Counts() {
			n += c
		}
		return n
	}

	att := netlab.AttackerV4.String()
	f.h.fail(att, 5)
	testkit.WaitFor(t, "the sensor's ban in the firewall's kernel", func() bool { return inKernel(att) })
	if _, err := control.NewClient(f.h.socket).Do(control.Request{Op: "unban", Target: att}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the sensor's unban lifting the kernel element", func() bool { return !inKernel(att) })

	nc, err := nats.Connect(f.natsSrv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	ban, unban := captureDecisions(t, js, att)
	seq := 0
	replay := func(m *nats.Msg) {
		t.Helper()
		seq++
		r := nats.NewMsg(m.Subject)
		r.Data = m.Data
		r.Header.Set(sign.HeaderKey, m.Header.Get(sign.HeaderKey))
		r.Header.Set(sign.HeaderSig, m.Header.Get(sign.HeaderSig))
		r.Header.Set(nats.MsgIdHdr, fmt.Sprintf("replay-%d", seq))
		if _, err := js.PublishMsg(r); err != nil {
			t.Fatal(err)
		}
	}

	before := judged()
	replay(ban)
	testkit.WaitFor(t, "the firewall judging the replayed ban", func() bool { return judged() > before })
	if inKernel(att) {
		t.Errorf("the ban replayed after the sensor's unban is in the kernel; outcomes %v", fw.e.Enforcer().Counts())
	}
	if c := fw.e.Enforcer().Counts(); c[enforce.RefusedStale] != 1 {
		t.Errorf("outcomes %v: want the replayed ban refused as stale", c)
	}

	before = judged()
	for range 100 {
		replay(ban)
		replay(unban)
	}
	testkit.WaitForWithin(t, 30*time.Second, "the firewall judging the 200 replays", func() bool { return judged() >= before+200 })
	targets := make([]string, 5)
	for k := range targets {
		targets[k] = fmt.Sprintf("10.200.1.%d", 1+k)
		f.h.fail(targets[k], 5)
	}
	// The sensor's first ban spent one of the five tokens a minute: one
	// genuine ban may wait for the next token (12 s), deferred, not lost.
	testkit.WaitForWithin(t, 40*time.Second, "all 5 genuine bans in the firewall's kernel", func() bool {
		for _, a := range targets {
			if !inKernel(a) {
				return false
			}
		}
		return true
	})
	if c := fw.e.Enforcer().Counts(); c[enforce.RefusedStale]+c[enforce.RefusedDuplicate] != 201 || c[enforce.Accepted] < 5 {
		t.Errorf("outcomes %v: want the 201 replays refused (stale or duplicate), and the genuine bans accepted", c)
	}
}

// captureDecisions reads the stream from its start, as anyone allowed to
// subscribe could, and returns the sensor's signed ban and unban of target.
func captureDecisions(t *testing.T, js nats.JetStreamContext, target string) (ban, unban *nats.Msg) {
	t.Helper()
	sub, err := js.SubscribeSync("stockade.decisions.>", nats.OrderedConsumer())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	for range 1000 { // the stream holds a handful
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("reading the stream: %v (ban %v, unban %v)", err, ban != nil, unban != nil)
		}
		var d pipeline.Decision
		if json.Unmarshal(m.Data, &d) != nil || d.Target.String() != target {
			continue
		}
		switch d.Action {
		case pipeline.ActionBan:
			ban = m
		case pipeline.ActionUnban:
			unban = m
		}
		if ban != nil && unban != nil {
			return ban, unban
		}
	}
	t.Fatal("the stream does not hold the sensor's ban and unban")
	return nil, nil
}
