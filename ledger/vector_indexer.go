package ledger

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

// The approximate (IVF-flat) index of a segment's vectors is not built by
// the seal: a seal writes the vector file without it, so the append path
// never waits for k-means. A background indexer (one goroutine per
// writable ledger, kicked after every seal and compaction and once at
// Open) then builds the index of each sealed segment that lacks one and
// replaces the vector file with one that carries it:
//
//  1. load the file (checked against its checksum) and train the index
//     (vector_ann.go), without any lock;
//  2. write <name>.vec.tmp (the same vectors plus the index section, one
//     checksum over all of it) and fsync it, without any lock;
//  3. under manMu, if the segment is still live (compaction or retention
//     did not replace it meanwhile) and the ledger is not closing, rename
//     the temp file over <name>.vec and fsync the directory; then the
//     in-memory set gains the index.
//
// A crash at any point leaves <name>.vec either as the seal wrote it (no
// index: searches of that segment are exact; the next writable Open
// builds it again) or as its complete replacement (checked by the same
// checksum): the manifest is not touched, since both files hold the same
// vectors, and a leftover .tmp is removed at Open as every temp file is.
// A write error stops the indexer until the ledger is reopened (searches
// stay exact meanwhile); a segment whose vector file is damaged is skipped
// (searches and Verify report it).
type vecIndexer struct {
	mu   sync.Mutex // one build at a time (the loop or BuildVectorIndexes)
	err  error      // sticky write error
	kick chan struct{}
	// waiting counts BuildVectorIndexes calls in progress: the background
	// build they may wait for (mu) then stops deferring to appends.
	waiting atomic.Int32
	// the ledger's cache of vector blocks (vecCacheOf)
	cacheOnce sync.Once
	cache     *vecCache
}

// errIndexStopped is returned by a build interrupted by Close.
var errIndexStopped = errors.New("ledger: vector index build stopped: the ledger is closing")

// index states of a segVectors (segVectors.ixState).
const (
	ixUnknown = iota // not looked at yet
	ixNone           // the file has no index section
	ixPresent        // it has one
	ixSkip           // no index will be built (too few vectors, or the file is damaged)
)

// startVecIndexer starts the background indexer of a writable ledger with
// an embedding dimension (also one recorded later: the loop idles until
// kicked).
func (l *Ledger) startVecIndexer() {
	l.vix.kick = make(chan struct{}, 1)
	if l.opts.VectorIndex.manual {
		return
	}
	l.bgWG.Add(1)
	go l.vecIndexLoop()
	l.kickVecIndex()
}

// kickVecIndex asks the indexer to look for segments without an index.
func (l *Ledger) kickVecIndex() {
	if l.vix.kick == nil {
		return
	}
	select {
	case l.vix.kick <- struct{}{}:
	default:
	}
}

func (l *Ledger) vecIndexLoop() {
	defer l.bgWG.Done()
	for {
		select {
		case <-l.stop:
			return
		case <-l.vix.kick:
		}
		if err := l.buildVectorIndexes(l.stop, true); err != nil && !errors.Is(err, errIndexStopped) {
			l.log.Warn("building approximate vector indexes failed; those segments are searched exactly until the ledger is reopened", "err", err)
		}
	}
}

// BuildVectorIndexes builds now, in the caller's goroutine, the
// approximate index of every sealed segment that lacks one (normally the
// background indexer does this shortly after each seal; until a segment
// has its index, searches compare its candidates exactly). Tools and
// benchmarks call it to wait for the indexes. It returns the write error
// that stopped the indexer, if any.
func (l *Ledger) BuildVectorIndexes(ctx context.Context) error {
	if l.closed.Load() {
		return ErrClosed
	}
	if l.opts.ReadOnly {
		return ErrReadOnly
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-l.stop:
		case <-done:
			return
		}
		close(stop)
	}()
	l.vix.waiting.Add(1)
	err := l.buildVectorIndexes(stop, false)
	l.vix.waiting.Add(-1)
	if errors.Is(err, errIndexStopped) && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// buildVectorIndexes builds the missing indexes; background paces each
// build (vecIndexPacer) instead of running it flat out.
func (l *Ledger) buildVectorIndexes(stop <-chan struct{}, background bool) error {
	l.vix.mu.Lock()
	defer l.vix.mu.Unlock()
	if l.vix.err != nil {
		return l.vix.err
	}
	for {
		s, behind := l.nextUnindexed()
		if s == nil {
			return nil
		}
		pace := stopPace(stop)
		if background {
			pace = l.vecIndexPacer(stop, behind)
		}
		err := l.indexSegment(s, pace)
		switch {
		case err == nil:
		case errors.Is(err, errIndexStopped):
			return err
		case errors.Is(err, corrupt.ErrCorrupt):
			s.vec.setIxState(ixSkip)
			l.log.Warn("approximate vector index not built: the vector file is damaged", "file", s.vec.path, "err", err)
		default:
			l.vix.err = fmt.Errorf("vector index of %s: %w", s.vec.path, err)
			return l.vix.err
		}
	}
}

// nextUnindexed returns a live segment whose vector file has no index yet
// and enough vectors for one (nil: none), and how many such segments
// there are.
func (l *Ledger) nextUnindexed() (*sealedSeg, int) {
	// (Building a segment's vector index reads its vector file, opened
	// per read, not its reader or index: no hold on the set is needed.)
	l.mu.RLock()
	segs := l.live.segs
	l.mu.RUnlock()
	var first *sealedSeg
	n := 0
	for _, s := range segs {
		v := s.vec
		if v == nil {
			continue
		}
		if v.ixStateOf() == ixNone {
			if first == nil {
				first = s
			}
			n++
		}
	}
	return first, n
}

