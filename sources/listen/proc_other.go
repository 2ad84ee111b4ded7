//go:build !linux

package listen

import "os/exec"

// setProcessGroup leaves the default: the journal is a Linux thing, and
// elsewhere only a test's fake journalctl runs.
func setProcessGroup(*exec.Cmd) {}

func killProcessGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return cmd.Process.Kill()
}
