package wal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/internal/hist"
	"github.com/exledger/exledger/vfs"
)

// CorruptionError reports bytes that failed verification.
type CorruptionError = corrupt.CorruptionError

var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("wal: closed")
	// ErrPoisoned is returned (wrapped with the I/O error that caused it)
	// once a write or fsync has failed: no later Commit succeeds until the
	// WAL is reopened.
	ErrPoisoned = errors.New("wal: poisoned by an earlier write or sync error")
	// ErrBatchTooLarge is returned by Commit when a batch's payload exceeds
	// Options.MaxBatchBytes.
	ErrBatchTooLarge = errors.New("wal: batch too large")
	// ErrReadOnly is returned by Commit, Sync and Checkpoint on a WAL
	// opened with Options.ReadOnly.
	ErrReadOnly = errors.New("wal: read-only")
)

const (
	defaultFileSize = 64 << 20
	defaultMaxBatch = 64 << 20
)

type syncMode uint8

const (
	syncAlways syncMode = iota
	syncInterval
	syncNever
)

// SyncPolicy says when Commit acknowledges and when the WAL fsyncs.
type SyncPolicy struct {
	mode     syncMode
	interval time.Duration
}

var (
	// SyncAlways (the zero value, and the default) acknowledges a Commit
	// only after the bytes are fdatasync'ed. Concurrent commits share one
	// write and one fdatasync.
	SyncAlways SyncPolicy
	// SyncNever never fsyncs except on rotation, Sync and Close. Commits
	// are acknowledged after the write: a power loss can lose them. For
	// bulk import and tests.
	SyncNever = SyncPolicy{mode: syncNever}
)

// SyncInterval acknowledges after the write and fsyncs in the background at
// most every d (a power loss can lose up to d of acknowledged commits).
// d <= 0 gives SyncAlways.
func SyncInterval(d time.Duration) SyncPolicy {
	if d <= 0 {
		return SyncAlways
	}
	return SyncPolicy{mode: syncInterval, interval: d}
}

func (p SyncPolicy) String() string {
	switch p.mode {
	case syncInterval:
		return "interval(" + p.interval.String() + ")"
	case syncNever:
		return "never"
	}
	return "always"
}

// Batch is one group of records committed atomically as one frame.
type Batch struct {
	FirstSeq uint64   // sequence number of Records[0], assigned by the WAL
	Records  [][]byte // opaque records
	Aux      any      // caller data passed through to Prepare/Apply; never written
}

// Options configure a WAL. The zero value of each field is a usable
// default, except FS and Dir, which are required.
type Options struct {
	FS  vfs.FS
	Dir string // created if missing
	// Salt identifies the ledger; files and frames with another salt are
	// reported as corruption.
	Salt uint64
	// FileSize is the rotation threshold in bytes; 0 means 64 MiB. A
	// batch larger than a file gets a file of its own.
	FileSize int64
	// MaxBatchBytes bounds a batch's payload (records plus 4 bytes each);
	// 0 means 64 MiB, and values above 1 GiB are lowered to 1 GiB. Larger
	// batches are refused with ErrBatchTooLarge, and recovery treats a
	// frame claiming more as invalid, so do not lower it below the size
	// of batches already in the log.
	MaxBatchBytes int
	Sync          SyncPolicy
	Logger        *slog.Logger // nil discards
	// Prepare, if set, is called by the single committer goroutine for
	// each batch, one at a time, in commit order, before the batch is
	// written, with b.FirstSeq already assigned. It may replace b.Records
	// (an emptied batch is acknowledged with the rest of its group,
	// without a frame and without consuming sequence numbers) or return
	// an error, which fails only that batch's Commit.
	Prepare func(b *Batch) error
	// Apply, if set, is called by the committer after the batch is
	// durable per the policy (after fdatasync for SyncAlways, after the
	// write otherwise), in commit order, before Commit returns. It is
	// called for batches that Prepare emptied too.
	Apply func(b *Batch)
	// Stage, if set, is called for each batch of a group (in commit order,
	// emptied batches too, never concurrently with the other hooks) once
	// the group's frames are written, and, under SyncAlways, on a helper
	// goroutine while the committer is in fdatasync, so that work the
	// caller must do before Apply overlaps the sync. When the group's
	// frames take overlapMin (256 KiB) or more, it is called on the
	// helper goroutine while the committer writes them (and syncs them,
	// under SyncAlways), under every policy. The
	// batch is not durable yet: Stage must not make it visible. If the
	// group then fails, Unstage is called for each staged batch instead of
	// Apply; otherwise Apply follows.
	Stage func(b *Batch)
	// Unstage, if set, is called for each batch that was staged but whose
	// group failed (its Commit returns the error). The WAL is poisoned by
	// then: no batch is staged or applied after it.
	Unstage func(b *Batch)
	// FillFiles zero-fills every pre-created file, whatever the size of
	// the writes; while writes are large, it starts pre-creating the next
	// file as soon as the active one is in use. By default a file is filled only while the
	// average write is under fillMaxFlush (128 KiB): filling doubles the
	// bytes written, and an fdatasync of the active file can wait for the
	// fill's. Where no fdatasync waits for each commit (SyncNever), large
	// writes gain from it: a frame written over the zeros already in the
	// page cache is a copy, while one appended past the end of the file
	// makes the kernel allocate the pages and blocks during the committer's
	// write. Measured (docs/benchmarks.md §15, fifth round) it sped up
	// short bursts of 1.7 MB frames and slowed sustained ones of 6.3 MB,
	// so the ledger leaves it off (suspects, not settled: the fill's CPU
	// beside a busy sealer, and zeros written back before the frames
	// reach them). Those measurements were of buffered writes; with
	// direct writes (the default, see BufferedWrites) the zeros are
	// written through the new file's direct handle, and filling files
	// for large writes was measured again and rejected (it doubles the
	// bytes written for ratios within noise: docs/benchmarks.md §13,
	// "Direct WAL writes"). The on-disk format and recovery are the same
	// either way.
	FillFiles bool
	// RecycleFiles is how many checkpointed files are kept for reuse
	// instead of removed; 0 removes them all. Checkpoint renames a covered
	// file to "<name>.wal.free" (and fsyncs the directory); the next file
	// is then made from it rather than created: renamed to
	// "<next>.wal.tmp", its header rewritten and fsynced, renamed to
	// "<next>.wal", directory fsynced. Its frames are written over the
	// previous life's, whose pages are usually still in the page cache,
	// so an append of a large frame makes the kernel allocate no pages
	// (with buffered writes; with direct writes no page is involved, and
	// what a recycled file still saves is the allocation of its blocks
	// and the size change in each fdatasync).
	// The previous life's frames never verify (a frame's checksum is
	// seeded with the number of the file it was written to), and a
	// recycled file is truncated at the end of its own frames when it is
	// finished or closed, so only the active file can hold stale bytes
	// after its frames, which recovery treats as a torn tail. The on-disk
	// format is the same; a reader that does not know free files ignores
	// them. A read-only Open ignores them; a writable one adopts up to
	// RecycleFiles of them and removes the rest.
	RecycleFiles int
	// ReadOnly opens the log for inspection (verify, export, a reader
	// beside a live writer): Open verifies and replays as usual but never
	// creates, writes, truncates, renames, removes or fsyncs anything.
	// Dir must exist. A torn tail is treated as the end of the log and
	// left as it is; leftover temporary files are ignored; corruption is
	// still a *CorruptionError. Commit, Sync and Checkpoint return
	// ErrReadOnly; Sync policy, FileSize, Prepare and Apply are unused.
	ReadOnly bool
	// BufferedWrites writes the log through the page cache. By default
	// (false) the active file is written with direct I/O (vfs.OpenDirect:
	// O_DIRECT on the OS), since the log is written once and read back
	// only by recovery, Salvage and tails: copying every frame into page
	// cache pages (fresh ones, which the kernel must allocate and zero
	// first) costs more CPU than the write itself. Each write then
	// rewrites the file's last partial 4 KiB block (whose bytes the WAL
	// keeps in memory, identical to those on disk) followed by the new
	// frames, padded with zeros to a multiple of 4 KiB; the zeros after
	// the last frame read as the normal end of the log, and a file is
	// truncated back to its unpadded size when it is finished or closed,
	// so the files are byte-identical to buffered ones. fdatasync is
	// called exactly as with buffered writes (O_DIRECT does not flush the
	// device's cache). If the file system refuses O_DIRECT (tmpfs before
	// Linux 6.6, some FUSE mounts: EINVAL) the WAL logs why and writes
	// through the page cache (Stats.DirectFallback). The on-disk format is
	// the same either way.
	BufferedWrites bool

	// syncPrecreate makes the committer create the next file itself right
	// after a rotation instead of in a goroutine, so that the sequence of
	// file-system operations is deterministic (fault-injection tests).
	syncPrecreate bool
}

