package ledger

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/exledger/exledger/index"
	"github.com/exledger/exledger/segment"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/wal"
)

// SyncPolicy says when an append is acknowledged relative to fsync.
type SyncPolicy = wal.SyncPolicy

var (
	// SyncAlways acknowledges an append only after its batch is fsynced
	// (the default: survives kill -9 and power loss).
	SyncAlways = wal.SyncAlways
	// SyncNever never fsyncs except at Sync and Close: acknowledged data
	// survives a process crash but not a power loss. For bulk imports and
	// tests.
	SyncNever = wal.SyncNever
)

// SyncInterval acknowledges after the write and fsyncs at most every d: a
// power loss may lose up to d of acknowledged appends.
func SyncInterval(d time.Duration) SyncPolicy { return wal.SyncInterval(d) }

// Order is the order of query results.
type Order int

const (
	// OrderLog returns results in log (append) order. The default.
	OrderLog Order = iota
	// OrderTime returns results by occurred_at (byte-wise), ties in log
	// order: the SQL-backed reference store's order.
	OrderTime
)

// Options configure a Ledger. The zero value (or a nil *Options) gives the
// durable defaults documented on each field.
type Options struct {
	// Sync is the durability policy. Zero value: SyncAlways.
	Sync SyncPolicy
	// SegmentBytes seals the active (in-memory, WAL-backed) part into an
	// immutable segment once it holds this many bytes of canonical events.
	// 0 = 64 MiB. At most maxFrozen full parts wait for the background
	// sealer; beyond that, appends wait for it (backpressure bounds memory).
	SegmentBytes int64
	// SegmentAge seals a non-empty active part after this long. 0 = 10
	// minutes; negative disables age-based sealing.
	SegmentAge time.Duration
	// BlockSize is the target uncompressed size of a segment block.
	// 0 = the segment package default.
	BlockSize int
	// CompressionLevel is the zstd level of sealed segments. 0 = fastest.
	CompressionLevel zstd.EncoderLevel
	// EntropyLiterals Huffman-codes the literal bytes of sealed and
	// compacted blocks. The zero value stores them raw: segments are about
	// 10% larger and full scans faster (see segment.Options). Segments
	// written either way are read alike.
	EntropyLiterals bool
	// SealWorkers is how many goroutines compress the blocks of a segment
	// being sealed or compacted (the file is the same whatever the value).
	// 0 = GOMAXPROCS, at most 4; 1 compresses on the sealer itself.
	SealWorkers int
	// SealLayout is the order of events inside the segments the sealer
	// writes: log order, or clustered by (tenant, kind, occurred_at) so
	// that a query for one tenant and kind reads few blocks. The zero
	// value, SealLayoutDefault, is the measured default: clustered (see
	// SealLayout). Either layout reads alike, and a ledger may hold both;
	// changing it affects only the segments sealed from then on.
	SealLayout SealLayout
	// WALFileSize rotates WAL files at this size. 0 = 64 MiB.
	WALFileSize int64
	// BufferedWAL writes the WAL through the page cache. The zero value
	// writes it with direct I/O (O_DIRECT), which costs less CPU per
	// byte (no copy into freshly allocated page-cache pages) and gives the
	// same files; a file system that refuses O_DIRECT (tmpfs before Linux
	// 6.6) gets buffered writes anyway. See wal.Options.BufferedWrites.
	BufferedWAL bool
	// CacheBytes bounds the shared cache of decompressed blocks. 0 = 64 MiB.
	// The cache resists scans (segment.Cache): a query that reads more
	// blocks than it holds does not flush it, and repeated keeps what
	// fits.
	CacheBytes int64
	// IndexCacheBytes bounds the index data (time and event-id tables;
	// term dictionaries' restart rows and the verified 4 KiB chunks of
	// dictionaries and postings that term lookups read; whole
	// dictionaries and postings of version 1 index files) held in
	// memory for all segments together; what it evicts is read and
	// checksum-verified again when next used. 0 = 128 MiB.
	IndexCacheBytes int64
	// FooterCacheBytes bounds the parsed segment footers (block tables and
	// the seq maps of clustered segments) held in memory for all segments
	// together: Open verifies each footer's checksum but parses it on
	// first use, and one evicted is read, verified and parsed again when
	// next used. A clustered segment's seq map (2 B per event) is held
	// only in the room the footers leave; without room each use reads it
	// again and checks its checksum. 0 = 256 MiB.
	FooterCacheBytes int64
	// MaxEventBytes is the largest canonical event accepted. 0 = 4 MiB.
	MaxEventBytes int
	// MaxBatchBytes is the largest batch (sum of canonical events)
	// accepted by one AppendEvents call. 0 = 64 MiB.
	MaxBatchBytes int
	// AllowDuplicates keeps every appended event even when its event_id
	// already exists (the reference store's behaviour). By default a
	// byte-identical re-append is an idempotent no-op and the same id
	// with other content is rejected.
	AllowDuplicates bool
	// Order is the result order of QueryEvents. Zero value: OrderLog.
	Order Order
	// Logger receives recovery and background-work messages. nil
	// discards them.
	Logger *slog.Logger
	// FS is the file system every file access goes through. nil = vfs.OS,
	// the operating system's. Tests pass a vfs.MemFS (simulated power
	// loss) or a vfs.FaultFS (injected I/O errors) here; see package vfs
	// and ExampleOpen_crashTesting.
	FS vfs.FS
	// KeepTailOnClose makes Close leave the unsealed tail in the WAL
	// instead of sealing it: a faster Close, and a next Open that replays
	// the tail. By default Close seals it, so a clean reopen reads segment
	// footers only.
	KeepTailOnClose bool
	// ReadOnly opens an existing ledger without taking its lock and
	// without writing a single byte: a torn WAL tail is ignored in memory,
	// a missing or damaged index is rebuilt in memory only, nothing is
	// sealed. Every write method returns ErrReadOnly. A read-only Ledger
	// may run beside a writer in another process (an Open that races with
	// the writer's seal starts again from the new manifest, up to 8
	// times); Refresh is not needed for a snapshot, reopen to see newer
	// data.
	ReadOnly bool
	// Tracer, if set, receives a span for every append, query, seal and
	// compaction (see Tracer; ledger/ledgerotel adapts OpenTelemetry).
	// nil: no tracing, at no cost.
	Tracer Tracer
	// EmbeddingDim is the dimension of the vectors AppendVectorEvents
	// stores and SearchSimilar compares (vector.go). It is recorded in the
	// manifest the first time it is set and fixed for the ledger's life:
	// reopening with another non-zero value fails. 0 = take it from the
	// manifest; a ledger that has none refuses the vector calls.
	EmbeddingDim int
	// VectorIndex tunes the approximate vector index of sealed segments
	// (see VectorIndexOptions). The zero value is the measured default.
	VectorIndex VectorIndexOptions

	// NoMerkleTree turns the Merkle tree off: no TREE file is kept and
	// Checkpoint, TreeHead and the proofs return ErrNoTree. By default the
	// tree is maintained by the sealer, off the append path (see
	// docs/proofs.md); an existing TREE file is left as it is.
	NoMerkleTree bool

	// skipBackupMarker lets Backup open its own copy to verify it before
	// removing the BACKUP-INCOMPLETE marker.
	skipBackupMarker bool
}

