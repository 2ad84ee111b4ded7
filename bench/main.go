// Command bench measures stockade against fail2ban on corpora it generates
// itself, seeded, of any size: an sshd auth.log with noise, an nginx access
// log, an eve.json of which 90 % are not alerts, and a Suricata fast.log.
//
//	go run ./bench -lines 1000000 -out bench/results
//
// In one run it builds stockade, writes the corpora, and measures:
//
//   - `stockade replay` on each file alone, on one core (GOMAXPROCS=1):
//     lines/s, lines per CPU-second, peak RSS (from the child's rusage);
//     and on -workers cores, the one file's work split over them, with
//     the same decisions byte for byte;
//   - the auth.log through the sshd jail of a fail2ban configuration
//     (-fail2ban-config, /etc/fail2ban by default): the dialect;
//   - fail2ban-regex, when installed, with its stock filter on the very
//     same file (sshd for auth.log, nginx-botsearch for the access log;
//     fail2ban ships none for Suricata), and the ratio;
//   - the four files replayed together on one core and on two
//     (--workers 2, GOMAXPROCS=2), the speed-up, and that both wrote the
//     same decisions byte for byte;
//   - the memory of a flood: a million distinct attackers tracked at once;
//   - the daemon's state: a flood of a million distinct addresses read
//     live, how much of it a kill -9 two seconds after its end keeps, the
//     state file per window, RSS, and the restart on it (how soon the
//     syslog port takes datagrams, whether any sent meanwhile are lost);
//   - the daemon live: syslog over loopback UDP at 200,000 messages/s
//     (issue 19's rate: none lost at 200,000 a second, a million per
//     CPU-second), how many were lost, and the CPU per message against
//     what a process that only reads the same datagrams costs.
//
// Results are printed as a markdown table and written to OUT/results.md
// and OUT/results.json. Nothing but Go is needed; fail2ban-regex is
// optional (apt-get install fail2ban).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"time"
)

type config struct {
	lines       int
	runs        int
	out         string
	bin         string
	data        string
	seed        uint64
	f2b         bool
	f2bLines    int
	f2bRuns     int
	floodAddr   int
	stateAddr   int
	stateSave   time.Duration
	live        time.Duration
	liveRate    int
	liveSenders int
	// liveAttacks adds the live row under attack.
	liveAttacks bool
	// liveBuffer is the listener's receive_buffer (0: its default).
	liveBuffer int
	workers    int
	f2bConfig  string
}

func main() {
	if os.Getenv(floorEnv) != "" {
		udpFloor()
		return
	}
	var c config
	flag.IntVar(&c.lines, "lines", 1_000_000, "lines per generated log")
	flag.IntVar(&c.runs, "runs", 3, "runs of each stockade measurement (the fastest counts)")
	flag.StringVar(&c.out, "out", "", "directory for results.md and results.json (default: print only)")
	flag.StringVar(&c.bin, "bin", "", "stockade binary to measure (default: build ./cmd/stockade)")
	flag.StringVar(&c.data, "data", "", "directory for the generated logs (default: a temporary one, removed after)")
	flag.Uint64Var(&c.seed, "seed", 1, "corpus seed")
	flag.BoolVar(&c.f2b, "fail2ban", true, "also measure fail2ban-regex when it is installed")
	flag.IntVar(&c.f2bLines, "fail2ban-lines", 0, "lines fail2ban-regex reads (0: the whole file; it is slow)")
	flag.IntVar(&c.f2bRuns, "fail2ban-runs", 0, "runs of fail2ban-regex (the fastest counts; default: as many as -runs)")
	flag.IntVar(&c.floodAddr, "flood", 1_000_000, "distinct attackers tracked at once in the memory test (0: skip)")
	flag.IntVar(&c.stateAddr, "state", 1_000_000, "distinct addresses the daemon's state holds in the state test: flood, kill -9, restart (0: skip)")
	flag.DurationVar(&c.stateSave, "state-save", 2*time.Second, "how long after the flood's end the state test kills the daemon (the bound for every window to be saved)")
	flag.DurationVar(&c.live, "live", 10*time.Second, "how long the daemon takes syslog over UDP (0: skip)")
	flag.IntVar(&c.liveRate, "live-rate", 200_000, "UDP messages per second in the live test")
	flag.IntVar(&c.liveSenders, "live-senders", 2, "goroutines sending the live test's datagrams, each from a socket of its own")
	flag.BoolVar(&c.liveAttacks, "live-attacks", true, "also run the live test under attack")
	flag.IntVar(&c.liveBuffer, "live-buffer", 0, "the live listener's receive_buffer in bytes (0: its default)")
	flag.IntVar(&c.workers, "workers", 2, "workers (and cores) of the parallel replays")
	flag.StringVar(&c.f2bConfig, "fail2ban-config", "/etc/fail2ban", "fail2ban configuration whose sshd jail replays the auth.log in the dialect (\"\": skip)")
	flag.Parse()
	if c.f2bRuns <= 0 {
		c.f2bRuns = c.runs
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	tmp, err := os.MkdirTemp("", "stockade-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if c.data == "" {
		c.data = filepath.Join(tmp, "data")
	}
	if c.bin == "" {
		c.bin = filepath.Join(tmp, "stockade")
		logf("building stockade")
		if err := build(ctx, c.bin); err != nil {
			return err
		}
	}
	r := &Results{
		Date:  time.Now().UTC().Format(time.RFC3339),
		Lines: c.lines, Runs: c.runs, F2BRuns: c.f2bRuns, Seed: c.seed,
		CPU: cpuModel(), Cores: runtime.NumCPU(), GoVersion: runtime.Version(),
	}
	logf("writing %d lines per log to %s", c.lines, c.data)
	corp, err := writeCorpus(c.data, c.lines, c.seed, c.floodAddr)
	if err != nil {
		return err
	}
	if err := measureFormats(ctx, c, tmp, corp, r); err != nil {
		return err
	}
	if err := measureParallel(ctx, c, corp, r); err != nil {
		return err
	}
	if c.floodAddr > 0 {
		if err := measureFlood(ctx, c, corp, r); err != nil {
			return err
		}
	}
	if c.stateAddr > 0 {
		if err := measureState(ctx, c, tmp, r); err != nil {
			return err
		}
	}
	if c.live > 0 {
		if err := measureLive(ctx, c, tmp, r); err != nil {
			return err
		}
		if err := measureFloor(ctx, c, r); err != nil {
			return err
		}
	}
	md := r.Markdown()
	fmt.Print(md)
	if c.out != "" {
		return r.Write(c.out, md)
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
