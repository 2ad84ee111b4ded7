package sources

import (
	"container/list"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
)

// Pool bounds how many Files opened with it hold a descriptor at once. A
// replay merges its logs in event-time order and so opens them all before
// it reads the first line: a year of hourly logs is 8,760 files, and a
// process may hold 1,024 descriptors (a hard limit of 4,096 is common), so
// such a replay stopped at its first file too many. A File of a Pool closes
// its descriptor when the Pool needs it for another, the least recently
// read first, and opens its file again where it was at its next read: the
// readers above it (the buffer, a gzip stream) never see the difference,
// and a file replaced meanwhile is an error, not another file's lines.
// Logs read one after another (rotated ones) are each opened again once.
// A file is never closed in the middle of a read: a read that needs a
// descriptor while every one is in a read waits for one to end.
type Pool struct {
	mu      sync.Mutex
	freed   sync.Cond // a read ended, or a descriptor was given back
	waiting int
	limit   int
	open    list.List // *parkable, the most recently read first
}

// NewPool returns a Pool of at most limit descriptors (at least 1).
func NewPool(limit int) *Pool {
	p := &Pool{limit: max(1, limit)}
	p.freed.L = &p.mu
	return p
}

// DescriptorBudget is how many descriptors a replay may give its logs:
// half the process's limit (RLIMIT_NOFILE, which Go raises to the hard
// limit at start), leaving the rest to its sinks, state and the runtime;
// 512 where the limit cannot be read.
func DescriptorBudget() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 512
	}
	return int(min(rl.Cur/2, 1<<20))
}

// Open returns the number of Files of p that hold a descriptor.
func (p *Pool) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open.Len()
}

// parkable is the descriptor of a File of a Pool: its reads are the
// file's, from where the last one ended, whether or not the Pool closed
// the descriptor in between.
type parkable struct {
	pool *Pool
	path string
	id   os.FileInfo // the file opened first, to know it again

	mu     sync.Mutex
	fh     *os.File // nil: parked (or closed)
	pos    int64    // bytes read so far
	elem   *list.Element
	closed bool
}

// openParkable opens path as a File of pool does. What is not a regular
// file (a pipe: `replay <(zcat …)`, a device) cannot be opened again
// where it was: it keeps its descriptor, outside the pool's count.
func openParkable(pool *Pool, path string) (io.ReadCloser, os.FileInfo, error) {
	k := &parkable{pool: pool, path: path}
	// Held until k has its descriptor: another file's reserve must not
	// take k, in the pool's list already, for one it may park.
	k.mu.Lock()
	defer k.mu.Unlock()
	pool.reserve(k)
	fh, err := os.Open(path)
	if err != nil {
		pool.release(k)
		return nil, nil, err
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		pool.release(k)
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		pool.release(k)
		return fh, fi, nil
	}
	k.fh, k.id = fh, fi
	return k, fi, nil
}

// Read implements io.Reader.
func (k *parkable) Read(b []byte) (int, error) {
	k.mu.Lock()
	n, err := k.read(b)
	k.mu.Unlock()
	k.pool.ended()
	return n, err
}

func (k *parkable) read(b []byte) (int, error) {
	if k.closed {
		return 0, os.ErrClosed
	}
	if k.fh == nil {
		k.pool.reserve(k)
		if err := k.reopen(); err != nil {
			k.pool.release(k)
			return 0, err
		}
	} else {
		k.pool.touch(k)
	}
	n, err := k.fh.Read(b)
	k.pos += int64(n)
	return n, err
}

// reopen opens the file again at pos, the very file opened first.
func (k *parkable) reopen() error {
	fh, err := os.Open(k.path)
	if err != nil {
		return err
	}
	fi, err := fh.Stat()
	if err == nil && !os.SameFile(fi, k.id) {
		err = fmt.Errorf("%s was replaced while it waited for its turn to be read", k.path)
	}
	if err == nil {
		_, err = fh.Seek(k.pos, io.SeekStart)
	}
	if err != nil {
		fh.Close()
		return err
	}
	k.fh = fh
	return nil
}

// Stat is the file's: the open descriptor's, or its path's while parked,
// if it is still the same file.
func (k *parkable) Stat() (os.FileInfo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.fh != nil {
		return k.fh.Stat()
	}
	fi, err := os.Stat(k.path)
	if err == nil && !os.SameFile(fi, k.id) {
		err = fmt.Errorf("%s was replaced", k.path)
	}
	return fi, err
}

// Close implements io.Closer.
func (k *parkable) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	k.closed = true
	var err error
	if k.fh != nil {
		// Closed before its place is given back, so that the
		// descriptors open never outnumber the places.
		err = k.fh.Close()
		k.fh = nil
	}
	k.pool.release(k)
	return err
}

// reserve takes a descriptor's place for k, about to open its file:
// it parks the least recently read files not in a read while the places
// are all taken, and waits for a read to end when every one is. k.mu is
// held (or k is new).
func (p *Pool) reserve(k *parkable) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.open.Len() >= p.limit {
		if !p.parkOne() {
			p.waiting++
			p.freed.Wait()
			p.waiting--
		}
	}
	k.elem = p.open.PushFront(k)
}

// parkOne closes the descriptor of the least recently read file not in a
// read, and reports whether there was one. p.mu is held.
func (p *Pool) parkOne() bool {
	for e := p.open.Back(); e != nil; e = e.Prev() {
		// A file in a read holds its lock (and another reader never
		// waits on it here): the next one is parked.
		q := e.Value.(*parkable)
		if !q.mu.TryLock() {
			continue
		}
		if q.fh != nil {
			q.fh.Close()
			q.fh = nil
		}
		p.open.Remove(e)
		q.elem = nil
		q.mu.Unlock()
		return true
	}
	return false
}

// ended wakes the reads waiting for a descriptor: a read ended, so its
// file may be parked now.
func (p *Pool) ended() {
	p.mu.Lock()
	if p.waiting > 0 {
		p.freed.Broadcast()
	}
	p.mu.Unlock()
}

// touch makes k the most recently read. k.mu is held.
func (p *Pool) touch(k *parkable) {
	p.mu.Lock()
	if k.elem != nil {
		p.open.MoveToFront(k.elem)
	}
	p.mu.Unlock()
}

// release gives k's place back. k.mu is held (or k is new).
func (p *Pool) release(k *parkable) {
	p.mu.Lock()
	if k.elem != nil {
		p.open.Remove(k.elem)
		k.elem = nil
		p.freed.Broadcast()
	}
	p.mu.Unlock()
}