// Stats are cumulative counters since Open.
type Stats struct {
	Commits      uint64 // successful Commit calls
	Batches      uint64 // frames written
	Records      uint64 // records written
	Syncs        uint64 // fdatasync calls on WAL files by the committer
	BytesWritten uint64 // frame bytes written
	Files        int    // WAL files in the directory, including the pre-created next one
	// Recycled counts the files made from checkpointed ones
	// (Options.RecycleFiles) instead of created.
	Recycled uint64
	// GroupCommits is the distribution of Commit calls merged into one
	// write (and, under SyncAlways, one fdatasync): the group-commit size.
	GroupCommits hist.Snapshot
	// SyncLatency is the distribution of fdatasync durations, in
	// nanoseconds.
	SyncLatency hist.Snapshot
	// Poisoned is set once a write or fdatasync failed: every later
	// Commit fails until the WAL is reopened.
	Poisoned bool
	// TornBytes is the size of the torn tail Open truncated (0 if none;
	// a read-only Open truncates nothing and reports 0).
	TornBytes uint64
	// DirectWrites is set while the active file is written with direct
	// I/O (see Options.BufferedWrites).
	DirectWrites bool
	// DirectFallback says why direct writes were given up (the file
	// system refused them); empty if they never were.
	DirectFallback string
}

type reqKind uint8

const (
	kindCommit reqKind = iota
	kindSync
	kindClose
)

const (
	statePending int32 = iota
	stateTaken
	stateCancelled
)

type request struct {
	kind   reqKind
	state  atomic.Int32
	batch  Batch
	failed bool // answered early (Prepare error, too large)
	err    error
	done   chan struct{}
}

var reqPool = sync.Pool{New: func() any { return &request{done: make(chan struct{}, 1)} }}

func getReq(kind reqKind) *request {
	r := reqPool.Get().(*request)
	r.kind = kind
	r.state.Store(statePending)
	return r
}

func putReq(r *request) {
	r.batch = Batch{}
	r.err = nil
	r.failed = false
	reqPool.Put(r)
}

type spareResult struct {
	num    uint64
	f      vfs.File
	filled bool // zero-filled to FileSize
	direct bool // f is a direct handle (vfs.OpenDirect)
	// recycled: made from a checkpointed file (Options.RecycleFiles); its
	// previous life's frames follow the header.
	recycled bool
	err      error
}

type fileRange struct{ num, first, last uint64 }

// WAL is a write-ahead log. Its methods are safe for concurrent use.
type WAL struct {
	fs        vfs.FS
	dir       string
	salt      uint64
	fileSize  int64
	maxBatch  int64
	policy    SyncPolicy
	log       *slog.Logger
	prepare   func(*Batch) error
	apply     func(*Batch)
	stage     func(*Batch)
	unstage   func(*Batch)
	stageDone chan struct{} // the staging goroutine's completion (syncStaging)
	syncPre   bool
	readOnly  bool
	fillFiles bool
	recycle   int // Options.RecycleFiles

	qmu    sync.Mutex
	queue  []*request
	closed bool
	wake   chan struct{}
	exited chan struct{}

	poison  atomic.Pointer[error]
	nextSeq atomic.Uint64

	// Owned by the committer goroutine.
	f             vfs.File
	num           uint64 // active file number
	off           int64  // write offset in the active file
	syncedOff     int64  // bytes of the active file known durable
	buf           []byte // frames not yet written to f
	bufFrames     int
	digest        *xxhash.Digest
	spareQ        []*request
	group         []*request
	activeFirst   uint64
	activeLast    uint64
	spareCh       chan spareResult
	spareInFlight bool
	// spare is a pre-created file taken from spareCh before rotation.
	spare *spareResult
	// activeFilled: the active file was zero-filled to FileSize, so an
	// fdatasync after an overwrite needs no size change. A header-only
	// file (the first of a log, or a fallback) is left for a filled one as
	// soon as one is ready (see process).
	activeFilled bool
	// activeRecycled: the active file was made from a checkpointed one, so
	// the previous life's bytes may follow w.off (see cutStale).
	activeRecycled bool
	// avgFlush is a moving average of the bytes per write (group) of the
	// committer; it decides whether the next file is zero-filled (see
	// fillSpare).
	avgFlush int64
	// Direct writes (Options.BufferedWrites unset). activeDirect: f is a
	// direct handle; then buf is a slice of blk, an aligned buffer whose
	// first pre bytes are the active file's bytes from the last 4 KiB
	// boundary at or before off up to off (identical to those on disk),
	// so a write starts at that boundary. activeSize is the size of the
	// active file when it became active and physEnd the end of the last
	// direct write (padded): past max(activeSize, off) it is padding that
	// cutStale truncates.
	activeDirect bool
	blk          []byte
	pre          int
	activeSize   int64
	physEnd      int64
	lastSync     time.Time
	timer        *time.Timer
	timerArmed   bool

	ckptMu sync.Mutex
	mu     sync.Mutex  // guards files and free
	files  []fileRange // data files, oldest first; the last is the active one
	free   []uint64    // numbers of the files kept for reuse ("<num>.wal.free"), oldest first

	nfiles                                                   atomic.Int64
	commits, batches, records, syncs, bytesWritten, recycled atomic.Uint64
	groupHist, syncHist                                      *hist.Histogram
	tornBytes                                                uint64 // set by Open

	// direct: new active files are opened for direct writes (cleared for
	// good when the file system refuses them, with the reason in
	// directWhy); directActive mirrors activeDirect for Stats.
	direct, directActive atomic.Bool
	directWhy            atomic.Pointer[string]
}