// ErrReadOnly is returned by the write methods of a read-only Ledger.
var ErrReadOnly = errors.New("ledger: opened read-only")

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.SegmentBytes <= 0 {
		r.SegmentBytes = 64 << 20
	}
	if r.SegmentAge == 0 {
		r.SegmentAge = 10 * time.Minute
	}
	if r.WALFileSize <= 0 {
		r.WALFileSize = 64 << 20
	}
	if r.CacheBytes <= 0 {
		r.CacheBytes = 64 << 20
	}
	if r.IndexCacheBytes <= 0 {
		r.IndexCacheBytes = 128 << 20
	}
	if r.FooterCacheBytes <= 0 {
		r.FooterCacheBytes = 256 << 20
	}
	if r.MaxEventBytes <= 0 {
		r.MaxEventBytes = 4 << 20
	}
	if r.MaxBatchBytes <= 0 {
		r.MaxBatchBytes = 64 << 20
	}
	if r.SealWorkers <= 0 {
		r.SealWorkers = min(runtime.GOMAXPROCS(0), 4)
	}
	r.SealLayout = r.SealLayout.Resolved()
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.FS == nil {
		r.FS = vfs.OS
	}
	return r
}

// Metrics is a snapshot of a Ledger's counters.
type Metrics struct {
	Appends      uint64 // AppendEvent/AppendEvents calls that succeeded
	Events       uint64 // events committed
	Batches      uint64 // WAL frames written
	Fsyncs       uint64 // WAL fsyncs
	BytesWritten uint64 // WAL bytes written
	WALRecycled  uint64 // WAL files made from checkpointed ones (written over their cached pages) instead of created
	// WALDirect is set while the WAL is written with direct I/O (the
	// default; Options.BufferedWAL turns it off). WALDirectFallback says
	// why direct writes were given up, if they were (the file system
	// refused O_DIRECT): the WAL then writes through the page cache.
	WALDirect         bool
	WALDirectFallback string
	Segments          int           // sealed segments
	SealedEvents      uint64        // events in sealed segments
	Seals             uint64        // segments sealed by this process
	SealStalls        uint64        // appends that waited for the sealer (memory bound)
	CacheHits         uint64        // decompressed-block cache hits
	CacheMisses       uint64        // decompressed-block cache misses
	LastSeq           uint64        // highest committed sequence number (0 = empty)
	LastRecovery      time.Duration // time spent in the last Open
	RecoveredWAL      uint64        // events replayed from the WAL by the last Open
	BackgroundErr     string        // last background (sealing) error, if any

	// Operational figures (ops.go; exported to Prometheus by
	// ledger/ledgerprom). Durations are in seconds.
	AppendLatency         Histogram            // successful AppendEvents calls, seconds
	AppendBatch           Histogram            // events per successful AppendEvents call
	AppendErrors          uint64               // AppendEvents calls that failed
	GroupCommits          Histogram            // appends merged into one WAL write and fdatasync
	FsyncLatency          Histogram            // WAL fdatasync, seconds
	SealDuration          Histogram            // sealing one segment, seconds
	Compactions           uint64               // successful Compact calls
	CompactDuration       Histogram            // successful Compact calls, seconds
	QueryLatency          map[string]Histogram // queries by plan (QueryPlans), seconds
	SegmentsSkipped       uint64               // segments queries excluded by their summary
	SegmentsRead          uint64               // segments whose index queries evaluated
	MemEvents             uint64               // committed events not yet sealed
	DiskBytes             DiskBytes            // on-disk bytes by kind of file
	Poisoned              bool                 // a WAL write or fdatasync failed: appends fail until reopen
	RecoveryTornBytes     uint64               // torn WAL tail truncated by the last Open
	RecoveryIndexRebuilds uint64               // missing or damaged indexes rebuilt by the last Open
}

