package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/stockade-ids/stockade/pipeline/sign"
)

// keygenCommand writes a new key (an nkey user seed, mode 0600, never
// overwriting a file) and prints its public key, which firewalls list
// under policy.origins[].key and a NATS server lists as the user of that
// sensor, correlator or firewall (nats_server.sensors[].key, …): one key
// signs a sensor's decisions and identifies it on the bus.
func (a *app) keygenCommand() *cobra.Command {
	var out, natsUser string
	c := &cobra.Command{
		Use:   "keygen --out FILE | --nats-user FILE",
		Short: "make a sensor's signing key; print its public key for the firewalls",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if natsUser == "" && out == "" {
				return a.usageError(c, errors.New("keygen: --out is required (the key is never printed)"))
			}
			return keygen(out, natsUser, a.stdout, a.stderr)
		},
	}
	c.Flags().StringVar(&out, "out", "", "`FILE` to write the private key to (created with mode 0600; never overwritten)")
	c.Flags().StringVar(&natsUser, "nats-user", "", "print the NATS user key (U…) of an existing key `FILE` instead, e.g. one an older keygen made (N…), for a NATS server's configuration")
	return c
}

// keygen writes a key to out, or prints the NATS user key of natsUser.
func keygen(out, natsUser string, stdout, stderr io.Writer) error {
	if natsUser != "" {
		s, err := sign.LoadSigner(natsUser)
		if err != nil {
			return &exitError{code: 1, err: fmt.Errorf("keygen: %w", err)}
		}
		u, err := sign.UserPublicKey(s.PublicKey())
		if err != nil {
			return &exitError{code: 1, err: fmt.Errorf("keygen: %w", err)}
		}
		fmt.Fprintln(stdout, u)
		return nil
	}
	seed, pub, err := sign.Generate()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("keygen: %w", err)}
	}
	if _, err := f.Write(append(seed, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", pub)
	fmt.Fprintf(stderr, "private key written to %s; give the public key above to the firewalls (policy.origins[].key) and to the NATS server (nats_server roles, or an nkey user of your cluster)\n", out)
	return nil
}
