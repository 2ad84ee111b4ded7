package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/stockade-ids/stockade/pipeline/sign"
)

// keygenCmd writes a new key (an nkey user seed, mode 0600, never
// overwriting a file) and prints its public key, which firewalls list
// under policy.origins[].key and a NATS server lists as the user of that
// sensor, correlator or firewall (nats_server.sensors[].key, …): one key
// signs a sensor's decisions and identifies it on the bus.
func keygenCmd(args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("keygen", stderr)
	out := fl.String("out", "", "file to write the private key to (created with mode 0600; never overwritten)")
	natsUser := fl.String("nats-user", "", "print the NATS user key (U…) of an existing key file instead, e.g. one an older keygen made (N…), for a NATS server's configuration")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "Usage: stockade keygen --out FILE | --nats-user FILE")
		fl.PrintDefaults()
	}
	if _, err := parseArgs(fl, args); err != nil {
		return errHelp
	}
	if *natsUser != "" {
		s, err := sign.LoadSigner(*natsUser)
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
	if *out == "" {
		fl.Usage()
		return &exitError{code: 2, err: errors.New("keygen: --out is required (the key is never printed)")}
	}
	seed, pub, err := sign.Generate()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
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
	fmt.Fprintf(stderr, "private key written to %s; give the public key above to the firewalls (policy.origins[].key) and to the NATS server (nats_server roles, or an nkey user of your cluster)\n", *out)
	return nil
}
