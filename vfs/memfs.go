package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// ErrCrashed is returned by every mutating MemFS operation after the limit
// set with SetCrashAfter has been reached: the simulated process is dead.
var ErrCrashed = errors.New("vfs: simulated crash")

// CrashMode selects what survives a simulated power loss (MemFS.Crash).
type CrashMode int

const (
	// CrashDropUnsynced keeps only synced file data and synced directory
	// entries.
	CrashDropUnsynced CrashMode = iota
	// CrashKeepRandom keeps synced state plus a random subset of the
	// unsynced writes of each file, applied in random order (write
	// granularity), and a random prefix of the unsynced directory
	// operations (per directory; a synced directory keeps at least its
	// synced state).
	CrashKeepRandom
	// CrashTearLast keeps synced data plus every unsynced write of each
	// file in order, except that the last unsynced write of each file is
	// torn at a random byte (a random-length prefix of it survives).
	// Directory entries are kept as they are.
	CrashTearLast
	// CrashDropDirEntries keeps all file data as written but reverts every
	// directory to its last synced entries: unsynced creates disappear,
	// unsynced removes come back, unsynced renames are undone.
	CrashDropDirEntries
)

// CrashModes lists every crash mode, for table-driven tests.
var CrashModes = []CrashMode{CrashDropUnsynced, CrashKeepRandom, CrashTearLast, CrashDropDirEntries}

func (m CrashMode) String() string {
	switch m {
	case CrashDropUnsynced:
		return "drop-unsynced"
	case CrashKeepRandom:
		return "keep-random"
	case CrashTearLast:
		return "tear-last"
	case CrashDropDirEntries:
		return "drop-dir-entries"
	}
	return fmt.Sprintf("CrashMode(%d)", int(m))
}

// memNode is an inode: a file or a directory.
type memNode struct {
	dir     bool
	data    []byte  // current content (what reads see)
	synced  []byte  // content as of the last Sync
	pending []memOp // data operations since the last Sync, in order
}

// memOp is one unsynced data operation on a file: a write or a truncate.
type memOp struct {
	off   int64
	data  []byte
	trunc bool // truncate to off
}

func applyOp(buf []byte, op memOp) []byte {
	if op.trunc {
		return resize(buf, op.off)
	}
	end := op.off + int64(len(op.data))
	if end > int64(len(buf)) {
		buf = resize(buf, end)
	}
	copy(buf[op.off:], op.data)
	return buf
}

func resize(buf []byte, size int64) []byte {
	if size <= int64(len(buf)) {
		return buf[:size]
	}
	if size <= int64(cap(buf)) {
		old := len(buf)
		buf = buf[:size]
		clear(buf[old:])
		return buf
	}
	nb := make([]byte, size, size+size/4)
	copy(nb, buf)
	return nb
}

// nsChange sets path to node (nil: the entry is removed).
type nsChange struct {
	path string
	node *memNode
}

// MemFS is an in-memory FS that remembers what has been made durable.
// File data is durable once the file is synced; a directory entry
// (create, rename, remove, mkdir) is durable once its parent directory is
// synced with SyncDir. Crash returns the image a power loss would leave.
//
// MemFS is safe for concurrent use. Paths are cleaned with filepath.Clean;
// "/" and "." are roots that always exist.
type MemFS struct {
	mu      sync.Mutex
	cur     map[string]*memNode // current namespace
	dur     map[string]*memNode // durable namespace
	base    map[string]*memNode // namespace when log started
	log     [][]nsChange        // namespace operations since base
	syncIdx map[string]int      // directory -> len(log) at its last SyncDir
	locks   map[string]bool

	ops        int
	crashAfter int // <0: never
}

// NewMem returns an empty in-memory file system.
func NewMem() *MemFS {
	return &MemFS{
		cur:        map[string]*memNode{},
		dur:        map[string]*memNode{},
		base:       map[string]*memNode{},
		syncIdx:    map[string]int{},
		locks:      map[string]bool{},
		crashAfter: -1,
	}
}

// Ops returns the number of mutating operations performed so far (Create,
// Write, WriteAt, Truncate, Sync, Rename, Remove, MkdirAll, SyncDir, Link).
func (m *MemFS) Ops() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ops
}

// SetCrashAfter makes every mutating operation after the first n fail with
// ErrCrashed (n counts from the start of the MemFS, as Ops does). A
// negative n removes the limit.
func (m *MemFS) SetCrashAfter(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crashAfter = n
}

