package ledger

import "sync/atomic"

// Retired segments are closed when their last reader is done.
//
// The ledger's sealed segments are a segSet, replaced whole (copy on
// write) by each seal and compaction. Every read that uses segment files
// (a query, a scan or iterator, a point lookup, a proof, a backup, the
// duplicate check of an append, Verify, the id filter's build) takes the
// current set with acquireSegs (one atomic add, under the view's read
// lock) and releases it when done (one more). A set is freed when the
// ledger has replaced it and its last reader released it; a segment is
// closed when the last set holding it is freed. So a segment that
// compaction replaced (its files already unlinked, Ledger.retired) is
// closed as soon as no read that may use it is running, instead of at
// Close, and one that a read still uses is never closed under it (Close
// excepted: it closes every segment, as before).

// segSet is one version of the ledger's list of sealed segments, ordered
// by FirstSeq. It is never modified once made.
type segSet struct {
	l    *Ledger
	segs []*sealedSeg
	// refs counts the set's holders: the ledger while the set is current
	// (one), and every acquireSegs not yet released.
	refs atomic.Int64
}

// newSegSet makes the set of segs, held once (by the ledger, as its
// current set).
func newSegSet(l *Ledger, segs []*sealedSeg) *segSet {
	set := &segSet{l: l, segs: segs}
	set.refs.Store(1)
	for _, s := range segs {
		s.sets.Add(1)
	}
	return set
}

// acquireSegs takes the current set of segments: their files stay open
// until releaseSegs. Caller holds l.mu (read or write).
func (l *Ledger) acquireSegs() *segSet {
	set := l.live
	set.refs.Add(1)
	return set
}

// releaseSegs drops a hold on set (nil: none). When it was the last one,
// every segment no other set holds is closed (and leaves l.retired).
func (l *Ledger) releaseSegs(set *segSet) { l.releaseSegsIn(set, false) }

// releaseSegsAsync is releaseSegs for the append path (the WAL
// committer's duplicate check): the segments to close, if any, are closed
// by another goroutine, so that no append waits for the file closes
// (closing the last handle of an unlinked file frees its disk blocks).
func (l *Ledger) releaseSegsAsync(set *segSet) { l.releaseSegsIn(set, true) }

func (l *Ledger) releaseSegsIn(set *segSet, async bool) {
	if set == nil || set.refs.Add(-1) != 0 {
		return
	}
	var closed []*sealedSeg
	for _, s := range set.segs {
		if s.sets.Add(-1) == 0 {
			closed = append(closed, s)
		}
	}
	if len(closed) == 0 {
		return
	}
	closeAll := func() {
		for _, s := range closed {
			s.close()
		}
		l.retMu.Lock()
		for _, s := range closed {
			delete(l.retired, s)
		}
		l.retMu.Unlock()
	}
	if async {
		go closeAll()
		return
	}
	closeAll()
}

// setLiveLocked makes segs the current set and returns the one it
// replaces, which the caller releases (releaseSegs) once it has unlocked
// l.mu and, for a compaction, added the segments it drops to l.retired.
// Caller holds l.mu for writing.
func (l *Ledger) setLiveLocked(segs []*sealedSeg) *segSet {
	old := l.live
	l.live = newSegSet(l, segs)
	return old
}

// retire records segments that left the current set (their files
// unlinked or about to be): they are closed by the release of the last
// set holding them, or at Close.
func (l *Ledger) retire(segs []*sealedSeg) {
	l.retMu.Lock()
	if l.retired == nil {
		l.retired = map[*sealedSeg]struct{}{}
	}
	for _, s := range segs {
		l.retired[s] = struct{}{}
	}
	l.retMu.Unlock()
}

// openRetired returns how many retired segments are still open (tests).
func (l *Ledger) openRetired() int {
	l.retMu.Lock()
	defer l.retMu.Unlock()
	return len(l.retired)
}

// release drops the view's hold on its segments (see acquireSegs); the
// view's segments must not be used afterwards. It may be called again.
func (v *view) release() {
	if v.set != nil {
		v.set.l.releaseSegs(v.set)
		v.set = nil
	}
}
