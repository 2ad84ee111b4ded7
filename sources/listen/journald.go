package listen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/sources"
)

// JournaldSource is the Source of events read by Journald.
const JournaldSource = "journald"

const (
	// maxRecord bounds one JSON record: a 64 KiB binary MESSAGE written as
	// an array of numbers is four times that, plus the other fields.
	maxRecord = 1 << 20
	// journalBackoff and journalMaxBackoff space the restarts of a child
	// that keeps dying; a child that ran journalHealthy resets the delay.
	journalBackoff    = time.Second
	journalMaxBackoff = 30 * time.Second
	journalHealthy    = time.Minute
	// stderrTail is how much of the child's stderr is kept for the log.
	stderrTail = 2 << 10
)

// Journald follows the systemd journal by running `journalctl -f -o json`
// as a child process, which needs neither cgo nor libsystemd. Its zero value
// is ready to use; it must not be copied after Run has begun.
type Journald struct {
	// Args are added after "-f -o json": unit filters ("-u", "ssh.service"),
	// "-n", "0" to skip the last entries written before the start, ...
	Args []string
	// Command is the journalctl to run; empty means "journalctl" in PATH.
	Command string
	// Loc is the zone event times are given in; nil means time.Local.
	Loc *time.Location
	// Log receives restarts and the child's complaints; nil discards them.
	Log *slog.Logger
	// Identities judges who may write as which program, by the fields
	// journald records about the writer (_UID, _EXE, _SYSTEMD_UNIT,
	// _COMM); nil means NewIdentities(nil, "", nil), the defaults.
	Identities *Identities
	// Web are the layout and trusted proxies of the access lines web
	// servers log to the journal (log_format, real_ip_from); zero: the
	// combined layout, no proxy trusted.
	Web sources.Web

	backoff time.Duration // first restart delay; tests shorten it
	ids     *Identities
	c       counters
}

// Stats returns the counts so far. It is safe to call at any time.
func (j *Journald) Stats() Counts { return j.c.snapshot() }

// Run follows the journal until ctx is done, and returns nil then. When the
// child dies it is restarted after a delay that grows while it keeps dying,
// resuming after the last record read so no entry is seen twice. Run fails
// at once when journalctl cannot be found or started, or when the first
// child fails before writing a single record (bad Args, most likely).
func (j *Journald) Run(ctx context.Context, out chan<- pipeline.Event) error {
	name := j.Command
	if name == "" {
		name = "journalctl"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return fmt.Errorf("journald: %s is not installed or not runnable: %w", name, err)
	}
	log := j.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	loc := j.Loc
	if loc == nil {
		loc = time.Local
	}
	first := j.backoff
	if first <= 0 {
		first = journalBackoff
	}
	j.ids = j.Identities
	if j.ids == nil {
		if j.ids, err = NewIdentities(nil, "", nil); err != nil {
			return fmt.Errorf("journald: %w", err)
		}
	}
	delay := first
	var cursor string
	for runs := 0; ; runs++ {
		began := time.Now()
		n, ended, err := j.follow(ctx, path, &cursor, loc, out)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return fmt.Errorf("journald: %s: %w", path, err)
		case runs == 0 && n == 0:
			return fmt.Errorf("journald: %s ended before writing a record: %w", path, ended)
		}
		if time.Since(began) >= journalHealthy {
			delay = first
		}
		log.Warn("journald: journalctl ended; restarting", "err", ended, "records", n, "retry in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		delay = min(2*delay, journalMaxBackoff)
	}
}

