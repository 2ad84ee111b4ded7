package nftables

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	nft "github.com/google/nftables"
	"github.com/vishvananda/netns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/stockade-ids/stockade/pipeline"
)

const ipCmd = "/usr/sbin/ip"

var nsSeq atomic.Int64

// testNS is a network namespace of the test's own, removed by t.Cleanup
// with everything in it (tables, links, sockets).
type testNS struct {
	name string
	fd   netns.NsHandle
}

// newNS creates a namespace, or skips the test when the process may not:
// that takes CAP_SYS_ADMIN (to create it) and CAP_NET_ADMIN (for nftables).
func newNS(t testing.TB, role string) *testNS {
	t.Helper()
	if _, err := os.Stat(ipCmd); err != nil {
		t.Skipf("skipping: needs iproute2 (%s) to create network namespaces: %v", ipCmd, err)
	}
	name := fmt.Sprintf("stk%d-%s%d", os.Getpid(), role, nsSeq.Add(1))
	out, err := exec.Command(ipCmd, "netns", "add", name).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if strings.Contains(msg, "not permitted") || strings.Contains(msg, "Permission denied") {
			t.Skipf("skipping: creating a network namespace and nftables in it needs CAP_SYS_ADMIN and CAP_NET_ADMIN "+
				"(run as root; CI does): ip netns add: %s", msg)
		}
		t.Fatalf("ip netns add %s: %v: %s", name, err, msg)
	}
	ns := &testNS{name: name}
	t.Cleanup(func() {
		if ns.fd.IsOpen() {
			_ = ns.fd.Close()
		}
		if out, err := exec.Command(ipCmd, "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	if ns.fd, err = netns.GetFromName(name); err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	ns.ip(t, "link", "set", "lo", "up")
	return ns
}

// ip runs an iproute2 command inside the namespace.
func (ns *testNS) ip(t testing.TB, args ...string) {
	t.Helper()
	args = append([]string{"-n", ns.name}, args...)
	if out, err := exec.Command(ipCmd, args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// do runs fn on an OS thread switched into the namespace. The thread is
// never unlocked, so it exits with the goroutine rather than going back to
// the scheduler in the wrong namespace. Sockets fn opens stay in the
// namespace and work from any goroutine afterwards.
func (ns *testNS) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(ns.fd); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns.name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// conn is a netlink connection into the namespace, for checking the
// kernel's side independently of the sink and for playing the admin.
func (ns *testNS) conn(t testing.TB) *nft.Conn {
	t.Helper()
	c, err := nft.New(nft.WithNetNSFd(int(ns.fd)), nft.WithSockOptions(bigDumps))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newSink makes a connected sink working in ns, closed by t.Cleanup.
func newSink(t testing.TB, ns *testNS, cfg Config) *Sink {
	t.Helper()
	cfg.NetNS = int(ns.fd)
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Connect(context.Background()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// contents lists a set's elements as CIDR block → time left.
func contents(t testing.TB, ns *testNS, table string, fam nft.TableFamily, set string) map[string]time.Duration {
	t.Helper()
	c := ns.conn(t)
	els, err := c.GetSetElements(&nft.Set{Table: &nft.Table{Name: table, Family: fam}, Name: set})
	if err != nil {
		t.Fatalf("list set %s: %v", set, err)
	}
	now := time.Now()
	out := map[string]time.Duration{}
	for _, e := range parseElements(els, now) {
		left := e.expires.Sub(now)
		if e.expires == never {
			left = -1
		}
		for _, p := range rangePrefixes(e) {
			out[p.String()] = left
		}
	}
	return out
}

// banned lists both sets of the default inet table.
func banned(t testing.TB, ns *testNS) map[string]time.Duration {
	t.Helper()
	out := contents(t, ns, "stockade", nft.TableFamilyINet, "banned4")
	for k, v := range contents(t, ns, "stockade", nft.TableFamilyINet, "banned6") {
		out[k] = v
	}
	return out
}

// about reports whether got is want, give or take the time a test takes.
func about(got, want time.Duration) bool {
	d := got - want
	return d > -3*time.Second && d < time.Second
}

func banFor(target string, d time.Duration) pipeline.Decision {
	now := time.Now()
	return pipeline.Decision{
		ID: "test-" + target, Action: pipeline.ActionBan, Target: target, Rule: "test",
		At: now, Duration: int64(d / time.Second), Expires: now.Add(d),
	}
}

func unban(target string) pipeline.Decision {
	return pipeline.Decision{ID: "test-unban-" + target, Action: pipeline.ActionUnban, Target: target, At: time.Now()}
}

func write(t testing.TB, s *Sink, ds ...pipeline.Decision) {
	t.Helper()
	if err := s.Write(context.Background(), ds); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// dial tries a TCP connection from ns, bounded: a dropped SYN shows as a
// timeout.
func (ns *testNS) dial(addr netip.AddrPort) error {
	return ns.do(func() error {
		c, err := net.DialTimeout("tcp", addr.String(), 300*time.Millisecond)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// ping sends one ICMP echo request from ns over a raw socket (iputils
// ping need not be installed) and waits up to 300 ms for the reply.
func (ns *testNS) ping(dst netip.Addr, seq int) error {
	return ns.do(func() error {
		network, listen, proto := "ip4:icmp", "0.0.0.0", 1
		var typ, reply icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
		if dst.Is6() {
			network, listen, proto = "ip6:ipv6-icmp", "::", 58
			typ, reply = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
		}
		c, err := icmp.ListenPacket(network, listen)
		if err != nil {
			return err
		}
		defer c.Close()
		id := os.Getpid() & 0xffff
		msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("stockade")}}
		b, err := msg.Marshal(nil)
		if err != nil {
			return err
		}
		if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return err
		}
		if err := c.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
			return err
		}
		buf := make([]byte, 1500)
		for range 64 {
			n, peer, err := c.ReadFrom(buf)
			if err != nil {
				return err
			}
			m, err := icmp.ParseMessage(proto, buf[:n])
			if err != nil || m.Type != reply {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && e.Seq == seq && peer.String() == dst.String() {
				return nil
			}
		}
		return errors.New("no echo reply among 64 packets")
	})
}
