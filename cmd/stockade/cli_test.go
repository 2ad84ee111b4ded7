package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stockade-ids/stockade/daemon"
)

// commandPaths are the argument paths of every command, help and
// completion included ("import fail2ban", "completion bash", ...).
func commandPaths(t *testing.T) [][]string {
	t.Helper()
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		out = append(out, path)
		for _, s := range c.Commands() {
			walk(s, append(slices.Clone(path), s.Name()))
		}
	}
	root := newApp(nil, &bytes.Buffer{}, &bytes.Buffer{}).root()
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	walk(root, nil)
	if len(out) < 20 {
		t.Fatalf("only %d commands found: %v", len(out), out)
	}
	return out
}

// TestHelpEveryCommand: --help and -h on every command, and `help CMD`,
// print the command's help on stdout and exit 0, with nothing on stderr.
func TestHelpEveryCommand(t *testing.T) {
	for _, path := range commandPaths(t) {
		for _, args := range [][]string{append(slices.Clone(path), "--help"), append(slices.Clone(path), "-h"), append([]string{"help"}, path...)} {
			name := strings.Join(args, " ")
			var stdout, stderr bytes.Buffer
			if err := run(t.Context(), args, &stdout, &stderr); err != nil {
				t.Errorf("%s: %v, want exit 0", name, err)
			}
			if !strings.Contains(stdout.String(), "Usage:") {
				t.Errorf("%s: no usage on stdout:\n%s", name, stdout.String())
			}
			if stderr.Len() > 0 {
				t.Errorf("%s: wrote to stderr:\n%s", name, stderr.String())
			}
		}
	}
}

// TestFlagPlaceholders: help names what every flag with a value takes
// (`--config FILE`, `--for DURATION`), GNU-style, never a Go type name.
func TestFlagPlaceholders(t *testing.T) {
	types := regexp.MustCompile(`^(string|stringArray|int|bool|duration|strings)$`)
	for _, path := range commandPaths(t) {
		root := newApp(nil, &bytes.Buffer{}, &bytes.Buffer{}).root()
		c, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.NoOptDefVal != "" {
				return // takes no value
			}
			if name, _ := pflag.UnquoteUsage(f); types.MatchString(name) || name == "" {
				t.Errorf("stockade %s --%s: placeholder %q, want what it takes (FILE, CIDR, ...)", strings.Join(path, " "), f.Name, name)
			}
		})
	}
	var stdout bytes.Buffer
	if err := run(t.Context(), []string{"ban", "--help"}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--for DURATION", "--rule NAME", "--socket SOCKET", "--config FILE"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("ban --help lacks %q:\n%s", want, stdout.String())
		}
	}
}

// TestCompletionScriptsLoad: `completion bash|zsh|fish` print scripts
// their shells parse.
func TestCompletionScriptsLoad(t *testing.T) {
	for _, sh := range []struct{ name, check string }{
		{"bash", "-n"}, {"zsh", "-n"}, {"fish", "--no-execute"},
	} {
		t.Run(sh.name, func(t *testing.T) {
			bin, err := exec.LookPath(sh.name)
			if err != nil {
				t.Skipf("skipping: %s is not installed (CI installs it)", sh.name)
			}
			var stdout bytes.Buffer
			if err := run(t.Context(), []string{"completion", sh.name}, &stdout, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(stdout.String(), "stockade") {
				t.Fatalf("the %s script does not name stockade:\n%s", sh.name, stdout.String())
			}
			script := filepath.Join(t.TempDir(), "stockade."+sh.name)
			os.WriteFile(script, stdout.Bytes(), 0o644)
			if out, err := exec.Command(bin, sh.check, script).CombinedOutput(); err != nil {
				t.Errorf("%s %s: %v\n%s", sh.name, sh.check, err, out)
			}
		})
	}
	// What the scripts ask the binary for: the commands, then a command's
	// flags.
	var stdout bytes.Buffer
	if err := run(t.Context(), []string{"__complete", "re"}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"replay", "reload"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("completing `re` lacks %s:\n%s", want, stdout.String())
		}
	}
	stdout.Reset()
	if err := run(t.Context(), []string{"__complete", "replay", "--wo"}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "--workers") {
		t.Errorf("completing `replay --wo` lacks --workers:\n%s", stdout.String())
	}
	stdout.Reset()
	if err := run(t.Context(), []string{"__complete", "replay", "--type", ""}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "\neve\n") {
		t.Errorf("completing `replay --type` lacks eve:\n%s", stdout.String())
	}
}

