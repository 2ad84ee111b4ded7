package tail

import (
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// watcher wakes Run when a watched directory changes, so appended lines
// arrive without waiting for the next poll. It is only a hint: the poll
// finds everything on its own, so a watcher that cannot be had (no inotify,
// out of watches) or that overflows costs latency, never lines. A nil
// *watcher is valid and never fires.
type watcher struct {
	w     *fsnotify.Watcher
	t     *Tailer
	dirs  map[string]bool
	names map[string][]*follower // followed files by path, for Write events
}

func (t *Tailer) newWatcher() *watcher {
	if t.noWatch {
		return nil
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		t.log.Info("inotify unavailable: polling only", "poll", t.cfg.Poll, "err", err)
		return nil
	}
	return &watcher{w: fw, t: t, dirs: map[string]bool{}}
}

func (w *watcher) close() {
	if w != nil {
		w.w.Close()
	}
}

func (w *watcher) events() <-chan fsnotify.Event {
	if w == nil {
		return nil
	}
	return w.w.Events
}

func (w *watcher) errors() <-chan error {
	if w == nil {
		return nil
	}
	return w.w.Errors
}

// watchDirs watches the directories the globs can match in. A directory
// that does not exist yet is tried again on the next scan; one that was
// removed and re-created lost its watch, which WatchList shows.
func (w *watcher) watchDirs(globs []string) {
	if w == nil {
		return
	}
	clear(w.dirs)
	for _, d := range w.w.WatchList() {
		w.dirs[d] = true
	}
	for _, g := range globs {
		dir := filepath.Dir(g)
		dirs := []string{dir}
		if hasMeta(dir) {
			dirs, _ = filepath.Glob(dir)
		}
		for _, d := range dirs {
			if w.dirs[d] {
				continue
			}
			if err := w.w.Add(d); err == nil {
				w.dirs[d] = true
			} else {
				w.t.log.Debug("cannot watch directory", "dir", d, "err", err)
			}
		}
	}
}

// setNames records the followed files by path, so that a write to one is
// read at once and writes to other files in the same directories are
// nothing.
func (w *watcher) setNames(files []*follower) {
	if w == nil {
		return
	}
	if w.names == nil {
		w.names = map[string][]*follower{}
	}
	clear(w.names)
	for _, f := range files {
		w.names[f.path] = append(w.names[f.path], f)
	}
}

// structural reports whether ev may be a rotation or a new file, which calls
// for a scan rather than a read.
func (w *watcher) structural(ev fsnotify.Event) bool {
	return ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)
}

func hasMeta(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*', '?', '[', '\\':
			return true
		}
	}
	return false
}