// Open recovers the WAL in opts.Dir and starts its committer.
//
// Every frame of every file is verified. replay is called, in order, for
// each batch that contains sequence numbers >= startSeq (the caller holds
// everything before startSeq elsewhere); its Records alias read buffers
// that are never reused, so they may be retained. The next sequence number
// is max(startSeq, last+1), and sequence numbers start at 1.
//
// Tail policy: nonzero bytes after the last valid frame of the last file
// holding frames (a torn write) are truncated, logged with their byte
// count, and the file is fsynced. So are valid frames that follow damaged
// bytes in the same unsynced write window (their header says the damaged
// bytes had not been synced when they were written). Anything else is a
// *CorruptionError and nothing is truncated: damaged bytes followed by
// frames written after those bytes were synced, damage in a file followed
// by a file with frames, a bad file header, a missing file, a gap or
// overlap in sequence numbers (including a log that starts after
// startSeq), or a salt mismatch. Open is idempotent.
//
// If startSeq > last+1, every existing frame is covered by the caller:
// the files are removed (after the next file is created) so the log has
// no sequence gap.
//
// With opts.ReadOnly, Open verifies and replays the same way but changes
// nothing on disk: a torn tail is the end of the log (logged at Debug)
// and stays in its file, nothing is fsynced, and covered files are kept.
// It may run beside a read-write WAL on the same directory and then
// replays a prefix of the log that includes every commit acknowledged
// before Open was called. A scan that races with the writer can see an
// inconsistent snapshot, so a failed read-only scan is repeated and its
// error returned only when two consecutive scans fail identically (or
// after 8 scans).
func Open(opts Options, startSeq uint64, replay func(b *Batch) error) (*WAL, error) {
	w, err := newWAL(opts)
	if err != nil {
		return nil, err
	}
	var (
		states []fileState
		rc     *recoverer
	)
	if w.readOnly {
		states, rc, err = w.recoverReadOnly(startSeq)
	} else {
		var nums []uint64
		if err = w.mkdir(); err == nil {
			nums, err = w.listFiles(true)
		}
		if err == nil {
			states, rc, err = w.recoverDir(nums, startSeq)
		}
	}
	if err != nil {
		return nil, err
	}
	if replay != nil {
		for _, b := range rc.batches {
			if err := replay(b); err != nil {
				return nil, fmt.Errorf("wal: replay of batch at sequence %d: %w", b.FirstSeq, err)
			}
		}
	}
	rc.batches = nil
	last := rc.prevLast
	w.nextSeq.Store(max(startSeq, last+1, 1))

	for _, st := range states {
		w.files = append(w.files, fileRange{num: st.num, first: st.first, last: st.last})
	}
	w.nfiles.Store(int64(len(states)))
	if w.readOnly {
		close(w.exited) // no committer
		return w, nil
	}

	switch {
	case len(states) == 0:
		if err := w.openNew(1); err != nil {
			return nil, err
		}
	case last != 0 && startSeq > last+1:
		w.log.Info("wal: start sequence is past the log; dropping covered files",
			"startSeq", startSeq, "last", last, "files", len(states))
		if err := w.openNew(states[len(states)-1].num + 1); err != nil {
			return nil, err
		}
		if err := w.removeCovered(startSeq - 1); err != nil {
			w.f.Close()
			return nil, err
		}
	default:
		st := states[len(states)-1]
		f, err := w.fs.OpenRW(st.path)
		if err != nil {
			return nil, fmt.Errorf("wal: open %s: %w", st.path, err)
		}
		size, err := f.Size()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("wal: size of %s: %w", st.path, err)
		}
		var head []byte
		direct := false
		if w.direct.Load() {
			// The bytes of the last partial block, which each direct write
			// rewrites.
			head = make([]byte, st.validEnd-alignDown(st.validEnd))
			if err := readFull(f, head, alignDown(st.validEnd)); err != nil {
				f.Close()
				return nil, fmt.Errorf("wal: read %s: %w", st.path, err)
			}
			fd, err := w.openDirect(st.path)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("wal: open %s: %w", st.path, err)
			}
			if fd != nil {
				f.Close()
				f, direct = fd, true
			}
		}
		w.activate(f, direct, st.num, st.validEnd, size, head)
		w.activeFirst, w.activeLast = st.first, st.last
		w.activeFilled = size >= w.fileSize
	}
	if err := w.fs.SyncDir(w.dir); err != nil {
		w.f.Close()
		return nil, fmt.Errorf("wal: sync %s: %w", w.dir, err)
	}
	w.lastSync = time.Now()
	if w.policy.mode == syncInterval {
		w.timer = time.NewTimer(time.Hour)
		w.timer.Stop()
	}
	// No pre-creation here: Open writes nothing beyond recovery, so a
	// handle that only reads leaves the directory as it found it; the
	// first write starts it (see flush).
	go w.run()
	return w, nil
}

// newWAL checks opts and applies the zero-value defaults.
func newWAL(opts Options) (*WAL, error) {
	if opts.FS == nil {
		return nil, errors.New("wal: Options.FS is required")
	}
	if opts.Dir == "" {
		return nil, errors.New("wal: Options.Dir is required")
	}
	w := &WAL{
		fs:        opts.FS,
		dir:       filepath.Clean(opts.Dir),
		salt:      opts.Salt,
		fileSize:  opts.FileSize,
		maxBatch:  int64(opts.MaxBatchBytes),
		policy:    opts.Sync,
		log:       opts.Logger,
		prepare:   opts.Prepare,
		apply:     opts.Apply,
		stage:     opts.Stage,
		unstage:   opts.Unstage,
		stageDone: make(chan struct{}, 1),
		readOnly:  opts.ReadOnly,
		syncPre:   opts.syncPrecreate,
		fillFiles: opts.FillFiles,
		recycle:   max(opts.RecycleFiles, 0),
		wake:      make(chan struct{}, 1),
		exited:    make(chan struct{}),
		digest:    xxhash.New(),
		spareCh:   make(chan spareResult, 1),
		groupHist: hist.New(hist.CountBounds),
		syncHist:  hist.New(hist.DurationBounds),
	}
	if w.fileSize <= 0 {
		w.fileSize = defaultFileSize
	}
	if w.maxBatch <= 0 {
		w.maxBatch = defaultMaxBatch
	}
	w.maxBatch = min(w.maxBatch, maxBatchLimit)
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.direct.Store(!opts.BufferedWrites && !opts.ReadOnly)
	return w, nil
}

