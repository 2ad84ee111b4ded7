// Command stockade reads security logs and turns attacks into bans.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

const usage = `stockade turns attacks seen in logs into ban decisions.

Usage:
  stockade run --config FILE        run the daemon (or: stockade run [flags] FILE...)
  stockade check [--config FILE]    check the daemon's or the enforcer's configuration and its packs; exit 2 on problems
  stockade status [RULE] [--json]   what the running daemon sees and bans
  stockade bans [ADDR|CIDR] [--rule R] [--origin O] [--since D] [--simulated] [-o json]
                                    every active ban with its rule, origin, time left and evidence
  stockade bans import FILE [--origin NAME] [--for D]
                                    ban a list (plain, FireHOL netset, Spamhaus DROP) under list:NAME
  stockade history ADDR|CIDR        every decision about an address
  stockade ban ADDR|CIDR [--rule R] [--for D] [--replace]
  stockade unban ADDR|CIDR [--rule R] | unban --all [--rule R]
  stockade allow add|del|list [CIDR] [--for D] [--comment TEXT]
                                    the runtime allowlist (adding lifts the bans it covers)
  stockade reload                   reload the configuration and rule packs (also on SIGHUP)
  stockade ping
  stockade replay [flags] FILE...   replay archived logs (.gz too) in event-time order
  stockade lint [--rules PATH]...   load rule packs and report every error
  stockade test [PACK|DIR]...       run the tests: blocks of rule packs (default: the built-in ones)
  stockade explain [flags] FILE|-   show, line by line, what every rule makes of a log
  stockade import fail2ban DIR      print a fail2ban configuration's enabled jails as a rule pack
  stockade enforce --config FILE    enforce signed decisions from NATS or Kafka under this firewall's policy
  stockade enforce status|bans|unban|allow|reload|check   control a running firewall (see stockade enforce --help)
  stockade fleet status             what each firewall acknowledged on the bus: applied, refused, missing, latency
  stockade keygen --out FILE        make a sensor's signing key; print its public key for the firewalls
  stockade packs                    list the built-in rule packs
  stockade version

Run 'stockade COMMAND -h' for the flags of a command.
`

// exitError carries an exit code: 1 for a failure while running, 2 for bad
// usage, a bad pack or an unreadable file.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startProfile(os.Getenv("STOCKADE_CPUPROFILE"))
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stopProfile()
	stop()
	if err != nil {
		code := 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if err != errHelp {
			fmt.Fprintln(os.Stderr, "stockade:", err)
		}
		os.Exit(code)
	}
}

// startProfile writes a CPU profile of the whole run to path (the
// STOCKADE_CPUPROFILE environment variable), for `go tool pprof`; it
// returns what stops it. An empty path profiles nothing.
func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stockade: cpu profile:", err)
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

var errHelp = &exitError{code: 2, err: errors.New("help")}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errHelp
	}
	switch args[0] {
	case "replay":
		return replayCmd(ctx, args[1:], stdout, stderr)
	case "run":
		return runCmd(ctx, args[1:], stdout, stderr)
	case "status", "ban", "unban", "reload", "ping":
		return ctlCmd(args[0], args[1:], stdout, stderr)
	case "bans", "history", "allow":
		return opsCmd(args[0], args[1:], stdout, stderr)
	case "lint":
		return lintCmd(args[1:], stdout, stderr)
	case "check":
		return checkCmd(args[1:], stdout, stderr)
	case "test":
		return testCmd(ctx, args[1:], stdout, stderr)
	case "explain":
		return explainCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	case "import":
		return importCmd(args[1:], stdout, stderr)
	case "packs":
		return packsCmd(stdout)
	case "enforce":
		return enforceCmd(ctx, args[1:], stdout, stderr)
	case "fleet":
		return fleetCmd(ctx, args[1:], stdout, stderr)
	case "keygen":
		return keygenCmd(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "stockade", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &exitError{code: 2, err: fmt.Errorf("unknown command %q", args[0])}
}

var version = "dev"
