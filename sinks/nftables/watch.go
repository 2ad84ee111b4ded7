package nftables

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	nft "github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Someone else's change to our table (`nft flush ruleset` when
// nftables.service restarts, `nft delete table inet stockade`, a set
// flushed by hand) would silently lift every ban until the next write
// found the kernel disagreeing. The sink follows nftables' change
// notifications instead and puts back what was taken within
// restoreDelay plus one read and write of the sets.
const (
	// restoreDelay gathers a burst of notifications (a flush ruleset sends
	// one per rule, set, chain and element) into one restore.
	restoreDelay = 20 * time.Millisecond
	// restoreGap bounds how often the sets are read back, however busy
	// another program is deleting elements of its own sets.
	restoreGap = 200 * time.Millisecond
	// monitorBuffer is the monitor socket's receive buffer: our own
	// writes notify too, one message per element. Beyond it the kernel
	// reports lost notifications and the watcher reads the sets back.
	monitorBuffer = 8 << 20
	// ownPorts is how many of the sink's netlink port IDs (one per dial)
	// are recognised as its own: notifications of a socket closed by a
	// redial can still be in flight.
	ownPorts = 4
)

// watcher is the goroutine that follows the notifications.
type watcher struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// ports remembers the sink's own netlink port IDs, so that the
// notifications of its own writes are not taken for someone else's.
type ports struct {
	mu  sync.Mutex
	ids [ownPorts]uint32
	n   int
}

func (p *ports) add(id uint32) {
	p.mu.Lock()
	p.ids[p.n%ownPorts] = id
	p.n++
	p.mu.Unlock()
}

func (p *ports) has(id uint32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, x := range p.ids[:min(p.n, ownPorts)] {
		if x == id {
			return true
		}
	}
	return false
}

// notePort is a socket option of every dial: it records the port ID the
// kernel bound the socket to, which its notifications carry.
func (s *Sink) notePort(c *netlink.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		var sa unix.Sockaddr
		if sa, serr = unix.Getsockname(int(fd)); serr == nil {
			if nl, ok := sa.(*unix.SockaddrNetlink); ok {
				s.ports.add(nl.Pid)
			}
		}
	}); err != nil {
		return err
	}
	return serr
}

// startWatch starts the watcher once, at the first Connect.
func (s *Sink) startWatch() {
	if s.watch != nil || s.cfg.NoWatch || s.deferWatch {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{cancel: cancel, done: make(chan struct{})}
	s.watch = w
	go func() {
		defer close(w.done)
		s.watchLoop(ctx)
	}()
}

// stopWatch ends the watcher and waits for it. It must be called without
// s.mu: a restore in progress takes it.
func (s *Sink) stopWatch() {
	s.mu.Lock()
	w := s.watch
	s.watch = nil
	s.mu.Unlock()
	if w != nil {
		w.cancel()
		<-w.done
	}
}

// watchLoop subscribes to the notifications and restores on every change
// of someone else's that concerns us. Each time it subscribes (the first
// time, and again when the subscription failed: the kernel dropped
// notifications, ENOBUFS) it also looks once, since what changed while
// nobody listened may have been a deletion.
func (s *Sink) watchLoop(ctx context.Context) {
	kick := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() { s.restorer(ctx, kick) })
	defer wg.Wait()
	for ctx.Err() == nil {
		if err := s.follow(ctx, kick); err != nil && ctx.Err() == nil {
			s.log.Warn("nftables: following changes to the ruleset", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func kickOnce(kick chan<- struct{}) {
	select {
	case kick <- struct{}{}:
	default:
	}
}

// follow reads notifications until the monitor fails or ctx ends.
func (s *Sink) follow(ctx context.Context, kick chan<- struct{}) error {
	opts := []nft.ConnOption{nft.WithSockOptions(monitorSocket)}
	if s.cfg.NetNS != 0 {
		opts = append(opts, nft.WithNetNSFd(s.cfg.NetNS))
	}
	c, err := nft.New(opts...)
	if err != nil {
		return err
	}
	mon := nft.NewMonitor(nft.WithMonitorEventBuffer(256))
	events, err := c.AddGenerationalMonitor(mon)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer func() {
		_ = mon.Close()
		for range events { // the monitor's goroutine ends once drained
		}
	}()
	kickOnce(kick)
	for {
		select {
		case <-ctx.Done():
			return nil
		case gen, ok := <-events:
			if !ok {
				return fmt.Errorf("the monitor closed")
			}
			if gen.GeneratedBy != nil && gen.GeneratedBy.Type == nft.MonitorEventTypeOOB {
				return gen.GeneratedBy.Error
			}
			for _, ev := range gen.Changes {
				if !s.ports.has(ev.Header.PID) && s.concerns(ev) {
					kickOnce(kick)
					break
				}
			}
		}
	}
}

// monitorSocket filters out, in the kernel, the notifications of new set
// elements (each of our own bans makes one: parsing them doubled the time
// a flood of 100,000 bans took to write), and raises the receive buffer
// past net.core.rmem_max (the sink holds CAP_NET_ADMIN, which
// SO_RCVBUFFORCE needs; without it the default stays, and lost
// notifications are handled as above).
//
// The kernel sends a transaction's notifications together: the filter
// sees the first. One that adds elements before it deletes others (an
// `nft -f` script doing both) is missed; a flush, a delete, a table or
// ruleset loaded again all start with a deletion or a new set.
func monitorSocket(c *netlink.Conn) error {
	if prog, err := bpf.Assemble(dropNewElements()); err == nil {
		_ = c.SetBPF(prog)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	_ = rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, monitorBuffer) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, monitorBuffer)
		}
	})
	return nil
}