// listFiles returns the numbers of the WAL files in Dir, sorted. Leftover
// temporary files (interrupted creations, never renamed, never used) are
// removed if removeTmp, else ignored. So are files kept for reuse
// ("<num>.wal.free"), except that with removeTmp up to w.recycle of them
// are adopted into w.free.
func (w *WAL) listFiles(removeTmp bool) ([]uint64, error) {
	names, err := w.fs.List(w.dir)
	if err != nil {
		return nil, fmt.Errorf("wal: list %s: %w", w.dir, err)
	}
	var nums, free []uint64
	for _, name := range names {
		if strings.HasSuffix(name, tmpSuffix) {
			if removeTmp {
				if err := w.fs.Remove(filepath.Join(w.dir, name)); err != nil {
					return nil, fmt.Errorf("wal: remove %s: %w", name, err)
				}
			}
			continue
		}
		if n, ok := parseFreeName(name); ok {
			free = append(free, n)
			continue
		}
		if n, ok := parseFileName(name); ok {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	if removeTmp {
		slices.Sort(free)
		for len(free) > w.recycle {
			if err := w.fs.Remove(filepath.Join(w.dir, freeName(free[0]))); err != nil {
				return nil, fmt.Errorf("wal: remove %s: %w", freeName(free[0]), err)
			}
			free = free[1:]
		}
		w.free = free
	}
	return nums, nil
}

// mkdir creates Dir and makes its entry, and those of any parents it had
// to create, durable.
func (w *WAL) mkdir() error {
	var created []string
	for d := w.dir; ; d = filepath.Dir(d) {
		if _, err := w.fs.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("wal: stat %s: %w", d, err)
		}
		created = append(created, d)
		if p := filepath.Dir(d); p == d {
			break
		}
	}
	if err := w.fs.MkdirAll(w.dir); err != nil {
		return fmt.Errorf("wal: create %s: %w", w.dir, err)
	}
	if len(created) == 0 {
		created = []string{w.dir}
	}
	for _, d := range created { // deepest first: each parent after its child
		if err := w.fs.SyncDir(filepath.Dir(d)); err != nil {
			return fmt.Errorf("wal: sync parent of %s: %w", d, err)
		}
	}
	return nil
}

// openNew creates file num (header only) and makes it the active file.
func (w *WAL) openNew(num uint64) error {
	f, direct, err := w.createFile(num, false, false)
	if err != nil {
		return err
	}
	w.nfiles.Add(1)
	w.activate(f, direct, num, fileHeaderSize, fileHeaderSize, appendFileHeader(nil, w.salt, num))
	w.activeFirst, w.activeLast = 0, 0
	w.activeFilled = false
	w.mu.Lock()
	w.files = append(w.files, fileRange{num: num})
	w.mu.Unlock()
	return nil
}

var zeroChunk [64 << 10]byte

// directZeros is an aligned block of zeros for filling a file with
// direct writes (allocated on first use).
var directZeros = sync.OnceValue(func() []byte { return vfs.AlignedBuffer(1 << 20) })

// createFile creates WAL file num: written under a temporary name, synced,
// renamed, directory synced. With fill, the file is zero-filled to
// FileSize so that later overwrites need no size change; with lazy too,
// only the header is synced before the rename (see lazyFill). With
// recycle, the file is not created but made from the checkpointed file
// kept for reuse as "<old>.wal.free": renamed to the temporary name and
// opened; its new header is written and synced before the rename, as for
// a created file, and its old frames stay after it (no fill). With direct
// writes on, the file is also opened for direct I/O before the rename,
// the zero-fill goes through that handle, and that handle is returned
// (direct); if the file system refuses it, the buffered one is.
func (w *WAL) createFile(num uint64, fill, lazy bool) (f vfs.File, direct bool, err error) {
	return w.makeFile(num, 0, false, fill, lazy)
}

func (w *WAL) makeFile(num, old uint64, recycle, fill, lazy bool) (f vfs.File, direct bool, err error) {
	final := filepath.Join(w.dir, fileName(num))
	tmp := final + ".tmp"
	renamed := false
	if recycle {
		fill = false
		src := filepath.Join(w.dir, freeName(old))
		if err = w.fs.Rename(src, tmp); err != nil {
			w.fs.Remove(src)
			return nil, false, fmt.Errorf("wal: recycle %s as %s: %w", freeName(old), fileName(num), err)
		}
	}
	var fd vfs.File // direct handle
	defer func() {
		if err != nil {
			if fd != nil {
				fd.Close()
			}
			if f != nil {
				f.Close()
				f = nil
			}
			w.fs.Remove(tmp)
			if renamed {
				w.fs.Remove(final)
			}
			err = fmt.Errorf("wal: create %s: %w", final, err)
		}
	}()
	if recycle {
		f, err = w.fs.OpenRW(tmp)
	} else {
		f, err = w.fs.Create(tmp)
	}
	if err != nil {
		return nil, false, err
	}
	if fd, err = w.openDirect(tmp); err != nil {
		return f, false, err
	}
	hdr := appendFileHeader(make([]byte, 0, fileHeaderSize), w.salt, num)
	// The direct fill covers [0, dend), header included; the rest of the
	// file (an unaligned FileSize's last bytes) is written buffered.
	dend := int64(0)
	if fill && fd != nil && !lazy {
		dend = alignDown(w.fileSize)
	}
	if dend == 0 {
		if _, err = f.WriteAt(hdr, 0); err != nil {
			return f, false, err
		}
	}
	if fill && lazy {
		// The header is synced before the zeros, which are not (see
		// lazyFill).
		if err = f.Sync(); err != nil {
			return f, false, err
		}
	}
	if fill {
		if dend > 0 {
			if n, derr := directFill(fd, hdr, dend); derr != nil {
				if n > 0 || !errors.Is(derr, syscall.EINVAL) {
					return f, false, derr
				}
				// The file system took the O_DIRECT open but refuses
				// the write: fill it through the buffered handle.
				w.noDirect("direct write refused: " + derr.Error())
				fd.Close()
				fd, dend = nil, 0
				if _, err = f.WriteAt(hdr, 0); err != nil {
					return f, false, err
				}
			}
		}
		for off := max(int64(fileHeaderSize), dend); off < w.fileSize; {
			n := min(int64(len(zeroChunk)), w.fileSize-off)
			if _, err = f.WriteAt(zeroChunk[:n], off); err != nil {
				return f, false, err
			}
			off += n
		}
	}
	if !lazy || !fill {
		if err = f.Sync(); err != nil {
			return f, false, err
		}
	}
	if err = w.fs.Rename(tmp, final); err != nil {
		return f, false, err
	}
	renamed = true
	if err = w.fs.SyncDir(w.dir); err != nil {
		return f, false, err
	}
	if fd != nil {
		if cerr := f.Close(); cerr != nil {
			w.log.Warn("wal: close", "file", tmp, "err", cerr)
		}
		return fd, true, nil
	}
	return f, false, nil
}

// directFill writes hdr and zeros over [0, end) of the direct handle fd,
// end a multiple of vfs.DirectAlign; it returns the bytes written.
func directFill(fd vfs.File, hdr []byte, end int64) (int64, error) {
	b0 := vfs.AlignedBuffer(vfs.DirectAlign)
	copy(b0, hdr)
	n, err := fd.WriteAt(b0, 0)
	done := int64(max(n, 0))
	if err != nil {
		return done, err
	}
	zeros := directZeros()
	for done < end {
		n, err := fd.WriteAt(zeros[:min(int64(len(zeros)), end-done)], done)
		done += int64(max(n, 0))
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// openDirect opens path for direct writes if they are on (else nil, nil).
// A refusal by the file system turns them off for the WAL's life, logged
// with the reason, and returns nil, nil: the caller writes through its
// buffered handle.
func (w *WAL) openDirect(path string) (vfs.File, error) {
	if !w.direct.Load() {
		return nil, nil
	}
	fd, err := vfs.OpenDirect(w.fs, path)
	if err == nil {
		return fd, nil
	}
	if errors.Is(err, vfs.ErrDirectUnsupported) {
		w.noDirect(err.Error())
		return nil, nil
	}
	return nil, err
}

// noDirect turns direct writes off for the files made from now on.
func (w *WAL) noDirect(why string) {
	if w.direct.CompareAndSwap(true, false) {
		w.directWhy.Store(&why)
		w.log.Info("wal: the file system refused direct I/O; writing the log through the page cache", "reason", why)
	}
}

func alignDown(n int64) int64 { return n &^ (vfs.DirectAlign - 1) }
func alignUp(n int64) int64   { return alignDown(n + vfs.DirectAlign - 1) }

// directBufMin is the initial size of the aligned write buffer.
const directBufMin = 64 << 10

// activate makes f the active file: file num, whose valid bytes end at off
// and whose size is size. If direct (f is a direct handle), head holds the
// file's bytes from alignDown(off) to off.
func (w *WAL) activate(f vfs.File, direct bool, num uint64, off, size int64, head []byte) {
	w.f, w.num, w.off, w.syncedOff = f, num, off, off
	w.activeDirect, w.activeSize, w.physEnd = direct, size, 0
	w.directActive.Store(direct)
	if !direct {
		w.buf = w.buf[:0]
		return
	}
	pre := int(off - alignDown(off))
	if len(w.blk) < directBufMin {
		w.blk = vfs.AlignedBuffer(directBufMin)
	}
	copy(w.blk[:pre], head[len(head)-pre:])
	w.pre = pre
	w.buf = w.blk[pre:pre]
}

// growDirect makes room in the aligned buffer for n more frame bytes and
// the padding after them, so that appending them to buf stays in blk.
func (w *WAL) growDirect(n int64) {
	used := w.pre + len(w.buf)
	need := int(alignUp(int64(used) + n))
	if need <= len(w.blk) {
		return
	}
	nb := vfs.AlignedBuffer(max(need, 2*len(w.blk)))
	copy(nb, w.blk[:used])
	w.blk = nb
	w.buf = nb[w.pre:used]
}

// writeDirect writes the buffered frames of a direct active file: the
// last partial block's kept bytes, the frames and zeros up to the next
// 4 KiB boundary, in one write at the block boundary. It returns the
// frame bytes written. A write the file system refuses as invalid (it
// took the O_DIRECT open but not the write) switches the file to a
// buffered handle and writes the frames through it.
func (w *WAL) writeDirect() (int, error) {
	start := w.off - int64(w.pre)
	end := w.pre + len(w.buf)
	blk := w.blk[:alignUp(int64(end))]
	clear(blk[end:])
	n, err := w.f.WriteAt(blk, start)
	if err != nil && n <= 0 && errors.Is(err, syscall.EINVAL) {
		if ferr := w.fallBackBuffered(err); ferr != nil {
			return 0, errors.Join(err, ferr)
		}
		return w.f.WriteAt(w.buf, w.off)
	}
	w.physEnd = max(w.physEnd, start+int64(max(n, 0)))
	if err != nil {
		return min(max(n-w.pre, 0), len(w.buf)), err
	}
	return len(w.buf), nil
}

// keepHead keeps, after a direct write that advanced off, the bytes of the
// new last partial block at the start of blk.
func (w *WAL) keepHead(nb int) {
	end := w.pre + nb
	pre := int(w.off - alignDown(w.off))
	copy(w.blk[:pre], w.blk[end-pre:end])
	w.pre = pre
	w.buf = w.blk[pre:pre]
}

// fallBackBuffered replaces the direct handle of the active file by a
// buffered one after the file system refused a direct write (cause), and
// turns direct writes off.
func (w *WAL) fallBackBuffered(cause error) error {
	f, err := w.fs.OpenRW(filepath.Join(w.dir, fileName(w.num)))
	if err != nil {
		return err
	}
	if cerr := w.f.Close(); cerr != nil {
		w.log.Warn("wal: close", "file", fileName(w.num), "err", cerr)
	}
	w.f, w.activeDirect = f, false
	w.directActive.Store(false)
	w.noDirect("direct write refused: " + cause.Error())
	return nil
}

// maybePrecreate starts creating the next file once the active one is half
// full, so that the zero-fill neither competes with the commits right after
// Open or a rotation nor is late for the next rotation.
//
// An active file that was not zero-filled (the first file of a log grows by
// appends, and each fdatasync must then also persist its new size) is
// replaced by a filled one early: once it holds unfilledSwitch bytes, the
// next file is pre-created, and the committer rotates to it as soon as it
// is ready. Tiny logs (tests, idle ledgers) never pay for a zero-fill.
//
// With Options.FillFiles and large writes, the next file is pre-created as
// soon as a filled file is active: filling 64 MiB (and its fdatasync) takes
// longer than the writes of half a file then, and a rotation that finds
// the next file unfinished waits for it.
func (w *WAL) maybePrecreate() {
	if w.spareInFlight || w.spare != nil {
		return
	}
	if w.off >= w.fileSize/2 || (!w.activeFilled && w.fillSpare() && w.off >= min(w.fileSize/2, unfilledSwitch)) ||
		(w.fillFiles && w.activeFilled && w.avgFlush >= fillMaxFlush) {
		w.startPrecreate(w.num + 1)
	}
}

// fillMaxFlush is the average write size up to which the next WAL file is
// zero-filled in advance.
const fillMaxFlush = 128 << 10

// fillSpare reports whether the next file should be zero-filled. Filling
// pays when commits are small: an fdatasync after overwriting pre-written
// blocks changes no file size or extent, so it costs about 40% less than
// one after an append. With large commits that saving is small next to the
// data, while writing the zeros doubles the bytes written and, on a file
// system that orders data before metadata (ext4), can make the active
// file's fdatasync wait for the fill.
func (w *WAL) fillSpare() bool { return w.fillFiles || w.avgFlush < fillMaxFlush }

// unfilledSwitch is how much an unfilled active file holds before a filled
// successor is prepared.
const unfilledSwitch = 1 << 20

// spareReady reports, without waiting, whether the pre-created file is
// ready, and keeps it for rotate.
func (w *WAL) spareReady() bool {
	if w.spare != nil {
		return true
	}
	if !w.spareInFlight {
		return false
	}
	select {
	case res := <-w.spareCh:
		w.spareInFlight = false
		w.spare = &res
		return true
	default:
		return false
	}
}

func (w *WAL) startPrecreate(num uint64) {
	w.spareInFlight = true
	fill := w.fillSpare()
	lazy := fill && w.lazyFill()
	old, recycle := w.takeFree()
	if w.syncPre {
		w.spareCh <- w.precreate(num, old, recycle, fill, lazy)
		return
	}
	go func() { w.spareCh <- w.precreate(num, old, recycle, fill, lazy) }()
}

// takeFree takes the oldest file kept for reuse, if any.
func (w *WAL) takeFree() (uint64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.free) == 0 {
		return 0, false
	}
	old := w.free[0]
	w.free = w.free[1:]
	return old, true
}

// lazyFill reports whether the zeros of the next file are left unsynced
// (createFile): with FillFiles, under SyncNever, while writes are large.
// No commit waits for an fdatasync then, and the frames overwrite the
// zeros in the page cache before they are written back, so the fill never
// reaches the disk on its own; the fdatasync of the file at rotation (or
// Sync, or Close) makes whatever is left of it durable with the frames. A
// crash before that leaves zeros, holes or a shorter file past the synced
// header: the end of the log, as in a file that was not filled.
func (w *WAL) lazyFill() bool {
	return w.fillFiles && w.policy.mode == syncNever && w.avgFlush >= fillMaxFlush
}

func (w *WAL) precreate(num, old uint64, recycle, fill, lazy bool) spareResult {
	if recycle {
		f, direct, err := w.makeFile(num, old, true, false, false)
		if err == nil {
			w.nfiles.Add(1)
			w.recycled.Add(1)
			return spareResult{num: num, f: f, recycled: true, direct: direct}
		}
		w.log.Warn("wal: recycling a checkpointed file failed; creating one", "file", fileName(num), "from", freeName(old), "err", err)
	}
	f, direct, err := w.createFile(num, fill, lazy)
	if err == nil {
		w.nfiles.Add(1)
	}
	return spareResult{num: num, f: f, filled: fill, direct: direct, err: err}
}

// takeSpare waits for the pre-created file, if one is being made.
func (w *WAL) takeSpare() spareResult {
	if w.spare != nil {
		res := *w.spare
		w.spare = nil
		return res
	}
	if !w.spareInFlight {
		return spareResult{}
	}
	w.spareInFlight = false
	return <-w.spareCh
}

// Commit appends records as one batch and returns its first sequence
// number once the batch is durable per the sync policy. Concurrent commits
// are merged into one write and one fdatasync, one frame per batch. If ctx
// is done before the committer takes the batch, Commit returns ctx.Err()
// and nothing is written; once taken, Commit waits for the outcome. A
// batch with no records (or emptied by Prepare) consumes no sequence
// numbers. Records are copied; the caller may reuse them after return.
func (w *WAL) Commit(ctx context.Context, records [][]byte, aux any) (firstSeq uint64, err error) {
	if w.readOnly {
		return 0, w.readOnlyErr()
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if n := payloadSize(records); n > w.maxBatch {
		return 0, fmt.Errorf("%w: %d bytes > %d", ErrBatchTooLarge, n, w.maxBatch)
	}
	if p := w.poison.Load(); p != nil {
		return 0, *p
	}
	r := getReq(kindCommit)
	r.batch.Records, r.batch.Aux = records, aux
	if !w.enqueue(r) {
		putReq(r)
		return 0, ErrClosed
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(statePending, stateCancelled) {
			return 0, ctx.Err() // the committer recycles r
		}
		<-r.done
	}
	firstSeq, err = r.batch.FirstSeq, r.err
	putReq(r)
	if err != nil {
		return 0, err
	}
	return firstSeq, nil
}

func (w *WAL) enqueue(r *request) bool {
	w.qmu.Lock()
	if w.closed {
		w.qmu.Unlock()
		return false
	}
	w.queue = append(w.queue, r)
	w.qmu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true
}

// Sync makes every acknowledged commit durable now (useful with
// SyncInterval and SyncNever).
func (w *WAL) Sync() error {
	if w.readOnly {
		return w.readOnlyErr()
	}
	r := getReq(kindSync)
	if !w.enqueue(r) {
		putReq(r)
		return ErrClosed
	}
	<-r.done
	err := r.err
	putReq(r)
	return err
}

// Close waits for queued commits, syncs, and closes the files. It is
// idempotent (later calls return nil); every other method then returns
// ErrClosed. If the WAL is poisoned, Close returns the poison error. A
// read-only WAL holds no open file after Open, so Close only marks it
// closed.
func (w *WAL) Close() error {
	w.qmu.Lock()
	if w.closed {
		w.qmu.Unlock()
		return nil
	}
	if w.readOnly {
		w.closed = true
		w.qmu.Unlock()
		return nil
	}
	r := getReq(kindClose)
	w.queue = append(w.queue, r)
	w.closed = true
	w.qmu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-r.done
	<-w.exited
	err := r.err
	putReq(r)
	return err
}

// readOnlyErr is what a writing method of a read-only WAL returns.
func (w *WAL) readOnlyErr() error {
	w.qmu.Lock()
	defer w.qmu.Unlock()
	if w.closed {
		return ErrClosed
	}
	return ErrReadOnly
}

// NextSeq returns the sequence number the next record will get.
func (w *WAL) NextSeq() uint64 { return w.nextSeq.Load() }

// Stats returns cumulative counters.
func (w *WAL) Stats() Stats {
	st := Stats{
		Commits:      w.commits.Load(),
		Batches:      w.batches.Load(),
		Records:      w.records.Load(),
		Syncs:        w.syncs.Load(),
		BytesWritten: w.bytesWritten.Load(),
		Files:        int(w.nfiles.Load()),
		Recycled:     w.recycled.Load(),
		GroupCommits: w.groupHist.Snapshot(),
		SyncLatency:  w.syncHist.Snapshot(),
		Poisoned:     w.poison.Load() != nil,
		TornBytes:    w.tornBytes,
		DirectWrites: w.directActive.Load(),
	}
	if why := w.directWhy.Load(); why != nil {
		st.DirectFallback = *why
	}
	return st
}

// Checkpoint declares every sequence number <= seq durable elsewhere: it
// removes, oldest first, the whole files whose records are all <= seq
// (never the active file), then syncs the directory. With
// Options.RecycleFiles, up to that many of them are renamed to
// "<name>.wal.free" instead, for reuse as the next files.
func (w *WAL) Checkpoint(seq uint64) error {
	if w.readOnly {
		return w.readOnlyErr()
	}
	w.qmu.Lock()
	closed := w.closed
	w.qmu.Unlock()
	if closed {
		return ErrClosed
	}
	w.ckptMu.Lock()
	defer w.ckptMu.Unlock()
	return w.removeCovered(seq)
}

func (w *WAL) removeCovered(seq uint64) error {
	w.mu.Lock()
	var victims []fileRange
	for _, fr := range w.files[:len(w.files)-1] { // never the active file
		if fr.last > seq {
			break
		}
		victims = append(victims, fr)
	}
	w.mu.Unlock()
	if len(victims) == 0 {
		return nil
	}
	// Files are removed oldest first with a directory fsync after each
	// removal, so after any crash the removed files form a prefix: a
	// crash can never leave a hole in the file numbers (which Open
	// reports as corruption).
	// A file kept for reuse is renamed, with the same ordering: a crash
	// leaves it under its old name (a covered file, as an undone removal
	// would) or under the free name. The newest victims are kept: their
	// pages are the likeliest to be in the page cache still.
	w.mu.Lock()
	keepFrom := len(victims) - max(w.recycle-len(w.free), 0) // only this goroutine adds to free
	w.mu.Unlock()
	var err error
	removed := 0
	for i, fr := range victims {
		path := filepath.Join(w.dir, fileName(fr.num))
		keep := i >= keepFrom
		if keep {
			if err = w.fs.Rename(path, filepath.Join(w.dir, freeName(fr.num))); err != nil {
				err = fmt.Errorf("wal: checkpoint: rename file %d for reuse: %w", fr.num, err)
				break
			}
		} else if err = w.fs.Remove(path); err != nil {
			err = fmt.Errorf("wal: checkpoint: remove file %d: %w", fr.num, err)
			break
		}
		removed++
		w.nfiles.Add(-1)
		if err = w.fs.SyncDir(w.dir); err != nil {
			err = fmt.Errorf("wal: checkpoint: sync %s: %w", w.dir, err)
			break
		}
		if keep {
			w.mu.Lock()
			w.free = append(w.free, fr.num)
			w.mu.Unlock()
		}
	}
	w.mu.Lock()
	w.files = w.files[removed:]
	w.mu.Unlock()
	return err
}

// run is the committer goroutine.
func (w *WAL) run() {
	defer close(w.exited)
	var timerC <-chan time.Time
	if w.timer != nil {
		timerC = w.timer.C
	}
	for {
		select {
		case <-w.wake:
		case <-timerC:
			w.timerArmed = false
			w.syncIfDirty()
		}
		w.qmu.Lock()
		reqs := w.queue
		w.queue = w.spareQ
		w.qmu.Unlock()
		exit := w.process(reqs)
		clear(reqs)
		w.spareQ = reqs[:0]
		if exit {
			return
		}
		if w.policy.mode == syncInterval && w.off > w.syncedOff && !w.timerArmed && w.poisonErr() == nil {
			w.timer.Reset(max(w.policy.interval-time.Since(w.lastSync), time.Millisecond))
			w.timerArmed = true
		}
	}
}

func (w *WAL) poisonErr() error {
	if p := w.poison.Load(); p != nil {
		return *p
	}
	return nil
}

// setPoison records the first I/O failure; later ones are only logged.
func (w *WAL) setPoison(err error) error {
	perr := fmt.Errorf("%w: %w", ErrPoisoned, err)
	if w.poison.CompareAndSwap(nil, &perr) {
		w.log.Error("wal: poisoned", "err", err)
		return perr
	}
	return w.poisonErr()
}

// process handles one drained queue; it returns true after a close.
func (w *WAL) process(reqs []*request) bool {
	group := w.group[:0]
	for i, r := range reqs {
		switch r.kind {
		case kindCommit:
			if !r.state.CompareAndSwap(statePending, stateTaken) {
				putReq(r) // cancelled; the caller has gone
				continue
			}
			if err := w.poisonErr(); err != nil {
				w.answer(r, err)
				continue
			}
			w.prepareAndEncode(r)
			if r.failed {
				w.answer(r, r.err)
				continue
			}
			group = append(group, r)
		case kindSync:
			w.finishGroup(group)
			group = group[:0]
			err := w.poisonErr()
			if err == nil {
				err = w.syncActive()
			}
			w.answer(r, err)
		case kindClose:
			w.finishGroup(group)
			group = group[:0]
			err := w.closeFiles()
			for _, rest := range reqs[i+1:] { // cannot happen: closed is set under qmu
				w.answer(rest, ErrClosed)
			}
			w.answer(r, err)
			w.group = group
			return true
		}
	}
	w.finishGroup(group)
	w.group = group[:0]
	return false
}

func (w *WAL) answer(r *request, err error) {
	r.err = err
	r.done <- struct{}{}
}

// prepareAndEncode assigns sequence numbers, calls Prepare and appends the
// batch's frame to the write buffer, rotating first if the file is full.
func (w *WAL) prepareAndEncode(r *request) {
	b := &r.batch
	next := w.nextSeq.Load()
	b.FirstSeq = next
	if w.prepare != nil {
		if err := w.prepare(b); err != nil {
			r.failed, r.err = true, err
			return
		}
	}
	if len(b.Records) == 0 {
		return
	}
	payload := payloadSize(b.Records)
	if payload > w.maxBatch {
		r.failed, r.err = true, fmt.Errorf("%w: %d bytes after Prepare > %d", ErrBatchTooLarge, payload, w.maxBatch)
		return
	}
	size := frameSize(payload)
	end := w.off + int64(len(w.buf))
	early := !w.activeFilled && end > fileHeaderSize && w.spareReady() && w.spare.err == nil && w.spare.filled && w.spare.num == w.num+1
	if early || (end > fileHeaderSize && end+size > w.fileSize) {
		if err := w.rotate(); err != nil {
			w.setPoison(err)
			return // the group fails with the poison error
		}
	}
	if w.activeDirect {
		w.growDirect(size)
	}
	w.buf = appendFrame(w.buf, w.digest, w.salt, w.num, next, uint64(w.syncedOff), b.Records, payload)
	w.bufFrames++
	last := next + uint64(len(b.Records)) - 1
	if w.activeFirst == 0 {
		w.activeFirst = next
	}
	w.activeLast = last
	w.nextSeq.Store(last + 1)
	w.records.Add(uint64(len(b.Records)))
}

// flush writes the buffered frames to the active file.
func (w *WAL) flush() error {
	nb := len(w.buf)
	if nb == 0 {
		return nil
	}
	var (
		n   int
		err error
	)
	if w.activeDirect {
		n, err = w.writeDirect()
	} else {
		n, err = w.f.WriteAt(w.buf, w.off)
	}
	w.bytesWritten.Add(uint64(max(n, 0)))
	w.avgFlush += (int64(nb) - w.avgFlush) / 4
	if err != nil {
		return fmt.Errorf("wal: write %s at %d: %w", fileName(w.num), w.off, err)
	}
	w.off += int64(nb)
	w.maybePrecreate()
	w.batches.Add(uint64(w.bufFrames))
	w.bufFrames = 0
	if !w.activeDirect {
		w.buf = w.buf[:0]
		if cap(w.buf) > 4*int(w.maxBatch) && cap(w.buf) > 1<<20 {
			w.buf = nil // do not pin a huge buffer after an outsized group
		}
		return nil
	}
	w.keepHead(nb)
	if len(w.blk) > 4*int(w.maxBatch) && len(w.blk) > 1<<20 {
		small := vfs.AlignedBuffer(directBufMin)
		copy(small, w.blk[:w.pre])
		w.blk, w.buf = small, small[w.pre:w.pre]
	}
	return nil
}

// syncActive fdatasyncs the active file if it has unsynced bytes. A
// failure poisons the WAL; it is never retried.
func (w *WAL) syncActive() error {
	if w.off == w.syncedOff {
		return nil
	}
	w.syncs.Add(1)
	start := time.Now()
	if err := w.f.Sync(); err != nil {
		return w.setPoison(fmt.Errorf("wal: sync %s: %w", fileName(w.num), err))
	}
	w.syncedOff = w.off
	w.lastSync = time.Now()
	w.syncHist.Observe(int64(w.lastSync.Sub(start)))
	return nil
}

// stageGroup calls Stage for every batch of the group.
func (w *WAL) stageGroup(group []*request) {
	if w.stage == nil {
		return
	}
	for _, r := range group {
		w.stage(&r.batch)
	}
}

// syncStaging is syncActive with the group staged on another goroutine
// while the committer is in fdatasync (the group is staged whatever the
// outcome, before it is known). The committer makes the system call itself
// so that it starts at once: a blocked goroutine gives up its processor,
// on which the staging then runs.
func (w *WAL) syncStaging(group []*request) error {
	if w.off == w.syncedOff || w.stage == nil {
		w.stageGroup(group)
		return w.syncActive()
	}
	done := w.stageDone
	go func() {
		w.stageGroup(group)
		done <- struct{}{}
	}()
	err := w.syncActive()
	<-done
	return err
}

func (w *WAL) syncIfDirty() {
	if w.poisonErr() == nil {
		w.syncActive()
	}
}

// overlapMin is the size of a group's frames from which finishGroup
// stages the group while the committer writes them: below it the write
// is too short for the hand-off to another goroutine to pay.
const overlapMin = 256 << 10

// writeGroup writes the buffered frames and, under SyncAlways, syncs them;
// a failure poisons the WAL.
func (w *WAL) writeGroup() error {
	if err := w.flush(); err != nil {
		return w.setPoison(err)
	}
	if w.policy.mode == syncAlways {
		return w.syncActive()
	}
	return nil
}

// finishGroup writes and (per policy) syncs the buffered frames, then runs
// Apply and acknowledges every batch of the group in order.
func (w *WAL) finishGroup(group []*request) {
	if len(group) == 0 {
		return
	}
	err := w.poisonErr()
	staged := false
	if err == nil && w.stage != nil && len(w.buf) >= overlapMin {
		// Large frames: the group is staged on a helper goroutine while
		// the committer writes (and, under SyncAlways, syncs) them, as
		// syncStaging does for the sync alone; whatever the outcome, it is
		// staged before the outcome is known.
		done := w.stageDone
		go func() {
			w.stageGroup(group)
			done <- struct{}{}
		}()
		err = w.writeGroup()
		<-done
		staged = true
	} else {
		if err == nil {
			if ferr := w.flush(); ferr != nil {
				err = w.setPoison(ferr)
			}
		}
		if err == nil && w.policy.mode == syncAlways {
			err = w.syncStaging(group)
			staged = true
		}
		if err == nil && !staged {
			w.stageGroup(group)
			staged = true
		}
	}
	if err != nil {
		w.buf = w.buf[:0]
		w.bufFrames = 0
		for _, r := range group {
			if staged && w.unstage != nil {
				w.unstage(&r.batch)
			}
			w.answer(r, err)
		}
		return
	}
	// Count before answering, so a caller whose Commit returned sees
	// itself in Stats.
	w.commits.Add(uint64(len(group)))
	w.groupHist.Observe(int64(len(group)))
	for _, r := range group {
		if w.apply != nil {
			w.apply(&r.batch)
		}
		w.answer(r, nil)
	}
	if w.policy.mode == syncInterval && time.Since(w.lastSync) >= w.policy.interval {
		w.syncIfDirty()
	}
}

// rotate finishes the active file (write, sync, close) and switches to the
// next one, pre-created if possible (else created now, header only).
func (w *WAL) rotate() error {
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.cutStale(); err != nil {
		return err
	}
	if err := w.syncActive(); err != nil {
		return err
	}
	next := w.num + 1
	res := w.takeSpare()
	f := res.f
	if res.err != nil {
		w.log.Warn("wal: pre-creating the next file failed; creating it now", "file", next, "err", res.err)
	}
	if f != nil && res.num != next {
		f.Close()
		f = nil
	}
	filled := f != nil && res.filled
	recycled := f != nil && res.recycled
	direct := f != nil && res.direct
	if f == nil {
		var err error
		if f, direct, err = w.createFile(next, false, false); err != nil {
			return err
		}
		w.nfiles.Add(1)
	}
	if err := w.f.Close(); err != nil {
		w.log.Warn("wal: close", "file", fileName(w.num), "err", err)
	}
	w.mu.Lock()
	w.files[len(w.files)-1].first = w.activeFirst
	w.files[len(w.files)-1].last = w.activeLast
	w.files = append(w.files, fileRange{num: next})
	w.mu.Unlock()
	size := int64(fileHeaderSize) // a recycled file's old size only matters to cutStale, which cuts it at off
	if filled {
		size = max(w.fileSize, fileHeaderSize)
	}
	w.activate(f, direct, next, fileHeaderSize, size, appendFileHeader(nil, w.salt, next))
	w.activeFirst, w.activeLast = 0, 0
	// A recycled file is overwritten, not appended to, like a filled one
	// (up to its old size), so it is not left early for a filled one.
	w.activeFilled = filled || recycled
	w.activeRecycled = recycled
	return nil
}

// cutStale truncates a recycled active file at the end of its frames, and
// syncs it, before it is finished (rotation) or closed: the previous
// life's bytes after the last frame would otherwise be damage followed by
// the next file's frames to recovery (in a crash before the next file
// holds frames, they are a torn tail of the last file, truncated by Open).
// It also cuts the zero padding of direct writes past the size a buffered
// writer would have left (the file's size when it became active, or the
// end of its frames), so that a finished or closed file is the same
// whichever way it was written. That cut is not synced: zeros after the
// last frame are the normal end of a file to every reader, so a crash
// that keeps them loses nothing, and an extra fdatasync per rotation
// would cost more than the bytes.
func (w *WAL) cutStale() error {
	want := max(w.activeSize, w.off)
	if w.activeRecycled {
		want = w.off
	} else if w.physEnd <= want {
		return nil
	}
	w.physEnd = 0
	if !w.activeRecycled {
		if err := w.f.Truncate(want); err != nil {
			return fmt.Errorf("wal: truncate %s at %d: %w", fileName(w.num), want, err)
		}
		return nil
	}
	size, err := w.f.Size()
	if err != nil {
		return fmt.Errorf("wal: size of %s: %w", fileName(w.num), err)
	}
	if size > want {
		if err := w.f.Truncate(want); err != nil {
			return fmt.Errorf("wal: truncate %s at %d: %w", fileName(w.num), want, err)
		}
		w.syncs.Add(1)
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("wal: sync %s: %w", fileName(w.num), err)
		}
		w.syncedOff = w.off
	}
	w.activeRecycled = false
	return nil
}

// unrecycle renames the unused recycled file num back to a free name.
// A failure is only logged: the file is then an empty last file whose
// stale bytes the next Open truncates.
func (w *WAL) unrecycle(num uint64) {
	err := w.fs.Rename(filepath.Join(w.dir, fileName(num)), filepath.Join(w.dir, freeName(num)))
	if err == nil {
		w.nfiles.Add(-1)
		err = w.fs.SyncDir(w.dir)
	}
	if err != nil {
		w.log.Warn("wal: returning the unused recycled file for reuse", "file", fileName(num), "err", err)
	}
}

// closeFiles syncs (unless poisoned) and closes the active file and the
// pre-created one.
func (w *WAL) closeFiles() error {
	err := w.poisonErr()
	if err == nil {
		if err = w.cutStale(); err != nil {
			err = w.setPoison(err)
		}
	}
	if err == nil {
		err = w.syncActive()
	}
	if cerr := w.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("wal: close %s: %w", fileName(w.num), cerr)
	}
	if res := w.takeSpare(); res.f != nil {
		res.f.Close()
		if res.recycled && err == nil {
			// An unused recycled spare holds only the previous life's
			// frames, which Open would truncate as a torn tail: it goes
			// back to the files kept for reuse.
			w.unrecycle(res.num)
		}
	}
	if w.timer != nil {
		w.timer.Stop()
	}
	return err
}
