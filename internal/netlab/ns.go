// Package netlab builds throw-away networks for tests: network namespaces
// of the test's own, joined by veth pairs, with addresses that exist only
// inside them, and probes (TCP connect, ICMP echo) between them. Nothing
// it does reaches the host's own network. Only tests import it.
package netlab

import (
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

	"github.com/vishvananda/netns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// IPCmd is iproute2's ip.
const IPCmd = "/usr/sbin/ip"

var nsSeq atomic.Int64

// NS is a network namespace of the test's own, removed by t.Cleanup with
// everything in it (tables, links, sockets).
type NS struct {
	Name string
	Fd   netns.NsHandle
}

// New creates a namespace with loopback up, or skips the test when the
// process may not: that takes CAP_SYS_ADMIN (to create it) and
// CAP_NET_ADMIN (for nftables in it).
func New(t testing.TB, role string) *NS {
	t.Helper()
	if _, err := os.Stat(IPCmd); err != nil {
		t.Skipf("skipping: needs iproute2 (%s) to create network namespaces: %v", IPCmd, err)
	}
	name := fmt.Sprintf("stk%d-%s%d", os.Getpid(), role, nsSeq.Add(1))
	out, err := exec.Command(IPCmd, "netns", "add", name).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if strings.Contains(msg, "not permitted") || strings.Contains(msg, "Permission denied") {
			t.Skipf("skipping: creating a network namespace and nftables in it needs CAP_SYS_ADMIN and CAP_NET_ADMIN "+
				"(run as root; CI does): ip netns add: %s", msg)
		}
		t.Fatalf("ip netns add %s: %v: %s", name, err, msg)
	}
	ns := &NS{Name: name}
	t.Cleanup(func() {
		if ns.Fd.IsOpen() {
			_ = ns.Fd.Close()
		}
		if out, err := exec.Command(IPCmd, "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	if ns.Fd, err = netns.GetFromName(name); err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	ns.IP(t, "link", "set", "lo", "up")
	return ns
}

// IP runs an iproute2 command inside the namespace.
func (ns *NS) IP(t testing.TB, args ...string) {
	t.Helper()
	args = append([]string{"-n", ns.Name}, args...)
	if out, err := exec.Command(IPCmd, args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// Do runs fn on an OS thread switched into the namespace. The thread is
// never unlocked, so it exits with the goroutine rather than going back to
// the scheduler in the wrong namespace. Sockets fn opens stay in the
// namespace and work from any goroutine afterwards.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(ns.Fd); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Dial tries a TCP connection from ns, bounded: a dropped SYN shows as a
// timeout.
func (ns *NS) Dial(addr netip.AddrPort) error {
	return ns.Do(func() error {
		c, err := net.DialTimeout("tcp", addr.String(), 300*time.Millisecond)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// Ping sends one ICMP echo request from ns over a raw socket (iputils
// ping need not be installed) and waits up to 300 ms for the reply.
func (ns *NS) Ping(dst netip.Addr, seq int) error {
	return ns.Do(func() error {
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

// IsTimeout reports whether err is a network timeout (what a dropped
// packet looks like to the sender).
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
