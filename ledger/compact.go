package ledger

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/exledger/exledger/index"
	"github.com/exledger/exledger/segment"
)

// CompactOptions configure Compact. The zero value merges small segments
// into ones of up to 128 MiB of events, recompresses them at
// zstd.SpeedBetterCompression and re-clusters them.
type CompactOptions struct {
	// TargetBytes is the largest merged segment, in bytes of canonical
	// events. 0 = 128 MiB.
	TargetBytes int64
	// Level is the zstd level of the new segments. 0 = SpeedBetterCompression.
	Level zstd.EncoderLevel
	// NoCluster keeps events in log order inside the new segments. By
	// default they are re-clustered by (tenant, kind, occurred_at) so a
	// selective query touches fewer blocks; results still come in log order.
	NoCluster bool
	// RetainAfter, if set, drops whole leading segments whose newest event
	// is older than this bound (byte-wise occurred_at), and records the drop
	// in the manifest. The hash chain over the surviving events is kept.
	RetainAfter *Timestamp
	// Progress, if set, is called with events processed and the total.
	Progress func(done, total uint64)
}

// CompactReport says what Compact did.
type CompactReport struct {
	SegmentsBefore, SegmentsAfter int
	BytesBefore, BytesAfter       int64
	EventsRewritten               uint64
	DroppedSegments               int
	DroppedEvents                 uint64
	DroppedThroughSeq             uint64
	Took                          time.Duration
}