// stopPace is the pace function of a build that runs flat out: it only
// stops when stop is closed.
func stopPace(stop <-chan struct{}) func() error {
	return func() error {
		select {
		case <-stop:
			return errIndexStopped
		default:
			return nil
		}
	}
}

const (
	// vecIndexQuiet: the background indexer waits while an append came
	// less than this long ago ...
	vecIndexQuiet = 50 * time.Millisecond
	// vecIndexMaxBehind: ... unless this many segments are waiting for
	// their index (then it builds, giving way to other goroutines often).
	vecIndexMaxBehind = 4
)

// vecIndexPacer is the pace function of the background indexer's build of
// one segment, when behind segments (this one included) lack their index.
// The index is not needed for correctness (a segment without one is
// searched exactly), and on a machine with few cores its k-means (CPU
// only, ~1 ms between calls) would take a processor from the goroutines
// that acknowledge appends (the caller encoding, the WAL committer, the
// sealer). So while appends keep arriving (one less than vecIndexQuiet
// ago), fewer than vecIndexMaxBehind segments wait and no
// BuildVectorIndexes call waits for it, the build sleeps;
// otherwise it yields the processor at each call (runtime.Gosched), so a
// goroutine woken meanwhile (an fdatasync returning) runs within about a
// millisecond rather than after the scheduler's 10 ms preemption.
func (l *Ledger) vecIndexPacer(stop <-chan struct{}, behind int) func() error {
	seen := l.appends.Load()
	last := time.Now() // the last time seen was found to change
	return func() error {
		for {
			select {
			case <-stop:
				return errIndexStopped
			default:
			}
			if n := l.appends.Load(); n != seen {
				seen, last = n, time.Now()
			}
			if behind >= vecIndexMaxBehind || time.Since(last) >= vecIndexQuiet || l.vix.waiting.Load() > 0 {
				runtime.Gosched()
				return nil
			}
			t := time.NewTimer(vecIndexQuiet / 2)
			select {
			case <-stop:
				t.Stop()
				return errIndexStopped
			case <-t.C:
			}
		}
	}
}

// setIxState records what is known of the file's index.
func (v *segVectors) setIxState(st int) {
	v.mu.Lock()
	v.ixState = st
	v.mu.Unlock()
}

// ixStateOf returns the index state, reading the file's header the first
// time (a file that cannot be read is ixSkip: searches report it).
func (v *segVectors) ixStateOf() int {
	v.mu.Lock()
	st := v.ixState
	v.mu.Unlock()
	if st != ixUnknown {
		return st
	}
	if v.n < annMinVectors {
		st = ixSkip // no I/O for small segments
	} else {
		switch _, ann, layout, ok := v.headerInfo(); {
		case !ok:
			st = ixSkip
		case layout == 1:
			st = ixNone // rewritten in layout 2 (its index, if any, kept)
		case ann > 0:
			st = ixPresent
		default:
			st = ixNone
		}
	}
	v.setIxState(st)
	return st
}

// indexSegment builds the index of one segment and installs the file that
// carries it (see vecIndexer).
func (l *Ledger) indexSegment(s *sealedSeg, pace func() error) error {
	v := s.vec
	if err := pace(); err != nil { // before loading the file
		return err
	}
	vs, err := v.load()
	if err != nil {
		return err
	}
	a := vs.ann // a layout-1 file's index is kept: only the layout changes
	if a == nil {
		ann, err := buildANNPaced(vs.dim, vs.ords, vs.data, pace)
		if err != nil {
			return err
		}
		if ann == nil {
			v.setIxState(ixSkip)
			return nil
		}
		if a, err = decodeANN(v.path, 0, ann, vs); err != nil {
			return fmt.Errorf("the index just built does not decode: %w", err)
		}
	}
	tmp := v.path + ".tmp"
	if err := writeVecRows(l.fs, tmp, indexedRows(vs, a), true); err != nil {
		return err
	}
	l.manMu.Lock()
	defer l.manMu.Unlock()
	if !l.segLive(s) || l.closed.Load() {
		l.fs.Remove(tmp)
		if l.closed.Load() {
			return errIndexStopped
		}
		return nil // replaced meanwhile; the new segment gets its own
	}
	if err := l.fs.Rename(tmp, v.path); err != nil {
		l.fs.Remove(tmp)
		return err
	}
	// From here the name holds either file (both valid) until the
	// directory is synced; searches read the new one's directory at their
	// next use (the cache keys blocks by generation).
	v.mu.Lock()
	v.set, v.dir, v.layout, v.ixState = nil, nil, 0, ixPresent
	v.gen++
	v.mu.Unlock()
	return l.fs.SyncDir(filepath.Dir(v.path))
}

// segLive reports whether s is still one of the ledger's segments.
func (l *Ledger) segLive(s *sealedSeg) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, x := range l.live.segs {
		if x == s {
			return true
		}
	}
	return false
}

// writeSynced creates path with data and fsyncs it (the caller renames it
// into place). On error the file is removed.
func writeSynced(fsys vfs.FS, path string, data []byte) error {
	f, err := fsys.Create(path)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fsys.Remove(path)
	}
	return err
}
