package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/stockade-ids/stockade/pipeline"
	"github.com/stockade-ids/stockade/rules"
)

// The control protocol: one JSON request line, one JSON reply line, over a
// unix socket of mode 0600 whose peer must be root or the daemon's own user.

type ctlReq struct {
	Op     string `json:"op"` // ping, status, ban, unban, reload, metrics
	Rule   string `json:"rule,omitempty"`
	Target string `json:"target,omitempty"`
	For    string `json:"for,omitempty"`
}

type ctlReply struct {
	OK       bool               `json:"ok"`
	Error    string             `json:"error,omitempty"`
	Message  string             `json:"message,omitempty"`
	Status   *statusReply       `json:"status,omitempty"`
	Decision *pipeline.Decision `json:"decision,omitempty"`
	Metrics  string             `json:"metrics,omitempty"`
}

type statusReply struct {
	Since      time.Time      `json:"since"`
	Clock      time.Time      `json:"clock"`
	ActiveBans int            `json:"active_bans"`
	Windows    int            `json:"windows"`
	Files      []fileStatus   `json:"files"`
	Rules      []ruleStatus   `json:"rules"`
	Listeners  []string       `json:"listeners,omitempty"`
	Bad        map[string]int `json:"bad_lines,omitempty"`
}

type fileStatus struct {
	Path   string `json:"path"`
	Format string `json:"format"`
	Lines  uint64 `json:"lines"`
	Offset int64  `json:"offset"`
}

// ruleStatus mirrors `fail2ban-client status JAIL`.
type ruleStatus struct {
	Rule             string   `json:"rule"`
	Pack             string   `json:"pack"`
	FilesWatched     []string `json:"files_watched"`
	CurrentlyFailing int      `json:"currently_failing"`
	TotalFailed      uint64   `json:"total_failed"`
	CurrentlyBanned  int      `json:"currently_banned"`
	TotalBanned      uint64   `json:"total_banned"`
	BannedList       []string `json:"banned"`
}

type ctlRequest struct {
	req   ctlReq
	reply chan ctlReply
}

type controlServer struct {
	ln   net.Listener
	path string
}

func (c *controlServer) Close() error {
	err := c.ln.Close()
	os.Remove(c.path)
	return err
}

// listenControl binds the socket. A stale socket left by a crash is
// removed; a live one (another daemon) is an error.
func listenControl(path string, ctl chan<- ctlRequest, log *slog.Logger) (*controlServer, error) {
	if conn, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		conn.Close()
		return nil, fmt.Errorf("control socket %s: another stockade is listening", path)
	}
	os.Remove(path)
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serveControl(conn.(*net.UnixConn), ctl, log)
		}
	}()
	return &controlServer{ln: ln, path: path}, nil
}

func serveControl(conn *net.UnixConn, ctl chan<- ctlRequest, log *slog.Logger) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	enc := json.NewEncoder(conn)
	if err := checkPeer(conn); err != nil {
		log.Warn("control connection refused", "err", err)
		enc.Encode(ctlReply{Error: err.Error()})
		return
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return
	}
	var req ctlReq
	if err := json.Unmarshal(line, &req); err != nil {
		enc.Encode(ctlReply{Error: "bad request: " + err.Error()})
		return
	}
	r := ctlRequest{req: req, reply: make(chan ctlReply, 1)}
	select {
	case ctl <- r:
	case <-time.After(10 * time.Second):
		enc.Encode(ctlReply{Error: "daemon busy"})
		return
	}
	enc.Encode(<-r.reply)
}

// checkPeer admits root and the daemon's own user only: the socket's mode
// already says so, this also holds if someone loosens the mode by hand.
func checkPeer(conn *net.UnixConn) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var cred *syscall.Ucred
	var cerr error
	raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if cerr != nil {
		return cerr
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Getuid() {
		return fmt.Errorf("uid %d may not control stockade", cred.Uid)
	}
	return nil
}

