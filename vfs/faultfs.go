package vfs

import (
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"syscall"
)

// Op names a kind of file-system operation for fault injection.
type Op int

const (
	OpAny      Op = iota // matches every operation kind below
	OpCreate             // FS.Create
	OpOpen               // FS.Open and FS.OpenRW
	OpRead               // File.ReadAt
	OpWrite              // File.Write and File.WriteAt
	OpSync               // File.Sync
	OpTruncate           // File.Truncate
	OpRename             // FS.Rename
	OpRemove             // FS.Remove
	OpList               // FS.List
	OpMkdirAll           // FS.MkdirAll
	OpSyncDir            // FS.SyncDir
	OpLock               // FS.Lock
	OpStat               // FS.Stat and File.Size
	OpLink               // Linker.Link
	numOps
)

// AllOps lists every specific operation kind (not OpAny), for table tests.
var AllOps = []Op{OpCreate, OpOpen, OpRead, OpWrite, OpSync, OpTruncate, OpRename, OpRemove, OpList, OpMkdirAll, OpSyncDir, OpLock, OpStat, OpLink}

var opNames = [...]string{"any", "create", "open", "read", "write", "sync", "truncate", "rename", "remove", "list", "mkdirall", "syncdir", "lock", "stat", "link"}

func (o Op) String() string {
	if o >= 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Fault describes one injected failure.
type Fault struct {
	Op Op  // kind of operation to fail; OpAny counts every operation
	N  int // 0-based index, among operations of kind Op, of the first failure
	// Err is the error returned (wrapped in *fs.PathError); nil means
	// syscall.EIO.
	Err error
	// Short makes a failing Write/WriteAt write the first half of its
	// bytes before returning the error (a torn write); on a direct handle
	// (OpenDirect) the half is rounded down to DirectAlign.
	Short bool
	// Persistent makes every operation of the kind from the Nth on fail,
	// instead of only the Nth.
	Persistent bool
	// Name, if set, limits the fault to operations on paths that contain
	// it (e.g. "/wal/"), so background work on other files cannot take
	// the fault. N then counts only those operations, from the Inject
	// call on: N = 0 fails the first matching operation after Inject.
	Name string

	seen int // matching operations counted since Inject (with Name)
}

// FaultFS wraps an FS and fails chosen operations. A failing Sync does not
// reach the inner file system (the data stays unsynced); a failing Write
// writes nothing, or half its bytes with Short. Close is never failed.
//
// A typical loop: for n := 0; ; n++ { inject {Op: OpAny, N: n}; run the
// workload; check; if !Fired() { break } }.
type FaultFS struct {
	inner  FS
	mu     sync.Mutex
	counts [numOps]int
	faults []Fault
	fired  int
	// refuseDirect, if set, makes OpenDirect fail with ErrDirectUnsupported.
	refuseDirect error
}

// NewFault wraps inner.
func NewFault(inner FS) *FaultFS { return &FaultFS{inner: inner} }

// Inner returns the wrapped file system.
func (f *FaultFS) Inner() FS { return f.inner }

// Inject adds a fault. Operation indexes count from the creation of the
// FaultFS (or the last Reset).
func (f *FaultFS) Inject(ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ft.seen = 0
	f.faults = append(f.faults, ft)
}

// Clear removes every fault; counters are kept.
func (f *FaultFS) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// Reset removes every fault and zeroes the counters and the fired count.
func (f *FaultFS) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
	f.counts = [numOps]int{}
	f.fired = 0
}

// Fired reports whether any injected fault has fired.
func (f *FaultFS) Fired() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired > 0
}

// FiredCount returns how many operations failed because of a fault.
func (f *FaultFS) FiredCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fired
}

// Count returns how many operations of kind op have been attempted
// (OpAny: of every kind), including failed ones.
func (f *FaultFS) Count(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if op < 0 || op >= numOps {
		return 0
	}
	return f.counts[op]
}

// check counts one operation and returns the fault that hits it, if any.
func (f *FaultFS) check(op Op, name string, opName string) (short bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	idx, idxAny := f.counts[op], f.counts[OpAny]
	f.counts[op]++
	f.counts[OpAny]++
	var hit *Fault
	for i := range f.faults {
		ft := &f.faults[i]
		var n int
		switch ft.Op {
		case OpAny:
			n = idxAny
		case op:
			n = idx
		default:
			continue
		}
		if ft.Name != "" {
			// Every matching fault counts the operation, even when an
			// earlier one fails it.
			if !strings.Contains(name, ft.Name) {
				continue
			}
			n = ft.seen
			ft.seen++
		}
		if hit == nil && (n == ft.N || (ft.Persistent && n > ft.N)) {
			hit = ft
		}
	}
	if hit == nil {
		return false, nil
	}
	f.fired++
	e := hit.Err
	if e == nil {
		e = syscall.EIO
	}
	return hit.Short, &fs.PathError{Op: opName, Path: name, Err: e}
}

