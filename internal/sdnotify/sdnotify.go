// Package sdnotify speaks systemd's notification protocol (sd_notify(3))
// without cgo: one datagram to the unix socket named by $NOTIFY_SOCKET.
// Outside a Type=notify unit the variable is unset and every call is a
// no-op, so the daemon calls it unconditionally.
package sdnotify

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// The states a service reports (sd_notify(3)).
const (
	Ready     = "READY=1"
	Reloading = "RELOADING=1"
	Stopping  = "STOPPING=1"
	Watchdog  = "WATCHDOG=1"
)

// Notifier sends state to the service manager. The zero value (no socket)
// drops everything.
type Notifier struct {
	addr *net.UnixAddr
}

// FromEnv is the notifier $NOTIFY_SOCKET names. An abstract socket is
// written "@name" in the variable and means a leading NUL byte.
func FromEnv() Notifier {
	return New(os.Getenv("NOTIFY_SOCKET"))
}

// New notifies the socket at path ("" for none).
func New(path string) Notifier {
	if path == "" {
		return Notifier{}
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	return Notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
}

// Enabled says whether a service manager listens.
func (n Notifier) Enabled() bool { return n.addr != nil }

// Notify sends one or more newline-separated assignments, e.g. Ready or
// "STATUS=reading 3 files". The manager reads one datagram per call, so
// the assignments arrive together.
func (n Notifier) Notify(state ...string) error {
	if n.addr == nil {
		return nil
	}
	msg := strings.Join(state, "\n")
	if strings.ContainsRune(msg, 0) {
		return errors.New("sdnotify: a NUL byte in the state")
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	// The manager reads the socket promptly; a bound write keeps a wedged
	// manager from wedging the daemon's main loop with it.
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, err = c.Write([]byte(msg))
	return err
}

// Status is a STATUS= line for systemctl status.
func Status(s string) string {
	return "STATUS=" + strings.ReplaceAll(s, "\n", " ")
}

// WatchdogInterval is how often to send Watchdog: half of $WATCHDOG_USEC,
// as sd_watchdog_enabled(3) advises, or 0 when no watchdog is set or it is
// set for another process ($WATCHDOG_PID).
func WatchdogInterval() time.Duration {
	return watchdogInterval(os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getpid())
}

func watchdogInterval(usec, pid string, self int) time.Duration {
	if usec == "" {
		return 0
	}
	if pid != "" {
		p, err := strconv.Atoi(pid)
		if err != nil || p != self {
			return 0
		}
	}
	us, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || us == 0 {
		return 0
	}
	return time.Duration(us) * time.Microsecond / 2
}