// handle runs in the daemon loop: it alone touches the engine.
func (d *daemon) handle(ctx context.Context, req ctlReq) ctlReply {
	switch req.Op {
	case "ping":
		return ctlReply{OK: true, Message: "pong"}
	case "status":
		st := d.status(req.Rule)
		if req.Rule != "" && len(st.Rules) == 0 {
			return ctlReply{Error: fmt.Sprintf("no rule %q", req.Rule)}
		}
		return ctlReply{OK: true, Status: st}
	case "ban", "unban":
		target, err := rules.ParsePrefix(req.Target)
		if err != nil {
			return ctlReply{Error: err.Error()}
		}
		if req.Op == "unban" {
			x, ok := d.manualUnban(ctx, target)
			if !ok {
				return ctlReply{Error: req.Target + " is not banned"}
			}
			return ctlReply{OK: true, Decision: &x}
		}
		dur := time.Hour
		if req.For != "" {
			if dur, err = rules.ParseDuration(req.For); err != nil || dur <= 0 {
				return ctlReply{Error: "--for: want a positive duration"}
			}
		}
		if d.eng.AllowedPrefix(target) {
			return ctlReply{Error: req.Target + " is, or contains, an allowlisted address or one of this host's own: not banned"}
		}
		x, ok := d.manualBan(ctx, target, req.Rule, dur)
		if !ok {
			return ctlReply{OK: true, Message: req.Target + " is already banned at least that long"}
		}
		return ctlReply{OK: true, Decision: &x}
	case "reload":
		if err := d.reload(ctx); err != nil {
			return ctlReply{Error: "reload refused, the previous rule packs stay in force, and so does the configuration:\n" + err.Error()}
		}
		return ctlReply{OK: true, Message: fmt.Sprintf("reloaded: %d rules", len(d.eng.Matcher().Policies()))}
	case "metrics":
		return ctlReply{OK: true, Metrics: d.metricsText()}
	}
	return ctlReply{Error: fmt.Sprintf("unknown op %q", req.Op)}
}

func (d *daemon) status(only string) *statusReply {
	now := d.now()
	st := &statusReply{Since: d.started, Clock: d.eng.Now(), ActiveBans: d.eng.Ledger().Len(), Windows: d.eng.Counter().Len(), Bad: map[string]int{}}
	formats := map[string]string{}
	for _, t := range d.tailers {
		for _, fs := range t.Stats() {
			st.Files = append(st.Files, fileStatus{Path: fs.Path, Format: fs.Format.String(), Lines: fs.Lines, Offset: fs.Offset})
			formats[fs.Path] = fs.Format.String()
			for r, n := range fs.Bad {
				st.Bad[r] += int(n)
			}
		}
	}
	for _, s := range d.syslogs {
		u, t := s.Addrs()
		if u != nil {
			st.Listeners = append(st.Listeners, "udp://"+u.String())
		}
		if t != nil {
			st.Listeners = append(st.Listeners, "tcp://"+t.String())
		}
	}
	failing := d.eng.Counter().Failing(now)
	stats := d.eng.Stats()
	set, _ := d.eng.Matcher().(*rules.Set)
	for i, p := range d.eng.Matcher().Policies() {
		if only != "" && p.Name != only {
			continue
		}
		rs := ruleStatus{Rule: p.Name, Pack: p.Pack, CurrentlyFailing: failing[p.ID],
			TotalFailed: stats[i].Matches, TotalBanned: stats[i].Bans, FilesWatched: []string{}, BannedList: []string{}}
		if set != nil {
			for _, f := range set.Rules()[i].Formats {
				for path, pf := range formats {
					if pf == f.String() && !slices.Contains(rs.FilesWatched, path) {
						rs.FilesWatched = append(rs.FilesWatched, path)
					}
				}
			}
			sort.Strings(rs.FilesWatched)
		}
		for _, t := range d.eng.Ledger().ByRule(p.Name, now) {
			s, _ := pipeline.TargetString(t)
			rs.BannedList = append(rs.BannedList, s)
		}
		sort.Strings(rs.BannedList)
		rs.CurrentlyBanned = len(rs.BannedList)
		st.Rules = append(st.Rules, rs)
	}
	return st
}

// --- the client side -----------------------------------------------------

func defaultSocket() string {
	if s := os.Getenv("STOCKADE_SOCKET"); s != "" {
		return s
	}
	return "/var/lib/stockade/stockade.sock"
}

