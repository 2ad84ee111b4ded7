package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SocketOf is the control socket the configuration at path has the daemon
// listen on (socket:, else stockade.sock in state_dir, as the daemon
// chooses), for the CLI, which reads only these keys of it: a daemon
// still runs on a file whose other keys were since edited. It is "" when
// there is no such file.
func SocketOf(path string) (string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var keys struct {
		StateDir string `yaml:"state_dir"`
		Socket   string `yaml:"socket"`
	}
	if err := yaml.Unmarshal(data, &keys); err != nil {
		return "", fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	c := Daemon{StateDir: keys.StateDir, Socket: keys.Socket, Origin: "-"}
	c.Defaults()
	return c.Socket, nil
}
