package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DirectAlign is the alignment of every read and write on a direct File
// (one opened with OpenDirect): the file offset, the length and the
// address of the buffer must each be a multiple of it, or the call fails
// with EINVAL and changes nothing. 4096 covers the logical block size of
// every common device and file system (512 or 4096).
const DirectAlign = 4096

// ErrDirectUnsupported is matched (errors.Is) by an OpenDirect error when
// the file system cannot give direct I/O on the file: it does not
// implement DirectOpener, or the operating system refused O_DIRECT (EINVAL,
// e.g. tmpfs before Linux 6.6, or a FUSE mount). Nothing was opened; the
// caller uses a buffered handle instead. The error text says why.
var ErrDirectUnsupported = fmt.Errorf("vfs: direct I/O not supported: %w", errors.ErrUnsupported)

// DirectOpener is implemented by a file system that can open a file for
// direct I/O. It is an optional interface beside FS (FS itself only gains
// methods with a new major version): OS, MemFS and FaultFS implement it;
// call OpenDirect rather than asserting it yourself.
type DirectOpener interface {
	// OpenDirect opens an existing file for reading and writing with
	// direct I/O: on the OS, O_DIRECT, so writes go from the caller's
	// buffer to the device without a copy into the page cache (and
	// without leaving the data there). Reads and writes on the handle
	// must be aligned to DirectAlign (offset, length and buffer address);
	// the other methods are as for OpenRW. The content semantics are
	// those of any handle: a direct write is not durable until Sync
	// (O_DIRECT does not flush the device's write cache), and other
	// handles on the file (buffered readers) see the written bytes. Its
	// write offset starts at the end of the file.
	OpenDirect(name string) (File, error)
}

// OpenDirect opens the existing file name on fsys for direct I/O (see
// DirectOpener). When it fails with ErrDirectUnsupported nothing was
// opened and a buffered handle (OpenRW) is the fallback; a missing file
// matches fs.ErrNotExist.
func OpenDirect(fsys FS, name string) (File, error) {
	d, ok := fsys.(DirectOpener)
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w: %T has no direct I/O", ErrDirectUnsupported, fsys)}
	}
	return d.OpenDirect(name)
}

// AlignedBuffer returns a zeroed buffer of n bytes whose address is a
// multiple of DirectAlign, for reads and writes on a direct File. Its
// capacity is n: appending past it moves the data to an unaligned array.
func AlignedBuffer(n int) []byte {
	b := make([]byte, n+DirectAlign)
	skip := 0
	if r := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) % DirectAlign); r != 0 {
		skip = DirectAlign - r
	}
	return b[skip : skip+n : skip+n]
}

// directAligned reports whether a direct read or write of p at off is
// aligned (see DirectAlign).
func directAligned(p []byte, off int64) bool {
	if off%DirectAlign != 0 || len(p)%DirectAlign != 0 {
		return false
	}
	return len(p) == 0 || uintptr(unsafe.Pointer(unsafe.SliceData(p)))%DirectAlign == 0
}

// directErr adds ErrDirectUnsupported to an open error while keeping its
// errno matchable.
type directErr struct{ err error }

func (e *directErr) Error() string   { return e.err.Error() + " (direct I/O refused)" }
func (e *directErr) Unwrap() []error { return []error{e.err, ErrDirectUnsupported} }

func (osFS) OpenDirect(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EOPNOTSUPP) {
			return nil, &directErr{err}
		}
		return nil, err
	}
	if _, err := f.Seek(0, 2); err != nil {
		f.Close()
		return nil, err
	}
	return osFile{f}, nil
}

// OpenDirect implements DirectOpener: the handle has OpenRW's semantics
// (writes are durable only after Sync, and crash modes treat them as any
// other write), and reads and writes that are not aligned to DirectAlign
// fail with EINVAL without counting as an operation, as the OS would
// refuse them.
func (m *MemFS) OpenDirect(name string) (File, error) {
	f, err := m.open("open", name, true)
	if err != nil {
		return nil, err
	}
	f.(*memFile).direct = true
	return f, nil
}

// OpenDirect implements DirectOpener. It counts as an OpOpen operation
// (an injected fault fails it with that error); after RefuseDirect it
// fails with ErrDirectUnsupported as a file system without O_DIRECT
// would. A failing Write or WriteAt with Short on a direct handle writes
// the first half of its bytes rounded down to DirectAlign (a torn write
// at a block boundary).
func (f *FaultFS) OpenDirect(name string) (File, error) {
	if _, err := f.check(OpOpen, name, "open"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	refuse := f.refuseDirect
	f.mu.Unlock()
	if refuse != nil {
		return nil, &fs.PathError{Op: "open", Path: filepath.Clean(name), Err: &directErr{refuse}}
	}
	file, err := OpenDirect(f.inner, name)
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, File: file, direct: true}, nil
}

// RefuseDirect makes every later OpenDirect fail with an error matching
// ErrDirectUnsupported and err (nil: allow direct I/O again), as on a
// file system that refuses O_DIRECT (tmpfs before Linux 6.6: EINVAL).
func (f *FaultFS) RefuseDirect(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuseDirect = err
}