// follow runs one child until it ends or ctx is done, starting after
// *cursor if it is set and keeping it at the last record read. It returns
// how many records it read and why the child ended, or an error when it
// could not start it.
func (j *Journald) follow(ctx context.Context, path string, cursor *string, loc *time.Location, out chan<- pipeline.Event) (n int, ended, err error) {
	args := []string{"-f", "-o", "json"}
	userArgs := j.Args
	if after := *cursor; after != "" {
		// The cursor is where the previous child left off, so it replaces
		// any start position given (and --since would conflict with it).
		args = append(args, "--after-cursor="+after)
		userArgs = withoutStart(userArgs)
	}
	cmd := exec.CommandContext(ctx, path, append(args, withTrustedFields(userArgs)...)...)
	setProcessGroup(cmd)
	// A grandchild could keep the pipe open after the child is gone.
	cmd.WaitDelay = time.Second
	stderr := &tailBuffer{max: stderrTail}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	n, rerr := j.read(ctx, stdout, cursor, loc, out)
	if rerr != nil {
		// The pipe broke: the child is of no further use.
		killProcessGroup(cmd)
	}
	ended = cmd.Wait()
	if ended == nil {
		ended = rerr
	}
	if ended == nil {
		ended = errors.New("exit status 0")
	}
	if tail := strings.TrimSpace(stderr.String()); tail != "" {
		ended = fmt.Errorf("%w: %s", ended, tail)
	}
	return n, ended, nil
}

// read maps the child's JSON lines to events until its stdout ends.
func (j *Journald) read(ctx context.Context, r io.Reader, cursor *string, loc *time.Location, out chan<- pipeline.Event) (int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	rp := &recordParser{loc: loc}
	dec := sources.DecoderOf(rp, pipeline.FormatSyslog, &j.c.msgs) // maxRecord bounds records
	dec.SetWeb(j.Web)
	who := func() (Identity, error) { return rp.who, nil }
	check := func(ev *pipeline.Event) error { return j.ids.Judge(ev.Program, who) }
	n := 0
	var long []byte
	ev := new(pipeline.Event) // one for all: each record's is sent by value
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull && len(long) <= maxRecord {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			if len(long) > maxRecord {
				n++
				j.c.msgs.Bad(errTooLong.Reason)
				for err == bufio.ErrBufferFull {
					_, err = br.ReadSlice('\n')
				}
				long = nil
				if err == io.EOF {
					return n, nil
				}
				if err != nil {
					return n, err
				}
				continue
			}
			line = long
		}
		if len(bytes.TrimSpace(line)) > 0 {
			n++
			*ev = pipeline.Event{}
			o, _ := dec.DecodeChecked(line, ev, check)
			if rp.cursor != "" {
				*cursor = rp.cursor
			}
			if o == sources.Event {
				ev.Source = JournaldSource
				select {
				case out <- *ev:
				case <-ctx.Done():
					return n, nil
				}
			}
		}
		if err != nil {
			if err == io.EOF {
				return n, nil
			}
			return n, err
		}
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// trustedFields are the journal fields the identity of a record is judged
// by, and the ones an event is made of.
const trustedFields = "_UID,_EXE,_COMM,_SYSTEMD_UNIT,_PID,_HOSTNAME,MESSAGE,SYSLOG_IDENTIFIER,SYSLOG_PID"

// withTrustedFields adds the fields a record is judged by to an
// --output-fields option: without them every checked claim would be
// refused.
func withTrustedFields(args []string) []string {
	out := slices.Clone(args)
	for i, a := range out {
		switch {
		case a == "--output-fields" && i+1 < len(out):
			out[i+1] += "," + trustedFields
		case strings.HasPrefix(a, "--output-fields="):
			out[i] += "," + trustedFields
		}
	}
	return out
}

// withoutStart drops the options that choose where journalctl starts
// reading, which a cursor replaces.
func withoutStart(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--since" || a == "-S" || a == "--cursor" || a == "--after-cursor" ||
			a == "--cursor-file" || a == "-c":
			i++ // and its value
		case a == "--lines" || a == "-n":
			// The count is optional; journalctl takes the next argument
			// as the count when it is a number.
			if i+1 < len(args) && isCount(args[i+1]) {
				i++
			}
		case strings.HasPrefix(a, "--since=") || strings.HasPrefix(a, "--lines=") ||
			strings.HasPrefix(a, "--cursor=") || strings.HasPrefix(a, "--after-cursor=") ||
			strings.HasPrefix(a, "--cursor-file=") ||
			len(a) > 2 && (strings.HasPrefix(a, "-S") || strings.HasPrefix(a, "-n") || strings.HasPrefix(a, "-c")):
		default:
			out = append(out, a)
		}
	}
	return out
}

func isCount(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
