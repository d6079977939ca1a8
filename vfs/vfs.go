package vfs

import (
	"errors"
	"io"
)

// ErrLocked is returned by FS.Lock when another holder has the lock.
var ErrLocked = errors.New("vfs: locked by another process or handle")

// File is an open file. Write appends at the file's write offset, which
// starts at 0 for Create and at the end of the file for OpenRW.
type File interface {
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	// Sync flushes the file's data to stable storage (fdatasync).
	Sync() error
	// Truncate changes the file's size. It does not move the write offset
	// backwards past the new size: callers that truncate and continue
	// writing reopen the file.
	Truncate(size int64) error
	// Size returns the current size in bytes.
	Size() (int64, error)
	// Name returns the path the file was opened with.
	Name() string
}

// FS is a file system.
type FS interface {
	// Create creates or truncates the named file for reading and writing,
	// with mode 0600.
	Create(name string) (File, error)
	// Open opens an existing file read-only.
	Open(name string) (File, error)
	// OpenRW opens an existing file for reading and writing; writes append
	// at the end of the file.
	OpenRW(name string) (File, error)
	// Rename atomically renames a file (once the directory is synced).
	Rename(oldname, newname string) error
	// Remove deletes a file or an empty directory.
	Remove(name string) error
	// List returns the base names of the entries of dir, sorted.
	List(dir string) ([]string, error)
	// MkdirAll creates dir and its parents with mode 0700.
	MkdirAll(dir string) error
	// SyncDir makes the directory's entries (creates, renames, removes)
	// durable.
	SyncDir(dir string) error
	// Lock takes an exclusive lock on the named file, creating it if
	// needed. It returns ErrLocked (wrapped) if the lock is held, by this
	// process or another. Closing the returned Closer releases it.
	Lock(name string) (io.Closer, error)
	// Stat returns the size of the named file. A missing file gives an
	// error for which errors.Is(err, fs.ErrNotExist) holds.
	Stat(name string) (int64, error)
}
