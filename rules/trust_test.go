package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const trustPack = "pack: p\nrules:\n  - {name: r, formats: [syslog], failregex: ['^x <HOST>$'], ban: 1m}\n"

// TestRefusesPacksOthersCanChange: a pack another local user could
// change is refused with a clear error, whether it is the file, its
// directory, a directory above, a link's target, or a file in a pack
// directory; a world-writable directory with the sticky bit above the
// pack (like /tmp) is fine.
func TestRefusesPacksOthersCanChange(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, root string) string // returns the path to load
		want  string                                 // "" = loads
	}{
		{"a private file", func(t *testing.T, root string) string {
			return write(t, filepath.Join(root, "p.yaml"), 0o644)
		}, ""},
		{"a world-writable file", func(t *testing.T, root string) string {
			return write(t, filepath.Join(root, "p.yaml"), 0o666)
		}, "writable by every user"},
		{"a world-writable pack directory", func(t *testing.T, root string) string {
			dir := mkdir(t, filepath.Join(root, "packs"), 0o777)
			write(t, filepath.Join(dir, "p.yaml"), 0o644)
			return dir
		}, "writable by every user"},
		{"a world-writable file in a pack directory", func(t *testing.T, root string) string {
			dir := mkdir(t, filepath.Join(root, "packs"), 0o755)
			write(t, filepath.Join(dir, "a.yaml"), 0o644)
			write(t, filepath.Join(dir, "sub", "b.yaml"), 0o646)
			return dir
		}, "b.yaml is writable by every user"},
		{"a world-writable directory above", func(t *testing.T, root string) string {
			above := mkdir(t, filepath.Join(root, "shared"), 0o777)
			return write(t, filepath.Join(above, "etc", "p.yaml"), 0o644)
		}, "shared is writable by every user"},
		{"a sticky world-writable directory above", func(t *testing.T, root string) string {
			above := mkdir(t, filepath.Join(root, "tmp"), 0o777|os.ModeSticky)
			return write(t, filepath.Join(above, "etc", "p.yaml"), 0o644)
		}, ""},
		{"a sticky world-writable pack directory", func(t *testing.T, root string) string {
			dir := mkdir(t, filepath.Join(root, "packs"), 0o777|os.ModeSticky)
			write(t, filepath.Join(dir, "p.yaml"), 0o644)
			return dir
		}, "writable by every user"},
		{"a link to a world-writable file", func(t *testing.T, root string) string {
			target := write(t, filepath.Join(root, "elsewhere", "p.yaml"), 0o666)
			link := filepath.Join(mkdir(t, filepath.Join(root, "etc"), 0o755), "p.yaml")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			return link
		}, "writable by every user"},
		{"a file of another user", func(t *testing.T, root string) string {
			if os.Geteuid() != 0 {
				t.Skip("chown needs root")
			}
			p := write(t, filepath.Join(root, "p.yaml"), 0o644)
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return p
		}, "owned by uid 65534"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			path := tc.setup(t, root)
			packs, err := LoadPath(path)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "" && len(packs) != 1:
				t.Fatalf("%d packs", len(packs))
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "refusing rule packs")):
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func write(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(trustPack), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

func mkdir(t *testing.T, path string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}