// Ledger is the durable, append-only event ledger. It implements
// ExperienceStore and is safe for concurrent use.
type Ledger struct {
	dir  string
	fs   vfs.FS
	opts Options
	log  *slog.Logger

	lock  io.Closer
	wal   *wal.WAL
	cache *segment.Cache
	// ixCache bounds the index sections loaded on demand (IndexCacheBytes).
	ixCache *index.Cache
	// footers bounds the parsed segment footers (FooterCacheBytes).
	footers *segment.FooterCache

	closed atomic.Bool

	// mu guards the view: segs, frozen, active, and memtable growth.
	mu sync.RWMutex
	// live is the current set of sealed segments (copy-on-write; ordered
	// by FirstSeq). A read that uses segment files holds it from
	// acquireSegs to releaseSegs (segrefs.go).
	live *segSet
	// retired holds the segments replaced or dropped by Compact that are
	// still open: a read that took its set before the switch may still
	// use their readers and indexes. Each is closed (and leaves the map)
	// when the last set holding it is released, or at Close. Guarded by
	// retMu.
	retMu   sync.Mutex
	retired map[*sealedSeg]struct{}
	frozen  []*memtable // full memtables waiting to be sealed, oldest first
	active  *memtable
	notify  chan struct{} // closed and replaced at each commit (Follow)
	// sealDone is closed and replaced each time a memtable is sealed
	// (appends waiting for memory wait on it).
	sealDone chan struct{}

	// manMu serialises manifest changes (sealing, compaction).
	manMu sync.Mutex
	man   atomic.Pointer[ledgerManifest] // replaced whole, never mutated
	// manErr is set when a manifest write failed: the file on disk may or
	// may not be the new one, so no further manifest change is made until
	// the ledger is reopened (Open reads whichever is there).
	manErr error
	// sealBG is set (under manMu) while the background sealer seals;
	// see sealPace.
	sealBG bool

	// tree is the Merkle tree over the events in log order (tree.go).
	tree *merkle

	// ids filters the event ids of sealed segments (duplicate checks),
	// built from the first append on (startIDFilter).
	ids idFilter
	// bgMu orders starting background work after Open (startIDFilter)
	// before Close's wait for it: closed is set under it.
	bgMu sync.Mutex

	// pending holds event ids prepared by the WAL committer but not yet
	// applied; only the committer goroutine touches it.
	pending map[EventID][]byte
	// unstaged is signalled (on mu) when the active memtable's staged
	// count drops to zero; freezeActive waits for it.
	unstaged *sync.Cond
	// dupMts and dupAdded are the committer's scratch for prepare.
	dupMts   []*memtable
	dupAdded []EventID

	// pins keeps compacted-away segment files while a backup runs.
	pins segPins

	sealKick chan struct{}
	vix      vecIndexer // background vector indexer (vector_indexer.go)
	stop     chan struct{}
	bgWG     sync.WaitGroup
	bgErr    atomic.Value // string

	appends, events, seals atomic.Uint64
	stalls                 atomic.Uint64 // appends that waited for the sealer
	avgEvent               atomic.Int64  // recent average canonical event size, for buffer sizing
	recovery               time.Duration
	recoveredWAL           uint64
	ops                    opsMetrics // ops.go
	tracer                 Tracer
	closeOnce              sync.Once
	closeErr               error
}

