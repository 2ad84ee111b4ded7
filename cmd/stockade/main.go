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
	writeAllocs(os.Getenv("STOCKADE_MEMPROFILE"))
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

// writeAllocs writes Go's allocation profile of the whole run to path
// (the STOCKADE_MEMPROFILE environment variable) at exit, for `go tool
// pprof -sample_index=alloc_space`: what a replay or the daemon
// allocated, and where. An empty path writes nothing.
func writeAllocs(path string) {
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stockade: allocation profile:", err)
	}
}

var errHelp = &exitError{code: 2, err: errors.New("help")}

// run runs the command of args.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return newApp(os.Stdin, stdout, stderr).execute(ctx, args)
}
