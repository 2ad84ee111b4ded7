package listen

import (
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

func TestSetReadBuffer(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	got, err := setReadBuffer(pc.(*net.UDPConn), udpReadBuffer)
	if err != nil {
		t.Fatal(err)
	}
	// Without CAP_NET_ADMIN the kernel caps it at net.core.rmem_max.
	if got <= 0 || got > udpReadBuffer {
		t.Errorf("receive buffer = %d, want up to %d", got, udpReadBuffer)
	}
	t.Logf("receive buffer: %d bytes", got)
}

func TestDropCount(t *testing.T) {
	hdr := syscall.CmsgLen(0)
	msg := func(level, typ int32, v uint32) []byte {
		b := make([]byte, syscall.CmsgSpace(4))
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = level, typ
		h.SetLen(syscall.CmsgLen(4))
		*(*uint32)(unsafe.Pointer(&b[hdr])) = v
		return b
	}
	other := msg(syscall.SOL_SOCKET, syscall.SO_TIMESTAMP, 9)
	tests := []struct {
		name string
		oob  []byte
		want uint32
		ok   bool
	}{
		{"none", nil, 0, false},
		{"drops", msg(syscall.SOL_SOCKET, syscall.SO_RXQ_OVFL, 42), 42, true},
		{"after another message", append(other, msg(syscall.SOL_SOCKET, syscall.SO_RXQ_OVFL, 7)...), 7, true},
		{"other only", other, 0, false},
		{"truncated", msg(syscall.SOL_SOCKET, syscall.SO_RXQ_OVFL, 1)[:hdr+2], 0, false},
		{"short header", []byte{1, 2, 3}, 0, false},
	}
	for _, tt := range tests {
		if got, ok := dropCount(tt.oob); got != tt.want || ok != tt.ok {
			t.Errorf("%s: dropCount = %d, %v; want %d, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// A consumer that stops reading fills the socket's receive buffer; what the
// kernel then drops shows in Stats, so that sent = received + dropped.
func TestUDPDropsCounted(t *testing.T) {
	s, out := startSyslog(t, Config{UDP: "127.0.0.1:0"})
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
	// The drop count arrives with the next datagram the kernel queues, so
	// keep sending one now and then until everything is accounted for.
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
