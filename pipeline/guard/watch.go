package guard

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// WatchConfig says whose addresses Watch follows.
type WatchConfig struct {
	// NetNS is an open network namespace fd to follow (tests); 0 is the
	// process's own namespace.
	NetNS int
	// OnError, when set, hears about a failed read before Watch reads the
	// whole list again.
	OnError func(error)
}

// Watch keeps the Own set equal to the host's interface addresses, from
// netlink address events (RTM_NEWADDR, RTM_DELADDR): an address added after
// start is protected from the moment the kernel has it, not at the next
// restart. It returns once the current addresses are in the set, and
// follows them until ctx is done.
func (g *Guard) Watch(ctx context.Context, cfg WatchConfig) error {
	fd, err := openAddrSocket(cfg.NetNS)
	if err != nil {
		return fmt.Errorf("guard: follow own addresses: %w", err)
	}
	w := &watcher{fd: fd, g: g, addrs: map[ownKey]bool{}}
	if err := w.dump(ctx); err != nil {
		unix.Close(fd)
		return fmt.Errorf("guard: list own addresses: %w", err)
	}
	go func() {
		defer unix.Close(fd)
		for ctx.Err() == nil {
			err := w.follow(ctx)
			if err == nil || ctx.Err() != nil {
				return
			}
			if cfg.OnError != nil {
				cfg.OnError(err)
			}
			// Events were lost (ENOBUFS) or the socket failed: list anew.
			for ctx.Err() == nil {
				if err = w.dump(ctx); err == nil {
					break
				}
				if cfg.OnError != nil {
					cfg.OnError(err)
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}()
	return nil
}

// openAddrSocket opens a route netlink socket subscribed to address
// events, in netnsFd when set (a socket stays in the namespace it was made
// in).
func openAddrSocket(netnsFd int) (int, error) {
	open := func() (int, error) {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return -1, err
		}
		sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR}
		if err := unix.Bind(fd, sa); err != nil {
			unix.Close(fd)
			return -1, err
		}
		// Wake up now and then to notice ctx.
		tv := unix.NsecToTimeval(int64(250 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return -1, err
		}
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
		return fd, nil
	}
	if netnsFd == 0 {
		return open()
	}
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread never goes back to the scheduler in the wrong
		// namespace: it exits with the goroutine.
		runtime.LockOSThread()
		if err := netns.Set(netns.NsHandle(netnsFd)); err != nil {
			ch <- result{-1, err}
			return
		}
		fd, err := open()
		ch <- result{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}

type ownKey struct {
	index uint32
	addr  netip.Addr
}

type watcher struct {
	fd    int
	g     *Guard
	addrs map[ownKey]bool
	seq   uint32
	buf   [1 << 16]byte
}

// dump lists every address and replaces the Own set with them.
func (w *watcher) dump(ctx context.Context) error {
	w.seq++
	req := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofIfAddrmsg)
	h := (*unix.NlMsghdr)(unsafePointer(req))
	h.Len = uint32(len(req))
	h.Type = unix.RTM_GETADDR
	h.Flags = unix.NLM_F_REQUEST | unix.NLM_F_DUMP
	h.Seq = w.seq
	if err := unix.Sendto(w.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	fresh := map[ownKey]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return err
		}
		msgs, err := w.read()
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return err
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				if m.Header.Seq == w.seq {
					w.addrs = fresh
					w.publish()
					return nil
				}
			case unix.NLMSG_ERROR:
				if m.Header.Seq == w.seq {
					return fmt.Errorf("netlink error in the address dump")
				}
			case unix.RTM_NEWADDR:
				if k, ok := parseAddr(m); ok {
					fresh[k] = true
					w.addrs[k] = true
				}
			case unix.RTM_DELADDR:
				if k, ok := parseAddr(m); ok {
					delete(fresh, k)
					delete(w.addrs, k)
				}
			}
		}
	}
	return errors.New("no end to the address dump within 10s")
}

// follow applies address events until ctx is done or the socket fails.
func (w *watcher) follow(ctx context.Context) error {
	for ctx.Err() == nil {
		msgs, err := w.read()
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return err
		}
		changed := false
		for _, m := range msgs {
			k, ok := parseAddr(m)
			if !ok {
				continue
			}
			switch m.Header.Type {
			case unix.RTM_NEWADDR:
				changed = changed || !w.addrs[k]
				w.addrs[k] = true
			case unix.RTM_DELADDR:
				changed = changed || w.addrs[k]
				delete(w.addrs, k)
			}
		}
		if changed {
			w.publish()
		}
	}
	return nil
}

func (w *watcher) read() ([]syscall.NetlinkMessage, error) {
	n, _, err := unix.Recvfrom(w.fd, w.buf[:], 0)
	if err != nil {
		return nil, err
	}
	if n < unix.NLMSG_HDRLEN {
		return nil, nil
	}
	return syscall.ParseNetlinkMessage(w.buf[:n])
}

func (w *watcher) publish() {
	out := make([]netip.Prefix, 0, len(w.addrs))
	for k := range w.addrs {
		out = append(out, netip.PrefixFrom(k.addr, k.addr.BitLen()))
	}
	w.g.Set(Own, out)
}

// parseAddr reads an RTM_NEWADDR or RTM_DELADDR message: the interface and
// its local address (IFA_LOCAL; IFA_ADDRESS when there is none, as for
// IPv6, where IFA_ADDRESS is the local one).
func parseAddr(m syscall.NetlinkMessage) (ownKey, bool) {
	if m.Header.Type != unix.RTM_NEWADDR && m.Header.Type != unix.RTM_DELADDR || len(m.Data) < unix.SizeofIfAddrmsg {
		return ownKey{}, false
	}
	ifa := (*unix.IfAddrmsg)(unsafePointer(m.Data))
	attrs, err := syscall.ParseNetlinkRouteAttr(&m)
	if err != nil {
		return ownKey{}, false
	}
	var local, address netip.Addr
	for _, a := range attrs {
		ip, ok := netip.AddrFromSlice(a.Value)
		if !ok {
			continue
		}
		switch a.Attr.Type {
		case unix.IFA_LOCAL:
			local = ip.Unmap()
		case unix.IFA_ADDRESS:
			address = ip.Unmap()
		}
	}
	if !local.IsValid() {
		local = address
	}
	if !local.IsValid() {
		return ownKey{}, false
	}
	return ownKey{index: ifa.Index, addr: local}, true
}
