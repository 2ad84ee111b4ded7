package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/stockade-ids/stockade/config"
	"github.com/stockade-ids/stockade/enforce"
	"github.com/stockade-ids/stockade/internal/memlimit"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// EnforceConfig is `stockade enforce --config FILE`, read by the config
// package; deploy/enforce.yaml documents every key.
type EnforceConfig = config.Enforcer

// LoadEnforceConfig reads the enforcer's configuration at path, refusing
// it with every problem at file:line:col.
func LoadEnforceConfig(path string) (*EnforceConfig, error) { return config.LoadEnforcer(path) }

// Enforcer is what enforce.Run takes to run the firewall of c; ready,
// when set, receives the firewall once it consumes (tests). The enforcer
// runs in its own package; its configuration is read by the config
// package, with the bus and nftables sections the daemon's shares.
func Enforcer(c *EnforceConfig, log *slog.Logger, ready chan<- *enforce.Firewall) (enforce.Config, enforce.Deps, error) {
	c.Defaults()
	pol, err := c.Policy.Policy()
	if err != nil {
		return enforce.Config{}, enforce.Deps{}, &enforce.BadConfig{Err: err}
	}
	nft := c.NFTables
	nft.Now = time.Now
	ec := enforce.Config{StateDir: c.StateDir, Metrics: c.Metrics, Name: c.Name, Policy: pol,
		Protected: enforce.Protected{Allow: c.Policy.Allow, Fleet: c.Fleet, HomeNet: c.HomeNet},
		NFTables:  nft, NATS: c.NATS, Kafka: c.Kafka,
		Socket: c.Socket, NoReport: c.Report != nil && !*c.Report, RepairEvery: c.RepairEvery,
		Memory: memlimit.Resolve(c.Memory(), config.EnforcerMemoryLimit, os.Getenv, "/")}
	if c.SignKey != "" {
		if ec.Signer, err = sign.LoadSigner(c.SignKey); err != nil {
			return enforce.Config{}, enforce.Deps{}, &enforce.BadConfig{Err: fmt.Errorf("sign_key: %w", err)}
		}
	}
	deps := enforce.Deps{Log: log, Ready: ready}
	if c.Path != "" {
		// SIGHUP reads the file again for policy.allow, fleet and home_net.
		deps.Reload = func() (enforce.Protected, error) {
			n, err := LoadEnforceConfig(c.Path)
			if err != nil {
				return enforce.Protected{}, err
			}
			return enforce.Protected{Allow: n.Policy.Allow, Fleet: n.Fleet, HomeNet: n.HomeNet}, nil
		}
		deps.Check = func() error {
			_, err := LoadEnforceConfig(c.Path)
			return err
		}
	}
	return ec, deps, nil
}