// compact is Compact (ops.go) without instrumentation.
func (l *Ledger) compact(ctx context.Context, o CompactOptions) (CompactReport, error) {
	start := time.Now()
	var rep CompactReport
	if l.closed.Load() {
		return rep, ErrClosed
	}
	if l.opts.ReadOnly {
		return rep, ErrReadOnly
	}
	if o.TargetBytes <= 0 {
		o.TargetBytes = 128 << 20
	}
	if o.Level == 0 {
		o.Level = zstd.SpeedBetterCompression
	}
	l.manMu.Lock()
	defer l.manMu.Unlock()
	if l.manErr != nil {
		return rep, fmt.Errorf("compact: the manifest may be stale after a failed write (%w); reopen the ledger", l.manErr)
	}
	// The segments read here stay open until the end (a seal may replace
	// the set meanwhile; only a compaction drops segments, and manMu
	// excludes another).
	l.mu.RLock()
	set := l.acquireSegs()
	l.mu.RUnlock()
	defer l.releaseSegs(set)
	segs := set.segs
	rep.SegmentsBefore = len(segs)
	for _, s := range segs {
		rep.BytesBefore += s.info.FileBytes
	}

	// Retention: drop a prefix of whole segments older than the bound.
	drop := 0
	if o.RetainAfter != nil {
		for drop < len(segs) && segs[drop].info.MaxTime < string(*o.RetainAfter) {
			drop++
		}
	}
	// Retention never cuts inside a gap Repair recorded.
	gm := l.man.Load()
	for drop > 0 && gm.innerSeg(segs[drop-1].info.FirstSeq, segs[drop-1].info.LastSeq) {
		drop--
	}
	keep := segs[drop:]
	leavesKept := false
	if drop > 0 {
		// The tree must hold the chunks and leaf hashes of the events
		// about to be dropped: they cannot be hashed again afterwards.
		var err error
		if leavesKept, err = l.treeBeforeDrop(segs[drop-1].info.LastSeq); err != nil {
			return rep, fmt.Errorf("compact: retention: %w", err)
		}
	}

	// Group adjacent segments up to the target size. A group never spans a
	// recorded gap: segments on either side, and those inside it, are
	// compacted apart, so the gap record stays true.
	var groups [][]*sealedSeg
	var cur []*sealedSeg
	var curBytes int64
	for _, s := range keep {
		split := false
		if len(cur) > 0 {
			p := cur[len(cur)-1]
			split = s.info.FirstSeq != p.info.LastSeq+1 || gm.innerSeg(s.info.FirstSeq, s.info.LastSeq) || gm.innerSeg(p.info.FirstSeq, p.info.LastSeq)
		}
		if len(cur) > 0 && (split || curBytes+s.info.RawBytes > o.TargetBytes) {
			groups = append(groups, cur)
			cur, curBytes = nil, 0
		}
		cur = append(cur, s)
		curBytes += s.info.RawBytes
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	var total uint64
	for _, s := range keep {
		total += s.info.Count
	}

	newMan := l.man.Load().clone()
	newSegs := make([]*sealedSeg, 0, len(groups))
	var created []*sealedSeg // written by this run, not yet in the view
	// closeCreated releases the new segments' files (they were never in
	// the view, so no query holds them); cleanup also removes them.
	closeCreated := func() {
		for _, s := range created {
			s.close()
		}
	}
	cleanup := func() {
		closeCreated()
		for _, s := range created {
			for _, f := range segFiles {
				l.fs.Remove(l.segPath(s.name, f.ext))
			}
		}
	}
	var done uint64
	for _, g := range groups {
		if err := ctx.Err(); err != nil {
			cleanup()
			return rep, err
		}
		// A lone segment already at the target level and layout is kept.
		if len(g) == 1 && g[0].compacted() {
			newSegs = append(newSegs, g[0])
			done += g[0].info.Count
			continue
		}
		newMan.Gen++
		s, err := l.rewrite(g, newMan.Gen, o)
		if err != nil {
			cleanup()
			return rep, err
		}
		created = append(created, s)
		newSegs = append(newSegs, s)
		rep.EventsRewritten += s.info.Count
		done += s.info.Count
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}

	newMan.Segments = newMan.Segments[:0]
	for _, s := range newSegs {
		var nvec uint64
		if s.vec != nil {
			nvec = s.vec.n
		}
		newMan.Segments = append(newMan.Segments, manifestSeg{
			Name: s.name, FirstSeq: s.info.FirstSeq, LastSeq: s.info.LastSeq, Count: s.info.Count,
			ChainStart: hashHex(s.info.ChainStart), ChainEnd: hashHex(s.info.ChainEnd), Vectors: nvec,
		})
	}
	if drop > 0 {
		last := segs[drop-1]
		var n uint64
		for _, s := range segs[:drop] {
			n += s.info.Count
		}
		newMan.Retention = append(newMan.Retention, retentionRecord{
			DroppedThroughSeq: last.info.LastSeq,
			ChainAt:           hashHex(last.info.ChainEnd),
			RetainAfter:       string(*o.RetainAfter),
			Events:            n,
			Segments:          drop,
			At:                time.Now().UTC().Format(time.RFC3339),
		})
		rep.DroppedSegments = drop
		// Gap records wholly inside the dropped prefix go with it.
		gaps := newMan.Gaps[:0:0]
		for _, g := range newMan.Gaps {
			if g.To > last.info.LastSeq {
				gaps = append(gaps, g)
			}
		}
		newMan.Gaps = gaps
		if leavesKept {
			newMan.addFeature(featureTreeLeaves)
		}
		rep.DroppedEvents = n
		rep.DroppedThroughSeq = last.info.LastSeq
	}
	if err := storeManifest(l.fs, l.dir, newMan); err != nil {
		// The new manifest may already be live (rename done, directory
		// fsync failed): keep both the old and the new files, and make no
		// further manifest change until reopen. Open removes whichever
		// set the surviving manifest does not name.
		closeCreated()
		l.manErr = err
		return rep, fmt.Errorf("compact: manifest: %w", err)
	}
	l.man.Store(newMan)

	// Switch the view; reads that took the old set keep the old
	// segments' readers and indexes (their files are unlinked here, or
	// after the last running backup): each is closed when the last set
	// holding it is released (segrefs.go, Ledger.retired).
	l.mu.Lock()
	old := l.setLiveLocked(newSegs)
	l.mu.Unlock()
	live := map[string]bool{}
	for _, s := range newSegs {
		live[s.name] = true
	}
	var gone []*sealedSeg
	for _, s := range segs {
		if live[s.name] {
			continue
		}
		gone = append(gone, s)
		l.removeSegFiles(s.name) // after the last running backup, if any
	}
	l.retire(gone)
	l.releaseSegs(old)
	l.fs.SyncDir(filepath.Join(l.dir, segDirName))
	rep.SegmentsAfter = len(newSegs)
	for _, s := range newSegs {
		rep.BytesAfter += s.info.FileBytes
	}
	rep.Took = time.Since(start)
	l.kickVecIndex() // merged vector files are written without an index
	l.log.Info("compacted", "segments_before", rep.SegmentsBefore, "segments_after", rep.SegmentsAfter,
		"bytes_before", rep.BytesBefore, "bytes_after", rep.BytesAfter, "dropped_events", rep.DroppedEvents)
	return rep, nil
}

// compacted reports whether a segment was written by Compact (its name has
// the "-c" suffix).
func (s *sealedSeg) compacted() bool { return strings.HasSuffix(s.name, "-c") }

type clusterRec struct {
	seq    uint64
	data   []byte
	time   string
	tenant string
	kind   string
}

// checkpointEvery is how often (in seqs) a clustered segment stores the
// chain value. Repair proves the chain again from the next stored value
// after a lost event, so this bounds the kept-but-unproven events a lost
// clustered block leaves: at most checkpointEvery-1 after each lost seq.
// The cost is 40 footer bytes per checkpointEvery events (about 0.3 B per
// event at 128).
const checkpointEvery = 128

// rewrite merges the segments of g into one new segment (and index).
func (l *Ledger) rewrite(g []*sealedSeg, gen uint64, o CompactOptions) (*sealedSeg, error) {
	first, last := g[0].info.FirstSeq, g[len(g)-1].info.LastSeq
	name := segName(first, last, gen) + "-c"
	path := l.segPath(name, ".seg")
	chainStart := g[0].info.ChainStart

	// Read every event in log order, verifying the hash chain as we go and
	// keeping checkpoints so the new segment can store it.
	recs := make([]clusterRec, 0, last-first+1)
	h := chainStart
	var cps []segment.Checkpoint
	for _, s := range g {
		var derr error
		err := s.r.Scan(s.info.FirstSeq, func(r segment.Record) bool {
			hd, err := DecodeHeader(r.Data)
			if err != nil {
				derr = &CorruptionError{File: s.r.Path(), Reason: fmt.Sprintf("seq %d: %v", r.Seq, err)}
				return false
			}
			cr := clusterRec{seq: r.Seq, data: append([]byte(nil), r.Data...), time: string(hd.OccurredAt), kind: string(hd.Kind)}
			if hd.HasTenant {
				cr.tenant = string(hd.TenantID)
			}
			recs = append(recs, cr)
			h = segment.ChainNext(h, r.Data)
			if (r.Seq-first+1)%checkpointEvery == 0 || r.Seq == last {
				cps = append(cps, segment.Checkpoint{Seq: r.Seq, Hash: h})
			}
			return true
		})
		if err == nil {
			err = derr
		}
		if err != nil {
			return nil, fmt.Errorf("compact: read %s: %w", s.name, err)
		}
		if h != s.info.ChainEnd {
			return nil, &IntegrityError{File: s.r.Path(), Seq: s.info.LastSeq, Reason: "hash chain does not match the segment footer"}
		}
	}
	if !o.NoCluster {
		slices.SortStableFunc(recs, func(a, b clusterRec) int {
			return cmp.Or(cmp.Compare(a.tenant, b.tenant), cmp.Compare(a.kind, b.kind),
				cmp.Compare(a.time, b.time), cmp.Compare(a.seq, b.seq))
		})
	}
	w, err := segment.NewWriter(l.fs, path, segment.Options{
		BlockSize: l.opts.BlockSize, Level: o.Level, EntropyLiterals: l.opts.EntropyLiterals, Unordered: !o.NoCluster,
		Concurrency: l.opts.SealWorkers, Yield: sealPacing, // appends may run beside it: see sealPace
	}, chainStart)
	if err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	if !o.NoCluster {
		w.SetChain(chainStart, cps)
	}
	b := index.NewBuilder()
	var terms []index.Term
	for _, r := range recs {
		if err := w.Append(segment.Record{Seq: r.seq, Time: r.time, Data: r.data}); err != nil {
			w.Abort()
			return nil, fmt.Errorf("compact: %w", err)
		}
		hd, _ := DecodeHeader(r.data)
		terms = termsOf(&hd, terms[:0])
		b.Add(uint32(r.seq-first), r.time, terms)
	}
	info, err := w.Finish(nil)
	if err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	if info.ChainEnd != h {
		l.fs.Remove(path)
		return nil, fmt.Errorf("compact: new segment's hash chain differs from the source")
	}
	ixData, err := b.Encode()
	if err != nil {
		l.fs.Remove(path)
		return nil, err
	}
	ipath := l.segPath(name, ".idx")
	if err := index.WriteFile(l.fs, ipath, ixData); err != nil {
		l.fs.Remove(path)
		return nil, err
	}
	r, err := l.openSegReader(path)
	if err != nil {
		return nil, err
	}
	ix, err := l.openIndex(ipath)
	if err != nil {
		r.Close()
		return nil, err
	}
	vec, err := l.mergeVectors(g, name, first, last)
	if err != nil {
		r.Close()
		ix.Close()
		return nil, err
	}
	return &sealedSeg{name: name, r: r, ix: ix, info: info, vec: vec}, nil
}