type sealedSeg struct {
	name string
	r    *segment.Reader
	ix   *index.Index
	info segment.Info
	// vec is the segment's vector file (nil when it has no vectors),
	// loaded on first use.
	vec *segVectors
	// sets counts the segment sets (segSet) holding it that are not
	// freed: at zero it is closed (segrefs.go).
	sets atomic.Int32
	// closed is set by the first close.
	closed atomic.Bool
}

// close releases the segment's open files: its reader's and its index's
// (an index opened from a file keeps it for the sections it loads on
// demand). The vector file is opened per read and holds none. Only the
// first call does anything.
func (s *sealedSeg) close() {
	if s.closed.Swap(true) {
		return
	}
	s.r.Close()
	if s.ix != nil {
		s.ix.Close()
	}
}

var _ ExperienceStore = (*Ledger)(nil)

// Open opens (creating if needed) the ledger in dir. A nil opts means the
// durable defaults. A second Open of the same directory, from this process
// or another, fails with an error wrapping vfs.ErrLocked (ErrLocked).
func Open(dir string, opts *Options) (*Ledger, error) {
	start := time.Now()
	o := opts.withDefaults()
	var l *Ledger
	for attempt := 1; ; attempt++ {
		// A read-only Open beside a writer reads the manifest, then the
		// segments and the WAL: a seal and a checkpoint in between can
		// remove WAL files the manifest it read still needs. When the
		// manifest has changed meanwhile, the open starts again from the
		// new one; a ledger whose manifest stays put fails at once.
		var before []byte
		if o.ReadOnly {
			before, _ = readAll(o.FS, filepath.Join(dir, manifestName))
		}
		l = newLedger(dir, o)
		err := l.open()
		if err == nil {
			break
		}
		l.release()
		if !o.ReadOnly || attempt == readOnlyOpenAttempts {
			return nil, err
		}
		after, aerr := readAll(o.FS, filepath.Join(dir, manifestName))
		if aerr != nil || before == nil || bytes.Equal(before, after) {
			return nil, err
		}
		l.log.Debug("read-only open raced with a writer's seal; opening again", "attempt", attempt, "err", err)
	}
	l.recovery = time.Since(start)
	nsegs := len(l.live.segs)
	if !o.ReadOnly {
		// Read the view before the sealer starts changing it.
		if len(l.frozen) > 0 {
			l.kickSeal()
		}
		l.bgWG.Add(1)
		go l.sealLoop()
		l.startVecIndexer()
	}
	l.log.Info("ledger opened", "dir", dir, "segments", nsegs, "last_seq", l.LastSeq(),
		"wal_events", l.recoveredWAL, "took", l.recovery)
	return l, nil
}