// dropNewElements is a socket filter that drops messages whose type is
// NFT_MSG_NEWSETELEM: the low byte of nlmsg_type, a host-order u16 at
// offset 4 of the netlink header.
func dropNewElements() []bpf.Instruction {
	off := uint32(4)
	if binary.NativeEndian.Uint16([]byte{0, 1}) == 1 { // big-endian
		off = 5
	}
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: off, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.NFT_MSG_NEWSETELEM, SkipTrue: 1},
		bpf.RetConstant{Val: 0xffffffff},
		bpf.RetConstant{Val: 0},
	}
}

// concerns: a change that can take a ban or the rule enforcing it away.
// An element notification does not say its set, so any deletion of
// elements by someone else is looked into; a set created by someone else
// under one of our names (set-only mode: the admin's nftables.conf loaded
// again) is filled.
func (s *Sink) concerns(ev *nft.MonitorEvent) bool {
	switch ev.Type {
	case nft.MonitorEventTypeDelSetElem:
		return true
	case nft.MonitorEventTypeDelTable:
		t, ok := ev.Data.(*nft.Table)
		return !ok || s.ourTable(t)
	case nft.MonitorEventTypeDelChain:
		ch, ok := ev.Data.(*nft.Chain)
		return !ok || (!s.cfg.SetOnly && s.ourTable(ch.Table))
	case nft.MonitorEventTypeDelRule:
		r, ok := ev.Data.(*nft.Rule)
		return !ok || (!s.cfg.SetOnly && s.ourTable(r.Table))
	case nft.MonitorEventTypeDelSet, nft.MonitorEventTypeNewSet:
		set, ok := ev.Data.(*nft.Set)
		return !ok || (s.ourTable(set.Table) && s.ourSet(set.Name))
	}
	return false
}

func (s *Sink) ourTable(t *nft.Table) bool {
	return t == nil || (t.Name == s.table.Name && t.Family == s.table.Family)
}

func (s *Sink) ourSet(name string) bool {
	for _, f := range s.fams {
		if f.set.Name == name {
			return true
		}
	}
	return false
}

// restorer runs restores, kicked by follow, at most one per restoreGap.
func (s *Sink) restorer(ctx context.Context, kick <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(restoreDelay):
		}
		s.restore(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(restoreGap):
		}
	}
}

// restore makes the kernel hold the model again: the table, sets, chains
// and rules if they were deleted, and every ban still running. It is a
// check (Repair): a set of a million bans takes the kernel a minute to
// list, and bans and lifts go on meanwhile.
func (s *Sink) restore(ctx context.Context) {
	d, err := s.Repair(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if errors.Is(err, errNotConnected) && !s.ready() {
		return
	}
	if err != nil {
		s.dirty = true
		s.log.Error("nftables: could not restore the bans another program removed", "table", s.cfg.Family+" "+s.cfg.Table, "err", err)
		return
	}
	if added := d.Missing + d.Changed + d.Rules; added > 0 {
		s.stats.Restores++
		s.stats.Restored += uint64(added)
		s.log.Warn("nftables: another program removed bans or their rules; restored", "table", s.cfg.Family+" "+s.cfg.Table, "elements", added)
	}
}