func call(path string, req ctlReq) (ctlReply, error) {
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return ctlReply{}, fmt.Errorf("cannot reach stockade at %s (is it running? --socket or STOCKADE_SOCKET): %w", path, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	// A daemon that refuses us (see checkPeer) answers and closes before
	// reading the request, so the write may fail: its answer says why.
	werr := json.NewEncoder(conn).Encode(req)
	var rep ctlReply
	if err := json.NewDecoder(conn).Decode(&rep); err != nil {
		if werr != nil {
			return ctlReply{}, werr
		}
		return ctlReply{}, fmt.Errorf("bad reply from %s: %w", path, err)
	}
	if !rep.OK {
		return rep, errors.New(rep.Error)
	}
	return rep, nil
}

// ctlCmd implements ping, status, ban, unban and reload.
func ctlCmd(op string, args []string, stdout, stderr interface{ Write([]byte) (int, error) }) error {
	fl := newFlagSet(op, stderr)
	socket := fl.String("socket", defaultSocket(), "control socket of the running daemon")
	asJSON := fl.Bool("json", false, "print the reply as JSON (status)")
	rule := fl.String("rule", "", "rule name to ban under (ban)")
	dur := fl.String("for", "1h", "ban duration (ban)")
	pos, err := parseArgs(fl, args)
	if err != nil {
		return errHelp
	}
	req := ctlReq{Op: op}
	switch op {
	case "status":
		if len(pos) > 1 {
			return &exitError{code: 2, err: errors.New("usage: stockade status [RULE] [--json]")}
		}
		if len(pos) == 1 {
			req.Rule = pos[0]
		}
	case "ban", "unban":
		if len(pos) != 1 {
			return &exitError{code: 2, err: fmt.Errorf("usage: stockade %s ADDR|CIDR", op)}
		}
		if _, err := netip.ParsePrefix(pos[0]); err != nil {
			if _, err := netip.ParseAddr(pos[0]); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("%q is neither an address nor a CIDR", pos[0])}
			}
		}
		req.Target, req.Rule, req.For = pos[0], *rule, *dur
	}
	rep, err := call(*socket, req)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	switch {
	case rep.Status != nil:
		printStatus(stdout, rep.Status, req.Rule != "")
	case rep.Decision != nil && rep.Decision.Action == pipeline.ActionUnban:
		fmt.Fprintf(stdout, "unbanned %s\n", rep.Decision.Target)
	case rep.Decision != nil:
		fmt.Fprintf(stdout, "banned %s under %s until %s\n", rep.Decision.Target, rep.Decision.Rule, rep.Decision.Expires.Format(time.RFC3339))
	default:
		fmt.Fprintln(stdout, rep.Message)
	}
	return nil
}

func printStatus(w interface{ Write([]byte) (int, error) }, st *statusReply, one bool) {
	if !one {
		fmt.Fprintf(w, "Status\n|- Running since:\t%s\n|- Active bans:\t%d\n|- Tracked windows:\t%d\n`- Rules:\t", st.Since.Format(time.RFC3339), st.ActiveBans, st.Windows)
		var names []string
		for _, r := range st.Rules {
			names = append(names, r.Rule)
		}
		fmt.Fprintln(w, strings.Join(names, ", "))
		for _, f := range st.Files {
			fmt.Fprintf(w, "   file %s (%s): %d lines, offset %d\n", f.Path, f.Format, f.Lines, f.Offset)
		}
		return
	}
	for _, r := range st.Rules {
		fmt.Fprintf(w, "Status for the rule: %s\n", r.Rule)
		fmt.Fprintf(w, "|- Filter\n|  |- Currently failing:\t%d\n|  |- Total failed:\t%d\n|  `- File list:\t%s\n", r.CurrentlyFailing, r.TotalFailed, strings.Join(r.FilesWatched, " "))
		fmt.Fprintf(w, "`- Actions\n   |- Currently banned:\t%d\n   |- Total banned:\t%d\n   `- Banned IP list:\t%s\n", r.CurrentlyBanned, r.TotalBanned, strings.Join(r.BannedList, " "))
	}
}