// readOnlyOpenAttempts bounds the attempts of a read-only Open whose
// manifest changes under it (a writer sealing meanwhile).
const readOnlyOpenAttempts = 8

// newLedger makes the in-memory state of a Ledger before its open.
func newLedger(dir string, o Options) *Ledger {
	l := &Ledger{
		dir:      dir,
		fs:       o.FS,
		opts:     o,
		log:      o.Logger,
		cache:    segment.NewCache(o.CacheBytes),
		ixCache:  index.NewCache(o.IndexCacheBytes),
		footers:  segment.NewFooterCache(o.FooterCacheBytes),
		notify:   make(chan struct{}),
		sealDone: make(chan struct{}),
		pending:  make(map[EventID][]byte),
		sealKick: make(chan struct{}, 1),
		stop:     make(chan struct{}),
		tracer:   o.Tracer,
	}
	l.ops.init()
	l.unstaged = sync.NewCond(&l.mu)
	return l
}

// ErrLocked is returned (wrapped) by Open when another Ledger holds the
// directory.
var ErrLocked = vfs.ErrLocked

func (l *Ledger) open() error {
	fsys := l.fs
	ro := l.opts.ReadOnly
	if !l.opts.skipBackupMarker {
		if err := checkBackupMarker(fsys, l.dir); err != nil {
			return err
		}
	}
	if !ro {
		if err := mkdirDurable(fsys, l.dir); err != nil {
			return Storage(fmt.Sprintf("create %s", l.dir), err)
		}
		lk, err := fsys.Lock(filepath.Join(l.dir, lockName))
		if err != nil {
			if errors.Is(err, vfs.ErrLocked) {
				return fmt.Errorf("open %s: ledger is in use by another process or handle: %w", l.dir, err)
			}
			return Storage("lock", err)
		}
		l.lock = lk
	}

	m, err := readManifestFile(fsys, l.dir)
	switch {
	case err == nil:
	case isNotExist(err) && ro:
		return fmt.Errorf("open %s: no %s: %w", l.dir, manifestName, ErrNotLedger)
	case isNotExist(err):
		names, lerr := fsys.List(l.dir)
		if lerr != nil {
			return Storage("list "+l.dir, lerr)
		}
		for _, n := range names {
			if n != lockName && n != manifestName+".tmp" {
				return fmt.Errorf("open %s: found %q but no %s: %w", l.dir, n, manifestName, ErrNotLedger)
			}
		}
		m, err = l.initManifest()
		if err != nil {
			return err
		}
	default:
		return err
	}
	if m, err = l.setEmbeddingDim(m); err != nil {
		return err
	}
	l.man.Store(m)
	if !ro {
		for _, d := range []string{walDirName, segDirName} {
			if err := fsys.MkdirAll(filepath.Join(l.dir, d)); err != nil {
				return Storage("mkdir", err)
			}
		}
		if err := fsys.SyncDir(l.dir); err != nil {
			return Storage("sync "+l.dir, err)
		}
	}
	if err := l.loadSegments(); err != nil {
		return err
	}
	if !ro {
		l.cleanOrphans()
	}

	// WAL files a repair sealed but did not get to remove.
	walFS, err := l.dropObsoleteWAL(m)
	if err != nil {
		return err
	}
	m = l.man.Load()

	// After the last segment, the retention record or a recorded gap.
	next, _ := m.tail()
	l.active = newMemtable(next)
	w, err := wal.Open(wal.Options{
		FS:             walFS,
		Dir:            filepath.Join(l.dir, walDirName),
		Salt:           m.Salt,
		FileSize:       l.opts.WALFileSize,
		MaxBatchBytes:  walMaxBatch(&l.opts),
		Sync:           l.opts.Sync,
		RecycleFiles:   walRecycleFiles,
		BufferedWrites: l.opts.BufferedWAL,
		ReadOnly:       l.opts.ReadOnly,
		Logger:         l.log,
		Prepare:        l.prepare,
		Stage:          l.stage,
		Apply:          l.apply,
		Unstage:        l.unstage,
	}, next, l.replay)
	if err != nil {
		return fmt.Errorf("open %s: wal: %w", l.dir, err)
	}
	l.wal = w
	if !l.opts.NoMerkleTree {
		l.openTree()
	}
	return nil
}

