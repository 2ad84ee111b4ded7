package rules

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Rule packs decide whom stockade bans, and stockade runs as root or with
// CAP_NET_ADMIN: a pack that another local user can change lets that user
// ban anyone (the admins, the gateway) or shield anyone. So, as sshd does
// with its StrictModes, packs are refused when anyone but root or the user
// stockade runs as could replace them: a pack file or directory that is
// world-writable or owned by another user, or one below a directory that
// is (a world-writable directory with the sticky bit, such as /tmp, is
// fine above: nobody can rename what they do not own out of it).

// CheckTrusted reports why the pack file or directory at path (or a
// fail2ban configuration directory), everything in it and every directory
// above it is not safe to load, or nil.
func CheckTrusted(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return err
	}
	for dir := filepath.Dir(real); ; dir = filepath.Dir(dir) {
		if err := checkOwner(dir, true); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if dir == filepath.Dir(dir) {
			break
		}
	}
	return filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := checkOwner(p, false); err != nil {
			if p == real {
				return fmt.Errorf("%s: %w", path, err)
			}
			return err
		}
		return nil
	})
}

// checkOwner refuses p when another user can change it. above says p is a
// directory above the pack, where the sticky bit makes a world-writable
// directory safe.
func checkOwner(p string, above bool) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	me := os.Geteuid()
	if st.Uid != 0 && int(st.Uid) != me {
		return fmt.Errorf("refusing rule packs: %s is owned by uid %d, neither root nor this user (uid %d): that user could choose whom stockade bans (chown it)", p, st.Uid, me)
	}
	if fi.Mode().Perm()&0o002 != 0 && !(above && fi.IsDir() && fi.Mode()&fs.ModeSticky != 0) {
		return fmt.Errorf("refusing rule packs: %s is writable by every user (mode %v): anyone could choose whom stockade bans (chmod o-w it)", p, fi.Mode().Perm())
	}
	return nil
}
