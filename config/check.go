package config

import (
	"errors"
	"fmt"
	"os"
	osexec "os/exec"

	"github.com/stockade-ids/stockade/internal/kafkaconn"
	"github.com/stockade-ids/stockade/internal/natsconn"
	"github.com/stockade-ids/stockade/internal/srcpos"
	"github.com/stockade-ids/stockade/internal/yamlnode"
	"github.com/stockade-ids/stockade/pipeline/sign"
	"github.com/stockade-ids/stockade/rules"
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
func Check(path, as string, packs func(paths []string, sel rules.Selection) error) (Checked, error) {
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
		if err != nil {
			return Checked{Enforcer: true}, err
		}
		var es srcpos.Errors
		if c.NATS != nil {
			natsFiles(&es, srcpos.Pos{File: path, Line: 1, Col: 1}, "nats", c.NATS.Config)
		}
		if c.Kafka != nil {
			kafkaFiles(&es, srcpos.Pos{File: path, Line: 1, Col: 1}, "kafka", c.Kafka.Config)
		}
		return Checked{Enforcer: true, Firewall: c}, es.Err()
	}
	c, err := Parse(path, data)
	if err != nil {
		return Checked{Daemon: c}, err
	}
	var es srcpos.Errors
	c.checkFiles(&es)
	errs := []error{es.Err()}
	if packs != nil {
		errs = append(errs, packs(c.Rules, c.Packs))
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
	for _, s := range c.Sources {
		switch {
		case s.NATS != nil:
			natsFiles(es, s.Pos, s.Path+".nats", s.NATS.Config)
		case s.Kafka != nil:
			kafkaFiles(es, s.Pos, s.Path+".kafka", s.Kafka.Config)
		}
	}
	for _, s := range c.Sinks {
		switch {
		case s.NATS != nil:
			natsFiles(es, s.Pos, s.Path+".nats", s.NATS.Config)
		case s.Kafka != nil:
			kafkaFiles(es, s.Pos, s.Path+".kafka", s.Kafka.Config)
		}
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

// natsFiles reports the credential and certificate files of a NATS
// section that cannot be read, as the connection would at start.
func natsFiles(es *srcpos.Errors, at srcpos.Pos, path string, c natsconn.Config) {
	files(es, at, path, map[string]string{"creds": c.Creds, "nkey": c.NKey, "tls.ca": c.TLS.CA, "tls.cert": c.TLS.Cert, "tls.key": c.TLS.Key})
}

// kafkaFiles is natsFiles for a Kafka section.
func kafkaFiles(es *srcpos.Errors, at srcpos.Pos, path string, c kafkaconn.Config) {
	files(es, at, path, map[string]string{"tls.ca": c.TLS.CA, "tls.cert": c.TLS.Cert, "tls.key": c.TLS.Key})
}

func files(es *srcpos.Errors, at srcpos.Pos, path string, named map[string]string) {
	for _, k := range yamlnode.SortedKeys(named) {
		if f := named[k]; f != "" {
			if _, err := os.Stat(f); err != nil {
				es.Add(at, "%s.%s: %v", path, k, err)
			}
		}
	}
}
