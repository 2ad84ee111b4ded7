package listen

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestSetReadBuffer(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	got, err := setReadBuffer(pc.(*net.UDPConn), DefaultReceiveBuffer)
	if err != nil {
		t.Fatal(err)
	}
	// Without CAP_NET_ADMIN the kernel caps it at net.core.rmem_max.
	if got <= 0 || got > DefaultReceiveBuffer {
		t.Errorf("receive buffer = %d, want up to %d", got, DefaultReceiveBuffer)
	}
	t.Logf("receive buffer: %d bytes", got)
}

// TestSocketDrops: the kernel's drop count, asked of the socket, is what
// did not fit its receive buffer: read + dropped = sent.
func TestSocketDrops(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	conn := pc.(*net.UDPConn)
	// The smallest buffer the kernel allows (it rounds up): a few datagrams.
	if err := conn.SetReadBuffer(1); err != nil {
		t.Fatal(err)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	drops := func() (n uint32, ok bool) {
		rc.Control(func(fd uintptr) { n, ok = socketDrops(int(fd)) })
		return n, ok
	}
	if n, ok := drops(); !ok || n != 0 {
		t.Fatalf("socketDrops of a fresh socket = %d, %v; want 0, true", n, ok)
	}
	c := dial(t, "udp", pc.LocalAddr())
	const sent = 200
	for range sent {
		if _, err := c.Write([]byte(msg3164)); err != nil {
			t.Fatal(err)
		}
	}
	read := 0
	buf := make([]byte, 2048)
	for {
		conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, _, err := conn.ReadFrom(buf); err != nil {
			break
		}
		read++
	}
	dropped, ok := drops()
	if !ok || dropped == 0 || read+int(dropped) != sent {
		t.Fatalf("read %d + dropped %d (%v), want %d with some dropped", read, dropped, ok, sent)
	}
	t.Logf("read %d, dropped %d", read, dropped)
}

// A consumer that stops reading fills the socket's receive buffer; what the
// kernel then drops shows in Stats, so that sent = received + dropped.
func TestUDPDropsCounted(t *testing.T) {
	s, out := startSyslog(t, Config{UDP: "127.0.0.1:0", ReceiveBuffer: 8 << 20})
	addr, _ := s.Addrs()
	c := dial(t, "udp", addr)
	msg := []byte(msg3164)
	// Nobody reads out: once it is full the listener stops reading, and
	// 60,000 datagrams of about 1 KiB of kernel memory each overflow an
	// 8 MiB buffer.
	sent := 0
	for ; sent < 60_000; sent++ {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			select {
			case <-out:
			case <-stop:
				return
			}
		}
	}()
	defer func() { close(stop); <-drained }()
	// The listener asks the kernel for the drop count while datagrams
	// come (at most every dropsPoll), so keep sending one now and then
	// until everything is accounted for.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.Stats().UDP
		if st.Received+st.Dropped == uint64(sent) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d + dropped %d != sent %d", st.Received, st.Dropped, sent)
		}
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		sent++
		time.Sleep(5 * time.Millisecond)
	}
	st := s.Stats().UDP
	if st.Dropped == 0 {
		t.Skip("the kernel dropped nothing: the receive buffer outgrew the test")
	}
	t.Logf("sent %d, received %d, dropped %d", sent, st.Received, st.Dropped)
}

// TestReceiveBuffer: the configured receive buffer is what the UDP and
// unix sockets get (CAP_NET_ADMIN passes net.core.rmem_max; without it
// the kernel caps it, which the listener warns about).
func TestReceiveBuffer(t *testing.T) {
	const want = 3 << 20
	s, err := NewSyslog(Config{UDP: "127.0.0.1:0", Unix: filepath.Join(t.TempDir(), "log.sock"), ReceiveBuffer: want})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Bind(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, c := range map[string]syscall.Conn{"udp": s.bound.udp, "unix": s.bound.unix} {
		rc, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var got int
		var gerr error
		rc.Control(func(fd uintptr) { got, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF) })
		if gerr != nil {
			t.Fatal(gerr)
		}
		got /= 2 // the kernel reports twice what was asked (its bookkeeping)
		if os.Geteuid() == 0 && got != want || got > want {
			t.Errorf("%s: receive buffer %d, want %d", name, got, want)
		}
	}
}