// TestManPages: `man DIR` writes a page per command from the same
// definitions as --help, which man reads.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	if err := run(t.Context(), []string{"man", dir}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, path := range commandPaths(t) {
		name := strings.Join(append([]string{"stockade"}, path...), "-")
		if slices.Contains(path, "help") {
			continue
		}
		page, err := os.ReadFile(filepath.Join(dir, name+".8"))
		if err != nil {
			t.Errorf("no page for %s: %v", name, err)
			continue
		}
		if !bytes.Contains(page, []byte(fmt.Sprintf(".TH %q 8 \"2023-11-14\"", strings.ToUpper(name)))) {
			t.Errorf("%s.8: no title header of section 8 dated by SOURCE_DATE_EPOCH:\n%.300s", name, page)
		}
	}
	page, _ := os.ReadFile(filepath.Join(dir, "stockade-replay.8"))
	for _, want := range []string{`\-\-allow`, "CIDR", `\-\-workers`, "event\\-time order"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("stockade-replay.8 lacks %q", want)
		}
	}
	if _, err := exec.LookPath("man"); err == nil {
		out, err := exec.Command("man", "-l", "-Tutf8", filepath.Join(dir, "stockade-ban.8")).CombinedOutput()
		text := regexp.MustCompile(".\x08").ReplaceAllString(string(out), "") // overstrikes
		if err != nil || !strings.Contains(text, "--for DURATION") || !strings.Contains(text, "--socket SOCKET") {
			t.Errorf("man -l stockade-ban.8: %v\n%s", err, out)
		}
	}
}

// TestCommandFirst: flags written before the command go after it; a
// flag's value is never taken for the command.
func TestCommandFirst(t *testing.T) {
	root := newApp(nil, &bytes.Buffer{}, &bytes.Buffer{}).root()
	for _, tc := range []struct{ in, want string }{
		{"replay --workers 1 a.log", "replay --workers 1 a.log"},
		{"--workers 1 replay a.log", "replay --workers 1 a.log"},
		{"--quiet replay a.log", "replay --quiet a.log"},
		{"--socket /s --for 2h ban 192.0.2.1", "ban --socket /s --for 2h 192.0.2.1"},
		{"--output=x.json replay a.log", "replay --output=x.json a.log"},
		{"-v run a.log", "run -v a.log"},
		{"--rules replay replay a.log", "replay --rules replay a.log"},
		{"--nope x", "--nope x"},
		{"-- replay", "-- replay"},
	} {
		if got := strings.Join(commandFirst(root, strings.Fields(tc.in)), " "); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestControlCommandsFindTheDaemon: against a running daemon, the control
// commands take their flags before or after the command, and find the
// daemon's socket in its configuration file when --socket is not given.
func TestControlCommandsFindTheDaemon(t *testing.T) {
	t.Setenv("STOCKADE_SOCKET", "")
	dir := t.TempDir()
	logPath := filepath.Join(dir, "auth.log")
	os.WriteFile(logPath, nil, 0o644)
	socket := filepath.Join(dir, "elsewhere.sock")
	cfgPath := filepath.Join(dir, "stockade.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("state_dir: %s\nsocket: %s\norigin: test\nsources:\n  - files: [%s]\nsinks:\n  - jsonl: %s\n",
		filepath.Join(dir, "state"), socket, logPath, filepath.Join(dir, "out.jsonl"))), 0o644)
	cfg, err := daemon.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(*cfg, daemon.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the daemon did not stop within 10s")
		}
		d.Stop()
	})

	ctl := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := run(t.Context(), args, &stdout, &stderr); err != nil {
			t.Fatalf("stockade %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.String()
	}
	if got := ctl("ping", "--config", cfgPath); got != "pong\n" {
		t.Errorf("ping --config: %q", got)
	}
	if got := ctl("--config", cfgPath, "ping"); got != "pong\n" {
		t.Errorf("--config before ping: %q", got)
	}
	if got := ctl("--socket", socket, "--for", "2h", "ban", "192.0.2.7"); !strings.HasPrefix(got, "banned 192.0.2.7 under manual until") {
		t.Errorf("flags before ban: %q", got)
	}
	if got := ctl("ban", "192.0.2.8", "--for", "2h", "--socket", socket, "--rule", "sshd"); !strings.HasPrefix(got, "banned 192.0.2.8 under sshd until") {
		t.Errorf("flags after ban: %q", got)
	}
	if got := ctl("status", "sshd", "--config", cfgPath); !strings.Contains(got, "Banned IP list:\t192.0.2.8") {
		t.Errorf("status sshd:\n%s", got)
	}
	if got := ctl("--json", "status", "--config", cfgPath); !strings.Contains(got, `"active_bans": 2`) {
		t.Errorf("--json status:\n%s", got)
	}
	if got := ctl("status", "-o", "json", "--config", cfgPath); !strings.Contains(got, `"active_bans": 2`) {
		t.Errorf("status -o json:\n%s", got)
	}
	// Completion asks the daemon for its rules.
	if got := ctl("__complete", "status", "--config", cfgPath, ""); !strings.Contains(got, "sshd\tsshd\n") {
		t.Errorf("completing status RULE:\n%s", got)
	}
	// A configuration that names no socket: the daemon's default, in its
	// state directory.
	bare := filepath.Join(dir, "bare.yaml")
	os.WriteFile(bare, []byte("state_dir: /nonexistent/state\nsources: [{stdin: true}]\n"), 0o644)
	err = run(t.Context(), []string{"ping", "--config", bare}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/state/stockade.sock") {
		t.Errorf("ping with a configuration naming only state_dir: %v, want the socket in it", err)
	}
}