// mutate counts one mutating operation; m.mu must be held.
func (m *MemFS) mutate(op, name string) error {
	if m.crashAfter >= 0 && m.ops >= m.crashAfter {
		return &fs.PathError{Op: op, Path: name, Err: ErrCrashed}
	}
	m.ops++
	return nil
}

func isRoot(p string) bool { return p == "/" || p == "." }

// dirExists reports whether p is an existing directory; m.mu must be held.
func (m *MemFS) dirExists(p string) bool {
	if isRoot(p) {
		return true
	}
	n := m.cur[p]
	return n != nil && n.dir
}

// apply records a namespace operation; m.mu must be held.
func (m *MemFS) apply(changes ...nsChange) {
	for _, c := range changes {
		if c.node == nil {
			delete(m.cur, c.path)
		} else {
			m.cur[c.path] = c.node
		}
	}
	m.log = append(m.log, changes)
}

func notExist(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.mutate("create", name); err != nil {
		return nil, err
	}
	if !m.dirExists(filepath.Dir(name)) {
		return nil, notExist("create", name)
	}
	n := m.cur[name]
	switch {
	case n != nil && n.dir:
		return nil, &fs.PathError{Op: "create", Path: name, Err: syscall.EISDIR}
	case n != nil:
		// O_TRUNC on an existing inode is a data operation.
		n.data = n.data[:0]
		n.pending = append(n.pending, memOp{off: 0, trunc: true})
	default:
		n = &memNode{}
		m.apply(nsChange{name, n})
	}
	return &memFile{fs: m, node: n, name: name}, nil
}

func (m *MemFS) open(op, name string, rw bool) (File, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.cur[name]
	if n == nil {
		return nil, notExist(op, name)
	}
	if n.dir {
		return nil, &fs.PathError{Op: op, Path: name, Err: syscall.EISDIR}
	}
	f := &memFile{fs: m, node: n, name: name, readOnly: !rw}
	if rw {
		f.off = int64(len(n.data))
	}
	return f, nil
}

// Open implements FS.
func (m *MemFS) Open(name string) (File, error) { return m.open("open", name, false) }

// OpenRW implements FS.
func (m *MemFS) OpenRW(name string) (File, error) { return m.open("open", name, true) }

// Rename implements FS. Only files can be renamed.
func (m *MemFS) Rename(oldname, newname string) error {
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.mutate("rename", oldname); err != nil {
		return err
	}
	n := m.cur[oldname]
	if n == nil {
		return notExist("rename", oldname)
	}
	if n.dir {
		return &fs.PathError{Op: "rename", Path: oldname, Err: errors.New("memfs: renaming directories is not supported")}
	}
	if !m.dirExists(filepath.Dir(newname)) {
		return notExist("rename", newname)
	}
	if t := m.cur[newname]; t != nil && t.dir {
		return &fs.PathError{Op: "rename", Path: newname, Err: syscall.EISDIR}
	}
	if oldname == newname {
		return nil
	}
	m.apply(nsChange{newname, n}, nsChange{oldname, nil})
	return nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.mutate("remove", name); err != nil {
		return err
	}
	n := m.cur[name]
	if n == nil {
		return notExist("remove", name)
	}
	if n.dir {
		for p := range m.cur {
			if filepath.Dir(p) == name {
				return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
			}
		}
	}
	m.apply(nsChange{name, nil})
	return nil
}

