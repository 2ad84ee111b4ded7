package config

import (
	"errors"
	"fmt"
	"os"
	osexec "os/exec"

	"github.com/stockade-ids/stockade/internal/srcpos"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// Checked is what Check found in a configuration file.
type Checked struct {
	// Enforcer tells the enforcer's configuration from the daemon's.
	Enforcer bool
	Daemon   *Daemon
	Firewall *Enforcer
}

// Summary is one line on a configuration that passed.
func (c Checked) Summary() string {
	if c.Enforcer {
		bus := "nats"
		if c.Firewall.Kafka != nil {
			bus = "kafka"
		}
		return fmt.Sprintf("enforcer configuration, %s bus, %d trusted origin(s)", bus, len(c.Firewall.Policy.Origins))
	}
	return fmt.Sprintf("daemon configuration, %d source(s), %d sink(s)", len(c.Daemon.Sources), len(c.Daemon.Sinks))
}

// Check loads the configuration at path as the daemon's or the
// enforcer's (as detected when as is "", else "run" or "enforce"), then
// what it names that can be checked without starting anything: its rule
// packs (through packs, nil to skip them), the signing key, the
// commands of exec sinks. It opens no socket and touches no firewall.
// Every problem is in the error, file:line:col each where it has one.
func Check(path, as string, packs func(paths []string) error) (Checked, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Checked{}, err
	}
	switch as {
	case "":
		as = "run"
		if IsEnforcer(data) {
			as = "enforce"
		}
	case "run", "enforce":
	default:
		return Checked{}, fmt.Errorf("check: %q: want run or enforce", as)
	}
	if as == "enforce" {
		c, err := ParseEnforcer(path, data)
		return Checked{Enforcer: true, Firewall: c}, err
	}
	c, err := Parse(path, data)
	if err != nil {
		return Checked{Daemon: c}, err
	}
	var es srcpos.Errors
	c.checkFiles(&es)
	errs := []error{es.Err()}
	if packs != nil {
		errs = append(errs, packs(c.Rules))
	}
	return Checked{Daemon: c}, errors.Join(errs...)
}

// checkFiles reports what the daemon would refuse at start among the
// files the configuration names: the signing key (readable by its owner
// only, a seed), the programs of exec sinks.
func (c *Daemon) checkFiles(es *srcpos.Errors) {
	if c.SignKey != "" {
		if _, err := sign.LoadSigner(c.SignKey); err != nil {
			es.Add(c.At("sign_key"), "sign_key: %v", err)
		}
	}
	for _, s := range c.Sinks {
		if s.Exec == nil {
			continue
		}
		for _, argv := range []struct {
			key  string
			args []string
		}{{"ban", s.Exec.Ban}, {"unban", s.Exec.Unban}} {
			if len(argv.args) == 0 {
				continue
			}
			if _, err := osexec.LookPath(argv.args[0]); err != nil {
				es.Add(s.Pos, "%s.exec.%s[0]: %q: no such program (or not executable)", s.Path, argv.key, argv.args[0])
			}
		}
	}
}