// TestVersionText: the module version (or the one linked in), the VCS
// revision and its date, and the toolchain; never a bare "dev".
func TestVersionText(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.time", Value: "2026-12-06T07:41:01Z"},
		{Key: "vcs.modified", Value: "true"}, {Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"},
	}}
	want := "stockade v1.4.0\nrevision: 0123456789abcdef0123456789abcdef01234567 (with uncommitted changes)\ndate:     2026-12-06T07:41:01Z\ngo:       go1.26.0 linux/amd64\n"
	if got := versionText(bi, ""); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := versionText(bi, "v1.4.1-3-gabc"); !strings.HasPrefix(got, "stockade v1.4.1-3-gabc\n") {
		t.Errorf("linked version: %q", got)
	}
	var a, b bytes.Buffer
	if err := run(t.Context(), []string{"--version"}, &a, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if err := run(t.Context(), []string{"version"}, &b, &bytes.Buffer{}); err != nil || a.String() != b.String() || !strings.HasPrefix(a.String(), "stockade ") {
		t.Errorf("--version %q, version %q (%v)", a.String(), b.String(), err)
	}
	if got := versionText(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, ""); !strings.Contains(got, "revision: unknown (built without VCS information") {
		t.Errorf("without VCS: %q", got)
	}
}

// TestVersionOfBuiltBinary: a binary built from this tree prints its own
// build information: the revision it was built from when the build could
// stamp one (a clone; not a git worktree), and says so when not.
func TestVersionOfBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary: not in -short")
	}
	bin := filepath.Join(t.TempDir(), "stockade")
	build := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	// The main module's version as the build info has it: "(devel)", or a
	// pseudo-version when go build stamped it from a clean checkout.
	mod := regexp.MustCompile(`(?m)^\s+mod\s+\S+\s+(\S+)`).FindStringSubmatch(string(info))
	if mod == nil {
		t.Fatalf("go version -m names no main module:\n%s", info)
	}
	if !strings.HasPrefix(got, "stockade "+mod[1]+"\n") || strings.Contains(got, "stockade dev\n") {
		t.Errorf("version: %q, want the module version %s first", got, mod[1])
	}
	if m := regexp.MustCompile(`vcs.revision=([0-9a-f]{40})`).FindStringSubmatch(string(info)); m != nil {
		if !strings.Contains(got, "revision: "+m[1]) || !strings.Contains(got, "date:     20") {
			t.Errorf("version %q lacks the revision %s and its date", got, m[1])
		}
	} else if !strings.Contains(got, "revision: unknown") {
		t.Errorf("a build without VCS information: %q", got)
	}
}

// TestUsageErrors: an unknown command or flag, a missing or extra
// argument, no command at all: exit 2, the usage on stderr, nothing on
// stdout.
func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		nil, {"bogus"}, {"replay", "--bogus", "x.log"}, {"ping", "extra"}, {"ban"}, {"ban", "not-an-address"},
		{"import"}, {"import", "nginx", "x"}, {"keygen"}, {"enforce"}, {"man"}, {"status", "--for"}, {"status", "-o", "yaml"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), args, &stdout, &stderr)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("stockade %s: %v, want exit 2", strings.Join(args, " "), err)
		}
		if stdout.Len() > 0 {
			t.Errorf("stockade %s: wrote to stdout:\n%s", strings.Join(args, " "), stdout.String())
		}
	}
}

// TestPacksJSON: `packs -o json` lists what `packs` does, as JSON.
func TestPacksJSON(t *testing.T) {
	var text, js bytes.Buffer
	if err := run(t.Context(), []string{"packs"}, &text, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if err := run(t.Context(), []string{"packs", "-o", "json"}, &js, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	var packs []packInfo
	if err := json.Unmarshal(js.Bytes(), &packs); err != nil {
		t.Fatalf("packs -o json: %v\n%s", err, js.String())
	}
	if len(packs) < 10 {
		t.Fatalf("packs -o json lists %d packs", len(packs))
	}
	for _, p := range packs {
		if !strings.Contains(text.String(), fmt.Sprintf("%s (%s, %s; %d tests): ", p.Name, p.File, formatsOf(p), p.Tests)) || len(p.Rules) == 0 {
			t.Errorf("pack %+v is not as packs lists it", p)
		}
	}
}
