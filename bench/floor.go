package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
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
// the daemon's), prints its port, reads with recvmmsg 256 at a time
// (pausing 5 ms after a short read, as the daemon does) and discards, until
// nothing came for a second after the first datagram; then prints how many
// it read and the CPU it took.
func udpFloor() {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error", err)
		return
	}
	if rc, err := c.(*net.UDPConn).SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 8<<20) })
	}
	fmt.Println(c.LocalAddr().(*net.UDPAddr).Port)
	pc := ipv4.NewPacketConn(c)
	msgs := make([]ipv4.Message, 256)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	var n uint64
	for {
		c.SetReadDeadline(time.Now().Add(time.Second))
		k, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			if n > 0 {
				break
			}
			continue
		}
		n += uint64(k)
		if k < len(msgs) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Println(n, ru.Utime.Nano()+ru.Stime.Nano())
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
