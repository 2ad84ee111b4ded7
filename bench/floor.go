package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// floorEnv makes the bench binary a bare UDP receiver (see measureFloor).
const floorEnv = "STOCKADE_BENCH_UDP_FLOOR"

// FloorResult is what receiving the live test's datagrams costs a process
// that does nothing else: the kernel's share of the daemon's CPU.
type FloorResult struct {
	Received   uint64  `json:"received"`
	CPUSeconds float64 `json:"cpu_seconds"`
	PerCPUSec  float64 `json:"msgs_per_cpu_s"`
}

// udpFloor is the receiver: it binds loopback UDP (the receive buffer as
// the daemon's default), prints its port, and reads as the daemon does: a
// blocking recvmmsg, 256 at a time, on a socket the Go runtime does not
// poll (pausing 5 ms after a short read), discarding what it reads, until
// nothing came for a second after the first datagram; then it prints how
// many it read and the CPU it took.
func udpFloor() {
	fd, port, err := floorSocket()
	if err != nil {
		fmt.Println("error", err)
		return
	}
	fmt.Println(port)
	const batch, room = 256, 2048
	hdrs := make([]mmsghdr, batch)
	iovs := make([]syscall.Iovec, batch)
	buf := make([]byte, batch*room)
	for i := range hdrs {
		iovs[i].Base = &buf[i*room]
		iovs[i].SetLen(room)
		hdrs[i].hdr.Iov = &iovs[i]
		hdrs[i].hdr.Iovlen = 1
	}
	var n uint64
	for {
		k, _, e := syscall.Syscall6(syscall.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&hdrs[0])), batch, unix.MSG_WAITFORONE, 0, 0)
		if e != 0 {
			if n > 0 && e == syscall.EAGAIN {
				break
			}
			continue
		}
		n += uint64(k)
		if k < batch {
			time.Sleep(5 * time.Millisecond)
		}
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Println(n, ru.Utime.Nano()+ru.Stime.Nano())
}

// mmsghdr is struct mmsghdr: a msghdr and the length received.
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

// floorSocket is a blocking UDP socket on 127.0.0.1 with a 32 MiB receive
// buffer and a one-second receive timeout, and its port.
func floorSocket() (int, int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return -1, 0, err
	}
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 32<<20)
	tv := syscall.NsecToTimeval(int64(time.Second))
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return -1, 0, err
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return -1, 0, err
	}
	return fd, sa.(*syscall.SockaddrInet4).Port, nil
}

// measureFloor sends the live test's traffic without attacks to a bare
// receiver: what no daemon can go below on this machine.
func measureFloor(ctx context.Context, c config, r *Results) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), floorEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		return fmt.Errorf("udp floor: no port")
	}
	port, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
	if err != nil {
		return fmt.Errorf("udp floor: %s", sc.Text())
	}
	msgs, err := liveMessages(c.seed, false)
	if err != nil {
		return err
	}
	logf("sending %d syslog messages/s over UDP for %s to a receiver that only reads", c.liveRate, c.live)
	if _, _, err := sendLive(ctx, c, port, msgs); err != nil {
		return err
	}
	if !sc.Scan() {
		return fmt.Errorf("udp floor: no count")
	}
	var fr FloorResult
	var ns int64
	fmt.Sscan(sc.Text(), &fr.Received, &ns)
	cmd.Wait()
	fr.CPUSeconds = time.Duration(ns).Seconds()
	if fr.CPUSeconds > 0 {
		fr.PerCPUSec = float64(fr.Received) / fr.CPUSeconds
	}
	r.Floor = &fr
	return nil
}