// mkdirDurable creates dir and any missing parents, then fsyncs the parent
// of every directory it created (deepest first), so a new ledger cannot
// vanish with a parent's unsynced directory entries after a power loss.
func mkdirDurable(fsys vfs.FS, dir string) error {
	dir = filepath.Clean(dir)
	var created []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := fsys.Stat(d); err == nil {
			break
		} else if !isNotExist(err) {
			return err
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := fsys.MkdirAll(dir); err != nil {
		return err
	}
	for _, d := range created {
		if err := fsys.SyncDir(filepath.Dir(d)); err != nil {
			return fmt.Errorf("sync the parent of %s: %w", d, err)
		}
	}
	return nil
}

// walMaxBatch is the WAL frame bound for a ledger's options: the largest
// batch plus room for the record framing.
func walMaxBatch(o *Options) int { return o.MaxBatchBytes + 1<<20 }

// walRecycleFiles is how many checkpointed WAL files the ledger keeps for
// reuse (wal.Options.RecycleFiles): a frame written over a recycled file's
// cached pages makes the kernel allocate none (docs/benchmarks.md §15,
// sixth round; with the default direct WAL writes no page is involved, and
// the frame still goes to allocated blocks, so its fdatasync changes no
// size or extent). Its cost is up to that many WAL files of disk space
// (64 MiB each by default), removed by a clean Close.
const walRecycleFiles = 2

func (l *Ledger) initManifest() (*ledgerManifest, error) {
	var salt [8]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return nil, Storage("random salt", err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	m := &ledgerManifest{
		Version:  formatVersionBase,
		LedgerID: hex.EncodeToString(id),
		Salt:     binary.LittleEndian.Uint64(salt[:]) | 1,
	}
	if err := storeManifest(l.fs, l.dir, m); err != nil {
		return nil, Storage("write manifest", err)
	}
	return m, nil
}

func (l *Ledger) segPath(name, ext string) string {
	return filepath.Join(l.dir, segDirName, name+ext)
}

// loadSegments opens every segment of the manifest from its footer (no data
// scan) and its index, rebuilding an index that is missing or corrupt. The
// segments are opened by a few goroutines (file opens and footer reads
// overlap); the first error in manifest order is returned.
func (l *Ledger) loadSegments() error {
	mss := l.man.Load().Segments
	segs := make([]*sealedSeg, len(mss))
	errs := make([]error, len(mss))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(loadWorkers, len(mss)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(mss) {
					return
				}
				segs[i], errs[i] = l.openSegment(mss[i])
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, s := range segs {
			if s != nil {
				s.close()
			}
		}
		for _, e := range errs {
			if e != nil {
				return e
			}
		}
	}
	l.live = newSegSet(l, segs)
	return nil
}

// loadWorkers is how many goroutines open segments at Open.
const loadWorkers = 4

func (l *Ledger) openSegment(ms manifestSeg) (*sealedSeg, error) {
	path := l.segPath(ms.Name, ".seg")
	r, err := l.openSegReader(path)
	if err != nil {
		return nil, fmt.Errorf("open segment %s: %w", ms.Name, err)
	}
	info := r.Info()
	if info.FirstSeq != ms.FirstSeq || info.LastSeq != ms.LastSeq || hashHex(info.ChainStart) != ms.ChainStart || hashHex(info.ChainEnd) != ms.ChainEnd {
		r.Close()
		return nil, &CorruptionError{File: path, Offset: 0, Reason: fmt.Sprintf(
			"segment footer (seq %d-%d) does not match the manifest (seq %d-%d) or its hash chain", info.FirstSeq, info.LastSeq, ms.FirstSeq, ms.LastSeq)}
	}
	ipath := l.segPath(ms.Name, ".idx")
	ix, err := l.openIndex(ipath)
	if err == nil && ix.Summary().Count != uint32(info.Count) {
		ix.Close()
		err = &CorruptionError{File: ipath, Reason: "index event count does not match its segment"}
	}
	if err != nil {
		l.log.Warn("rebuilding index", "segment", ms.Name, "reason", err)
		l.ops.indexRebuilds.Add(1)
		ix, err = l.rebuildIndex(r, ipath)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("rebuild index of %s: %w", ms.Name, err)
		}
	}
	return &sealedSeg{name: ms.Name, r: r, ix: ix, info: info, vec: l.segVectorsOf(ms)}, nil
}

// buildIndex derives a segment's index from its records alone, so a rebuild
// is byte-identical to the original.
func buildIndex(r *segment.Reader) ([]byte, error) { return buildIndexVersion(r, 0) }

// buildIndexVersion is buildIndex in index format version v (0: the
// current one), so that a file written in an older version can be
// checked against its records.
func buildIndexVersion(r *segment.Reader, v int) ([]byte, error) {
	info := r.Info()
	b := index.NewBuilder()
	var terms []index.Term
	var derr error
	err := r.Scan(info.FirstSeq, func(rec segment.Record) bool {
		h, err := DecodeHeader(rec.Data)
		if err != nil {
			derr = fmt.Errorf("seq %d: %w", rec.Seq, err)
			return false
		}
		terms = termsOf(&h, terms[:0])
		b.Add(uint32(rec.Seq-info.FirstSeq), string(h.OccurredAt), terms)
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, err
	}
	if v == 0 {
		return b.Encode()
	}
	return b.EncodeVersion(v)
}

func (l *Ledger) rebuildIndex(r *segment.Reader, ipath string) (*index.Index, error) {
	data, err := buildIndex(r)
	if err != nil {
		return nil, err
	}
	if l.opts.ReadOnly {
		return index.Decode(ipath, data)
	}
	if err := index.WriteFile(l.fs, ipath, data); err != nil {
		return nil, err
	}
	return l.openIndex(ipath)
}

// openSegReader opens a segment file with its footer parsed on first use
// and bounded by the ledger's footer cache (Options.FooterCacheBytes).
func (l *Ledger) openSegReader(path string) (*segment.Reader, error) {
	return segment.OpenLazy(l.fs, path, l.cache, l.footers)
}

// openIndex opens a segment's index file with its lazily loaded sections
// bounded by the ledger's index cache (Options.IndexCacheBytes), so that
// neither a reader's nor a writer's memory grows with the segments it has
// opened or sealed.
func (l *Ledger) openIndex(ipath string) (*index.Index, error) {
	return index.OpenCached(l.fs, ipath, l.ixCache)
}

// cleanOrphans removes temp files and segment files the manifest does not
// name (left by a crash during sealing or compaction).
func (l *Ledger) cleanOrphans() {
	dir := filepath.Join(l.dir, segDirName)
	names, err := l.fs.List(dir)
	if err != nil {
		return
	}
	live := map[string]bool{}
	for _, s := range l.man.Load().Segments {
		for _, f := range segFiles {
			live[s.Name+f.ext] = true
		}
	}
	removed := 0
	for _, n := range names {
		if live[n] {
			continue
		}
		if isSegFileName(n) || strings.HasSuffix(n, ".tmp") {
			if err := l.fs.Remove(filepath.Join(dir, n)); err == nil {
				removed++
				l.log.Info("removed orphan file", "file", n)
			}
		}
	}
	if removed > 0 {
		l.fs.SyncDir(dir)
	}
	l.fs.Remove(filepath.Join(l.dir, manifestName+".tmp"))
}

// Close stops background work, syncs and closes the ledger. It is
// idempotent; afterwards every method returns ErrClosed.
func (l *Ledger) Close() error {
	l.closeOnce.Do(func() {
		l.bgMu.Lock()
		l.closed.Store(true)
		l.bgMu.Unlock()
		close(l.stop)
		l.bgWG.Wait()
		var errs []error
		sealedAll := false
		if !l.opts.ReadOnly && !l.opts.KeepTailOnClose && l.wal != nil {
			// A clean shutdown seals the in-memory tail, so the next
			// Open reads footers only instead of replaying the WAL. If
			// it fails, the WAL still holds everything.
			l.freezeActive()
			if err := l.sealAllFrozen(); err != nil {
				l.log.Warn("sealing at close failed; the WAL keeps the events", "err", err)
			} else {
				sealedAll = true
			}
		}
		l.closeTree()
		if l.wal != nil {
			if err := l.wal.Close(); err != nil && !errors.Is(err, wal.ErrClosed) {
				errs = append(errs, err)
				sealedAll = false
			}
		}
		if sealedAll {
			l.dropCoveredWAL()
		}
		l.mu.Lock()
		close(l.notify)
		l.notify = make(chan struct{})
		l.mu.Unlock()
		l.release()
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// dropCoveredWAL removes the WAL files after a clean Close sealed every
// event they hold (and the manifest naming the segments is durable), so the
// next Open has no log to verify. A batch that committed while Close ran
// lands in a new memtable; then nothing is removed. Files go oldest first,
// with a directory fsync after each, so a crash leaves a suffix, which Open
// accepts (every frame is covered by the segments).
func (l *Ledger) dropCoveredWAL() {
	l.mu.RLock()
	clean := len(l.frozen) == 0 && len(l.active.recs) == 0
	l.mu.RUnlock()
	if !clean || l.manErr != nil {
		return
	}
	dir := filepath.Join(l.dir, walDirName)
	names, err := l.fs.List(dir)
	if err != nil {
		return
	}
	for _, n := range names {
		// The log's files, then the checkpointed ones kept for reuse
		// (wal.Options.RecycleFiles; ".wal.free" sorts after ".wal").
		if !strings.HasSuffix(n, ".wal") && !strings.HasSuffix(n, ".wal.free") {
			continue
		}
		if err := l.fs.Remove(filepath.Join(dir, n)); err != nil {
			l.log.Warn("removing a sealed WAL file at close", "file", n, "err", err)
			return
		}
		if err := l.fs.SyncDir(dir); err != nil {
			return
		}
	}
}

func (l *Ledger) release() {
	if l.live != nil {
		for _, s := range l.live.segs {
			s.close()
		}
	}
	// Retired segments a read still holds (one that was running at
	// Close, or an iterator never finished) are closed too.
	l.retMu.Lock()
	for s := range l.retired {
		s.close()
	}
	l.retired = nil
	l.retMu.Unlock()
	if l.lock != nil {
		l.lock.Close()
		l.lock = nil
	}
}

// Dir returns the ledger's directory.
func (l *Ledger) Dir() string { return l.dir }

// ID returns the ledger's unique identifier (hex).
func (l *Ledger) ID() string { return l.man.Load().LedgerID }

// LastSeq returns the highest committed sequence number (0 when empty).
func (l *Ledger) LastSeq() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.active.base + uint64(len(l.active.recs)) - 1
}

// Sync forces an fsync of everything acknowledged so far (useful with
// SyncInterval and SyncNever).
func (l *Ledger) Sync() error {
	if l.closed.Load() {
		return ErrClosed
	}
	if l.opts.ReadOnly {
		return ErrReadOnly
	}
	if err := l.wal.Sync(); err != nil {
		return Storage("sync", err)
	}
	return nil
}

// Metrics returns a snapshot of the ledger's counters.
func (l *Ledger) Metrics() Metrics {
	ws := l.wal.Stats()
	hits, misses := l.cache.Stats()
	l.mu.RLock()
	set := l.acquireSegs()
	segs := set.segs
	last := l.active.base + uint64(len(l.active.recs)) - 1
	l.mu.RUnlock()
	defer l.releaseSegs(set)
	var sealed uint64
	for _, s := range segs {
		sealed += s.info.Count
	}
	m := Metrics{
		Appends:           l.appends.Load(),
		Events:            l.events.Load(),
		Batches:           ws.Batches,
		Fsyncs:            ws.Syncs,
		BytesWritten:      ws.BytesWritten,
		WALRecycled:       ws.Recycled,
		WALDirect:         ws.DirectWrites,
		WALDirectFallback: ws.DirectFallback,
		Segments:          len(segs),
		SealedEvents:      sealed,
		Seals:             l.seals.Load(),
		SealStalls:        l.stalls.Load(),
		CacheHits:         hits,
		CacheMisses:       misses,
		LastSeq:           last,
		LastRecovery:      l.recovery,
		RecoveredWAL:      l.recoveredWAL,
	}
	if s, ok := l.bgErr.Load().(string); ok {
		m.BackgroundErr = s
	}
	l.fillOpsMetrics(&m, segs)
	return m
}
