package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at link time by release builds
// (-ldflags "-X main.version=v1.2.3"); otherwise the module's version
// from the build information is used.
var version = ""

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version, the VCS revision and date it was built from, and the Go version",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return a.printVersion() },
	}
}

// printVersion prints this binary's versionText.
func (a *app) printVersion() error {
	bi, _ := debug.ReadBuildInfo()
	_, err := fmt.Fprint(a.stdout, versionText(bi, version))
	return err
}

// versionText says what this binary is: the module version (linked
// overrides it), the commit, its date and whether the tree had local
// changes, and the toolchain. A binary built without VCS information (go
// run, go test, -buildvcs=false) says so rather than inventing a version.
func versionText(bi *debug.BuildInfo, linked string) string {
	if bi == nil {
		bi = &debug.BuildInfo{}
	}
	v := cmpOr(linked, bi.Main.Version, "(unknown)")
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	var b strings.Builder
	fmt.Fprintf(&b, "stockade %s\n", v)
	rev := settings["vcs.revision"]
	switch {
	case rev == "":
		b.WriteString("revision: unknown (built without VCS information: go run, go test or -buildvcs=false)\n")
	case settings["vcs.modified"] == "true":
		fmt.Fprintf(&b, "revision: %s (with uncommitted changes)\n", rev)
	default:
		fmt.Fprintf(&b, "revision: %s\n", rev)
	}
	if t := settings["vcs.time"]; t != "" {
		fmt.Fprintf(&b, "date:     %s\n", t)
	}
	goos, goarch := settings["GOOS"], settings["GOARCH"]
	fmt.Fprintf(&b, "go:       %s %s/%s\n", cmpOr(bi.GoVersion, "unknown"), goos, goarch)
	return b.String()
}

// cmpOr is the first of vs that is not empty.
func cmpOr(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// moduleVersion is the version linked in, else the module's.
func moduleVersion() string {
	bi, _ := debug.ReadBuildInfo()
	if bi == nil {
		bi = &debug.BuildInfo{}
	}
	return cmpOr(version, bi.Main.Version, "(unknown)")
}
