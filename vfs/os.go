package vfs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"golang.org/x/sys/unix"
)

// OS is the real file system.
var OS FS = osFS{}

type osFS struct{}

type osFile struct{ *os.File }

func (f osFile) Sync() error { return unix.Fdatasync(int(f.Fd())) }

// ReadFrom lets io.Copy from one OS file to another reach the kernel's
// copy_file_range(2) (or splice) instead of copying through user space.
func (f osFile) ReadFrom(r io.Reader) (int64, error) {
	if o, ok := r.(osFile); ok {
		r = o.File
	}
	return f.File.ReadFrom(r)
}

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenRW(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) MkdirAll(dir string) error            { return os.MkdirAll(dir, 0o700) }

func (osFS) List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (osFS) Stat(name string) (int64, error) {
	st, err := os.Stat(name)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// Locks held by this process: flock(2) is per open file description, so a
// second Open in the same process would otherwise succeed on some systems.
var (
	procLocksMu sync.Mutex
	procLocks   = map[string]bool{}
)

type osLock struct {
	f    *os.File
	name string
	once sync.Once
}

func (l *osLock) Close() error {
	var err error
	l.once.Do(func() {
		procLocksMu.Lock()
		delete(procLocks, l.name)
		procLocksMu.Unlock()
		err = l.f.Close() // closing the descriptor releases the flock
	})
	return err
}

func (osFS) Lock(name string) (io.Closer, error) {
	if abs, err := filepath.Abs(name); err == nil {
		name = abs
	}
	procLocksMu.Lock()
	defer procLocksMu.Unlock()
	if procLocks[name] {
		return nil, fmt.Errorf("%s: %w", name, ErrLocked)
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, fmt.Errorf("%s: %w", name, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	procLocks[name] = true
	return &osLock{f: f, name: name}, nil
}