// List implements FS.
func (m *MemFS) List(dir string) ([]string, error) {
	dir = filepath.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirExists(dir) {
		if n := m.cur[dir]; n != nil {
			return nil, &fs.PathError{Op: "readdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil, notExist("readdir", dir)
	}
	var names []string
	for p := range m.cur {
		if filepath.Dir(p) == dir && !isRoot(p) {
			names = append(names, filepath.Base(p))
		}
	}
	sort.Strings(names)
	return names, nil
}

// MkdirAll implements FS. It counts as one operation however many
// directories it creates.
func (m *MemFS) MkdirAll(dir string) error {
	dir = filepath.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.mutate("mkdir", dir); err != nil {
		return err
	}
	var missing []string
	for p := dir; !isRoot(p); p = filepath.Dir(p) {
		if n := m.cur[p]; n != nil {
			if !n.dir {
				return &fs.PathError{Op: "mkdir", Path: p, Err: syscall.ENOTDIR}
			}
			break
		}
		missing = append(missing, p)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		m.apply(nsChange{missing[i], &memNode{dir: true}})
	}
	return nil
}

// SyncDir implements FS: the current entries of dir become durable.
func (m *MemFS) SyncDir(dir string) error {
	dir = filepath.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.mutate("syncdir", dir); err != nil {
		return err
	}
	if !m.dirExists(dir) {
		return notExist("syncdir", dir)
	}
	m.syncDirLocked(dir)
	return nil
}

func (m *MemFS) syncDirLocked(dir string) {
	for p := range m.dur {
		if filepath.Dir(p) == dir && !isRoot(p) {
			if _, ok := m.cur[p]; !ok {
				delete(m.dur, p)
			}
		}
	}
	for p, n := range m.cur {
		if filepath.Dir(p) == dir {
			m.dur[p] = n
		}
	}
	m.syncIdx[dir] = len(m.log)
}

// Lock implements FS. The lock file is created if missing (not counted as
// an operation). Locks do not survive Crash.
func (m *MemFS) Lock(name string) (io.Closer, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locks[name] {
		return nil, fmt.Errorf("%s: %w", name, ErrLocked)
	}
	n := m.cur[name]
	if n == nil {
		if !m.dirExists(filepath.Dir(name)) {
			return nil, notExist("lock", name)
		}
		m.apply(nsChange{name, &memNode{}})
	} else if n.dir {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: syscall.EISDIR}
	}
	m.locks[name] = true
	return &memLock{fs: m, name: name}, nil
}

type memLock struct {
	fs   *MemFS
	name string
	once sync.Once
}

func (l *memLock) Close() error {
	l.once.Do(func() {
		l.fs.mu.Lock()
		delete(l.fs.locks, l.name)
		l.fs.mu.Unlock()
	})
	return nil
}

// Stat implements FS. Directories have size 0.
func (m *MemFS) Stat(name string) (int64, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if isRoot(name) {
		return 0, nil
	}
	n := m.cur[name]
	if n == nil {
		return 0, notExist("stat", name)
	}
	return int64(len(n.data)), nil
}

// ReadFile returns a copy of the current content of a file. It is a test
// helper and does not count as an operation.
func (m *MemFS) ReadFile(name string) ([]byte, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.cur[name]
	if n == nil || n.dir {
		return nil, notExist("read", name)
	}
	return append([]byte(nil), n.data...), nil
}

// WriteFile replaces (or creates) a file with data, durably: the content
// is synced and the parent directory and its ancestors are synced. The
// parent directory must exist. It is a test helper for building fixtures
// and does not count as an operation.
func (m *MemFS) WriteFile(name string, data []byte) error {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirExists(filepath.Dir(name)) {
		return notExist("write", name)
	}
	n := m.cur[name]
	if n != nil && n.dir {
		return &fs.PathError{Op: "write", Path: name, Err: syscall.EISDIR}
	}
	if n == nil {
		n = &memNode{}
		m.apply(nsChange{name, n})
	}
	n.data = append([]byte(nil), data...)
	n.synced = append([]byte(nil), data...)
	n.pending = nil
	for p := name; !isRoot(p); p = filepath.Dir(p) {
		m.syncDirLocked(filepath.Dir(p))
	}
	return nil
}

// Crash returns a new MemFS holding what a power loss at this instant
// would leave on disk, according to mode; rng drives the random choices
// (nil: a fixed seed). The receiver is unchanged and keeps working. The new
// MemFS has everything synced, no locks, no crash limit and an operation
// count of zero. Entries whose parent directory did not survive are
// dropped.
func (m *MemFS) Crash(mode CrashMode, rng *rand.Rand) *MemFS {
	if rng == nil {
		rng = rand.New(rand.NewSource(1))
	}
	m.mu.Lock()
	defer m.mu.Unlock()

	// 1. The namespace that survives.
	var ns map[string]*memNode
	switch mode {
	case CrashTearLast:
		ns = maps(m.cur)
	case CrashKeepRandom:
		k := rng.Intn(len(m.log) + 1)
		sk := maps(m.base)
		for _, op := range m.log[:k] {
			for _, c := range op {
				if c.node == nil {
					delete(sk, c.path)
				} else {
					sk[c.path] = c.node
				}
			}
		}
		ns = map[string]*memNode{}
		for p, n := range sk {
			if k >= m.syncIdx[filepath.Dir(p)] {
				ns[p] = n
			}
		}
		for p, n := range m.dur {
			if k < m.syncIdx[filepath.Dir(p)] {
				ns[p] = n
			}
		}
	default: // CrashDropUnsynced, CrashDropDirEntries
		ns = maps(m.dur)
	}
	// Drop entries whose parent directory is gone.
	paths := make([]string, 0, len(ns))
	for p := range ns {
		paths = append(paths, p)
	}
	sort.Slice(paths, func(i, j int) bool {
		return strings.Count(paths[i], string(filepath.Separator)) < strings.Count(paths[j], string(filepath.Separator))
	})
	for _, p := range paths {
		if d := filepath.Dir(p); !isRoot(d) {
			if pn := ns[d]; pn == nil || !pn.dir {
				delete(ns, p)
			}
		}
	}

	// 2. The data each surviving inode holds.
	clones := map[*memNode]*memNode{}
	out := NewMem()
	for _, p := range paths {
		n, ok := ns[p]
		if !ok {
			continue
		}
		c := clones[n]
		if c == nil {
			c = &memNode{dir: n.dir}
			if !n.dir {
				c.data = crashData(n, mode, rng)
				c.synced = append([]byte(nil), c.data...)
			}
			clones[n] = c
		}
		out.cur[p] = c
		out.dur[p] = c
		out.base[p] = c
	}
	return out
}

func maps(src map[string]*memNode) map[string]*memNode {
	dst := make(map[string]*memNode, len(src))
	for k, v := range src {
		dst[k] = v
	}
	return dst
}

func crashData(n *memNode, mode CrashMode, rng *rand.Rand) []byte {
	buf := append([]byte(nil), n.synced...)
	switch mode {
	case CrashDropDirEntries:
		return append([]byte(nil), n.data...)
	case CrashKeepRandom:
		for _, i := range rng.Perm(len(n.pending)) {
			if rng.Intn(2) == 0 {
				buf = applyOp(buf, n.pending[i])
			}
		}
	case CrashTearLast:
		for i, op := range n.pending {
			if i == len(n.pending)-1 && !op.trunc && len(op.data) > 0 {
				op.data = op.data[:rng.Intn(len(op.data))]
				if len(op.data) == 0 {
					break
				}
			}
			buf = applyOp(buf, op)
		}
	}
	return buf
}

// memFile is an open handle on a MemFS inode.
type memFile struct {
	fs       *MemFS
	node     *memNode
	name     string
	off      int64
	readOnly bool
	closed   bool
	direct   bool // opened with OpenDirect: reads and writes must be aligned
}

func (f *memFile) check(op string, write bool) error {
	if f.closed {
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	}
	if write && f.readOnly {
		return &fs.PathError{Op: op, Path: f.name, Err: syscall.EBADF}
	}
	return nil
}

// checkIO is check for a read or write of p at off: on a direct handle,
// one that is not aligned to DirectAlign fails with EINVAL.
func (f *memFile) checkIO(op string, write bool, p []byte, off int64) error {
	if err := f.check(op, write); err != nil {
		return err
	}
	if f.direct && !directAligned(p, off) {
		return &fs.PathError{Op: op, Path: f.name, Err: syscall.EINVAL}
	}
	return nil
}

func (f *memFile) writeAt(p []byte, off int64) {
	n := f.node
	n.data = applyOp(n.data, memOp{off: off, data: p})
	n.pending = append(n.pending, memOp{off: off, data: append([]byte(nil), p...)})
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkIO("write", true, p, f.off); err != nil {
		return 0, err
	}
	if err := f.fs.mutate("write", f.name); err != nil {
		return 0, err
	}
	f.writeAt(p, f.off)
	f.off += int64(len(p))
	return len(p), nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkIO("write", true, p, off); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: syscall.EINVAL}
	}
	if err := f.fs.mutate("write", f.name); err != nil {
		return 0, err
	}
	f.writeAt(p, off)
	return len(p), nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkIO("read", false, p, off); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: syscall.EINVAL}
	}
	data := f.node.data
	if off >= int64(len(data)) {
		return 0, io.EOF
	}
	n := copy(p, data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: syscall.EINVAL}
	}
	if err := f.fs.mutate("truncate", f.name); err != nil {
		return err
	}
	f.node.data = resize(f.node.data, size)
	f.node.pending = append(f.node.pending, memOp{off: size, trunc: true})
	return nil
}

// Sync makes the file's data durable. It is allowed on read-only handles,
// as fsync(2) is.
func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("sync", false); err != nil {
		return err
	}
	if err := f.fs.mutate("sync", f.name); err != nil {
		return err
	}
	n := f.node
	for _, op := range n.pending {
		n.synced = applyOp(n.synced, op)
	}
	n.pending = nil
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("stat", false); err != nil {
		return 0, err
	}
	return int64(len(f.node.data)), nil
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.closed = true
	return nil
}
