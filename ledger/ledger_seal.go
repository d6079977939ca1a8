package ledger

import (
	"fmt"
	"time"

	"github.com/exledger/exledger/index"
	"github.com/exledger/exledger/segment"
)

func (l *Ledger) kickSeal() {
	select {
	case l.sealKick <- struct{}{}:
	default:
	}
}

// sealLoop is the background worker that turns full memtables into sealed
// segments. It never holds the ledger lock while doing I/O, so appends are
// not stalled by sealing.
func (l *Ledger) sealLoop() {
	defer l.bgWG.Done()
	var tick <-chan time.Time
	if l.opts.SegmentAge > 0 {
		t := time.NewTicker(min(l.opts.SegmentAge, time.Minute))
		defer t.Stop()
		tick = t.C
	}
	backoff := time.Duration(0)
	for {
		var retry <-chan time.Time
		if backoff > 0 {
			retry = time.After(backoff)
		}
		select {
		case <-l.stop:
			return
		case <-l.sealKick:
		case <-tick:
			l.freezeIfOld()
		case <-retry:
		}
		if err := l.sealFrozen(); err != nil {
			l.bgErr.Store(err.Error())
			l.log.Error("sealing failed; will retry", "err", err)
			backoff = min(max(2*backoff, 100*time.Millisecond), 10*time.Second)
		} else {
			backoff = 0
			l.bgErr.Store("")
		}
	}
}

// freezeIfOld freezes a non-empty active memtable older than SegmentAge.
func (l *Ledger) freezeIfOld() {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.active
	if len(m.recs) > 0 && time.Since(m.created) >= l.opts.SegmentAge {
		l.frozen = append(l.frozen, m)
		l.active = newMemtable(m.lastSeq() + 1)
	}
}

// Flush freezes the active part and seals every frozen memtable into a
// segment now, synchronously. Tests and tools use it; normal operation
// seals in the background.
func (l *Ledger) Flush() error {
	if l.closed.Load() {
		return ErrClosed
	}
	if l.opts.ReadOnly {
		return ErrReadOnly
	}
	l.freezeActive()
	return l.sealAllFrozen()
}

// freezeActive moves a non-empty active memtable to the frozen list. A
// batch staged in it (its fdatasync in flight) is waited for first, so a
// frozen memtable never changes again.
func (l *Ledger) freezeActive() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.active.staged > 0 {
		l.unstaged.Wait()
	}
	if m := l.active; len(m.recs) > 0 {
		l.frozen = append(l.frozen, m)
		l.active = newMemtable(m.lastSeq() + 1)
	}
}

// sealFrozen seals frozen memtables oldest first, stopping early when the
// ledger is closing (Close seals what is left itself).
func (l *Ledger) sealFrozen() error { return l.sealPending(true) }

// sealAllFrozen seals every frozen memtable, even while the ledger is
// stopping.
func (l *Ledger) sealAllFrozen() error { return l.sealPending(false) }

func (l *Ledger) sealPending(stopEarly bool) error {
	l.manMu.Lock()
	defer l.manMu.Unlock()
	l.sealBG = stopEarly // only the background sealer stops early
	for {
		l.mu.RLock()
		var m *memtable
		if len(l.frozen) > 0 {
			m = l.frozen[0]
		}
		l.mu.RUnlock()
		if m == nil {
			return nil
		}
		if err := l.sealObserved(m); err != nil {
			return err
		}
		if stopEarly {
			select {
			case <-l.stop:
				return nil
			default:
			}
		}
	}
}

func segName(first, last, gen uint64) string {
	return fmt.Sprintf("%016x-%016x-%06x", first, last, gen)
}