// Create implements FS, failing per the injected faults.
func (f *FaultFS) Create(name string) (File, error) {
	if _, err := f.check(OpCreate, name, "create"); err != nil {
		return nil, err
	}
	file, err := f.inner.Create(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, File: file}, nil
}

// Open implements FS, failing per the injected faults.
func (f *FaultFS) Open(name string) (File, error) {
	if _, err := f.check(OpOpen, name, "open"); err != nil {
		return nil, err
	}
	file, err := f.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, File: file}, nil
}

// OpenRW implements FS, failing per the injected faults.
func (f *FaultFS) OpenRW(name string) (File, error) {
	if _, err := f.check(OpOpen, name, "open"); err != nil {
		return nil, err
	}
	file, err := f.inner.OpenRW(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, File: file}, nil
}

// Rename implements FS, failing per the injected faults.
func (f *FaultFS) Rename(oldname, newname string) error {
	if _, err := f.check(OpRename, oldname, "rename"); err != nil {
		return err
	}
	return f.inner.Rename(oldname, newname)
}

// Remove implements FS, failing per the injected faults.
func (f *FaultFS) Remove(name string) error {
	if _, err := f.check(OpRemove, name, "remove"); err != nil {
		return err
	}
	return f.inner.Remove(name)
}

// List implements FS, failing per the injected faults.
func (f *FaultFS) List(dir string) ([]string, error) {
	if _, err := f.check(OpList, dir, "readdir"); err != nil {
		return nil, err
	}
	return f.inner.List(dir)
}

// MkdirAll implements FS, failing per the injected faults.
func (f *FaultFS) MkdirAll(dir string) error {
	if _, err := f.check(OpMkdirAll, dir, "mkdir"); err != nil {
		return err
	}
	return f.inner.MkdirAll(dir)
}

// SyncDir implements FS, failing per the injected faults.
func (f *FaultFS) SyncDir(dir string) error {
	if _, err := f.check(OpSyncDir, dir, "syncdir"); err != nil {
		return err
	}
	return f.inner.SyncDir(dir)
}

// Lock implements FS, failing per the injected faults.
func (f *FaultFS) Lock(name string) (io.Closer, error) {
	if _, err := f.check(OpLock, name, "lock"); err != nil {
		return nil, err
	}
	return f.inner.Lock(name)
}

// Stat implements FS, failing per the injected faults.
func (f *FaultFS) Stat(name string) (int64, error) {
	if _, err := f.check(OpStat, name, "stat"); err != nil {
		return 0, err
	}
	return f.inner.Stat(name)
}

type faultFile struct {
	fs *FaultFS
	File
	direct bool // opened with OpenDirect
}

// shortLen is how many bytes of p a failing Short write writes: half,
// rounded down to DirectAlign on a direct handle.
func (f *faultFile) shortLen(p []byte) int {
	if f.direct {
		return len(p) / 2 &^ (DirectAlign - 1)
	}
	return len(p) / 2
}

func (f *faultFile) Write(p []byte) (int, error) {
	short, err := f.fs.check(OpWrite, f.Name(), "write")
	if err != nil {
		if h := f.shortLen(p); short && h > 0 {
			n, werr := f.File.Write(p[:h])
			if werr != nil {
				return n, werr
			}
			return n, err
		}
		return 0, err
	}
	return f.File.Write(p)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	short, err := f.fs.check(OpWrite, f.Name(), "write")
	if err != nil {
		if h := f.shortLen(p); short && h > 0 {
			n, werr := f.File.WriteAt(p[:h], off)
			if werr != nil {
				return n, werr
			}
			return n, err
		}
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if _, err := f.fs.check(OpRead, f.Name(), "read"); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *faultFile) Sync() error {
	if _, err := f.fs.check(OpSync, f.Name(), "sync"); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if _, err := f.fs.check(OpTruncate, f.Name(), "truncate"); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *faultFile) Size() (int64, error) {
	if _, err := f.fs.check(OpStat, f.Name(), "stat"); err != nil {
		return 0, err
	}
	return f.File.Size()
}
