package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Linker is implemented by a file system that can make hard links. It is
// an optional interface beside FS (FS itself only gains methods with a new
// major version): OS, MemFS and FaultFS implement it; call Link rather
// than asserting it yourself.
type Linker interface {
	// Link creates newname as a hard link to the existing file oldname:
	// both names then refer to the same file. newname must not exist.
	// Like a create, the new entry is durable once its directory is
	// synced. A link across file systems fails with an error matching
	// ErrCrossDevice.
	Link(oldname, newname string) error
}

// ErrCrossDevice is matched (errors.Is) by a Link error when oldname and
// newname are on different file systems (EXDEV): the caller copies
// instead.
var ErrCrossDevice = errors.New("vfs: link across file systems")

// ErrLinkUnsupported is matched by a Link error when the file system
// cannot make hard links (it does not implement Linker, or the operating
// system refuses with EPERM or ENOTSUP): the caller copies instead.
var ErrLinkUnsupported = fmt.Errorf("vfs: hard links not supported: %w", errors.ErrUnsupported)

// Link makes newname a hard link to oldname on fsys. When it fails with
// ErrCrossDevice or ErrLinkUnsupported nothing was created and copying
// the file is the fallback; a missing oldname matches fs.ErrNotExist.
func Link(fsys FS, oldname, newname string) error {
	l, ok := fsys.(Linker)
	if !ok {
		return &fs.PathError{Op: "link", Path: newname, Err: ErrLinkUnsupported}
	}
	return l.Link(oldname, newname)
}

// CanCopyInstead reports whether a Link error means the file should be
// copied instead: the names are on different file systems, or the file
// system has no hard links. A bare EXDEV (from an FS that does not add
// ErrCrossDevice) counts too.
func CanCopyInstead(err error) bool {
	return errors.Is(err, ErrCrossDevice) || errors.Is(err, ErrLinkUnsupported) || errors.Is(err, syscall.EXDEV)
}

// linkErr adds the vfs sentinels to an operating-system link error while
// keeping its errno matchable.
type linkErr struct {
	err      error // *os.LinkError
	sentinel error
}

func (e *linkErr) Error() string   { return e.err.Error() }
func (e *linkErr) Unwrap() []error { return []error{e.err, e.sentinel} }

func (osFS) Link(oldname, newname string) error {
	err := os.Link(oldname, newname)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EXDEV):
		return &linkErr{err, ErrCrossDevice}
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.ENOTSUP), errors.Is(err, syscall.EMLINK):
		// EPERM: the file system does not support hard links (vfat,
		// some FUSE mounts); EMLINK: the file has too many links.
		return &linkErr{err, ErrLinkUnsupported}
	}
	return err
}

// Link implements Linker: newname becomes another directory entry for
// oldname's inode (writes through one name are seen through the other,
// and a crash keeps one content for both). It counts as one operation.
func (m *MemFS) Link(oldname, newname string) error {
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.mutate("link", newname); err != nil {
		return err
	}
	n := m.cur[oldname]
	if n == nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	if n.dir {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EPERM}
	}
	if !m.dirExists(filepath.Dir(newname)) {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	if m.cur[newname] != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: fs.ErrExist}
	}
	m.apply(nsChange{newname, n})
	return nil
}

// Link implements Linker, failing per the injected faults (kind OpLink);
// an inner file system without hard links gives ErrLinkUnsupported.
func (f *FaultFS) Link(oldname, newname string) error {
	if _, err := f.check(OpLink, newname, "link"); err != nil {
		return err
	}
	return Link(f.inner, oldname, newname)
}