// sealOne writes m as a segment plus its index, switches the manifest, makes
// the segment visible in place of m, then checkpoints the WAL. Caller holds
// manMu.
func (l *Ledger) sealOne(m *memtable) error {
	if l.manErr != nil {
		return fmt.Errorf("seal: the manifest may be stale after a failed write (%w); reopen the ledger", l.manErr)
	}
	n := len(m.recs) // frozen: no longer grows
	first, last := m.base, m.base+uint64(n)-1
	// After the last segment (or retention record, or recorded gap).
	_, chainStart := l.man.Load().tail()
	// The Merkle tree hashes m's events beside the segment writing; the
	// new chunks go to TREE once the manifest is durable.
	treeDone := l.treeSeal(m, n)
	defer func() {
		if treeDone != nil {
			treeDone(false) // the seal failed: nothing to persist
		}
	}()
	newMan := l.man.Load().clone()
	newMan.Gen++
	name := segName(first, last, newMan.Gen)
	path := l.segPath(name, ".seg")
	clustered := l.opts.SealLayout == SealLayoutClustered
	w, err := segment.NewWriter(l.fs, path, l.sealWriterOptions(l.sealBG, clustered), chainStart)
	if err != nil {
		return fmt.Errorf("seal %s: %w", name, err)
	}
	if err := writeSealRecords(w, m, n, clustered, chainStart); err != nil {
		w.Abort()
		return fmt.Errorf("seal %s: %w", name, err)
	}
	info, err := w.Finish(nil)
	if err != nil {
		return fmt.Errorf("seal %s: %w", name, err)
	}
	ixData, err := sealIndex(m, n)
	if err != nil {
		l.fs.Remove(path)
		return fmt.Errorf("seal %s: index: %w", name, err)
	}
	hashes := m.idHashes[:n]
	ipath := l.segPath(name, ".idx")
	if err := index.WriteFile(l.fs, ipath, ixData); err != nil {
		l.fs.Remove(path)
		return fmt.Errorf("seal %s: index: %w", name, err)
	}
	nvec, err := l.sealVectors(name, m, n)
	if err != nil {
		l.fs.Remove(path)
		l.fs.Remove(ipath)
		return fmt.Errorf("seal %s: vectors: %w", name, err)
	}
	r, err := l.openSegReader(path)
	if err != nil {
		return fmt.Errorf("seal %s: reopen: %w", name, err)
	}
	ix, err := l.openIndex(ipath)
	if err != nil {
		r.Close()
		return fmt.Errorf("seal %s: index: %w", name, err)
	}
	ms := manifestSeg{
		Name: name, FirstSeq: first, LastSeq: last, Count: uint64(n),
		ChainStart: hashHex(info.ChainStart), ChainEnd: hashHex(info.ChainEnd), Vectors: nvec,
	}
	newMan.Segments = append(newMan.Segments, ms)
	if err := storeManifest(l.fs, l.dir, newMan); err != nil {
		r.Close()
		ix.Close()
		// The new manifest may or may not be on disk (e.g. the rename
		// happened but the directory fsync failed), so the files stay and
		// no further manifest change is made until reopen; the next Open
		// removes them if the old manifest is the one that survived.
		l.manErr = err
		return fmt.Errorf("seal %s: manifest: %w", name, err)
	}
	l.man.Store(newMan)
	// The ids must be in the filter before the memtable that holds them
	// leaves the view.
	l.ids.add(index.EventIDPrefixBits(n), hashes)
	seg := &sealedSeg{name: name, r: r, ix: ix, info: info, vec: l.segVectorsOf(ms)}
	l.mu.Lock()
	segs := make([]*sealedSeg, len(l.live.segs), len(l.live.segs)+1)
	copy(segs, l.live.segs)
	old := l.setLiveLocked(append(segs, seg))
	l.frozen = l.frozen[1:]
	close(l.sealDone)
	l.sealDone = make(chan struct{})
	l.mu.Unlock()
	l.releaseSegs(old) // closes none: the new set holds them all
	l.seals.Add(1)
	if nvec >= annMinVectors {
		l.kickVecIndex()
	}
	treeDone(true)
	treeDone = nil
	l.log.Info("sealed segment", "segment", name, "events", n, "bytes", info.FileBytes)
	if err := l.wal.Checkpoint(last); err != nil {
		// The segment is durable; the WAL files are dropped at a later
		// checkpoint.
		l.log.Warn("wal checkpoint failed", "err", err)
	}
	return nil
}

// sealWriterOptions returns the segment writer options of a seal, run by
// the background sealer (background) or by Flush or Close, in log order
// or clustered (an unordered writer).
func (l *Ledger) sealWriterOptions(background, clustered bool) segment.Options {
	workers, yield := l.sealPace(background)
	return segment.Options{
		BlockSize: l.opts.BlockSize, Level: l.opts.CompressionLevel, EntropyLiterals: l.opts.EntropyLiterals,
		Concurrency: workers, Yield: yield, Unordered: clustered,
	}
}

// sealIndex encodes the index file of the memtable's first n records. The
// memtable's index already holds every term: encoding it gives the bytes a
// rebuild from the segment would (index.Mem.Encode == Builder.Encode for
// the same entries; HeaderOf == DecodeHeader). A tainted memtable (a
// staged batch failed, so its index holds entries past its records) is
// indexed again from its records instead.
func sealIndex(m *memtable, n int) ([]byte, error) {
	if !m.tainted && m.staged == 0 {
		return m.idx.Encode()
	}
	ix := index.NewMem()
	var terms []index.Term
	for i := 0; i < n; i++ {
		h, err := DecodeHeader(m.recs[i])
		if err != nil {
			return nil, fmt.Errorf("record seq %d: %w", m.base+uint64(i), err)
		}
		terms = termsOf(&h, terms[:0])
		ix.Add(uint32(i), string(h.OccurredAt), terms)
	}
	return ix.Encode()
}
