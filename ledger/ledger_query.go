package ledger

import (
	"context"
	"fmt"
	"iter"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exledger/exledger/index"
	"github.com/exledger/exledger/segment"
)

// SeqEnvelope is an event with its sequence number in the log.
type SeqEnvelope struct {
	Seq      uint64
	Envelope ExperienceEventEnvelope
}

// view is a consistent snapshot of the ledger for one read: the sealed
// segments and the memtables with their lengths at the moment it was taken.
// It always ends on a batch boundary, because a batch is applied under one
// write lock.
type view struct {
	segs []*sealedSeg
	mts  []*memtable
	ns   []int
	// recs and times are the memtables' slices as of the snapshot (the
	// memtable fields themselves change under the write lock).
	recs  [][][]byte
	times [][]string
	vecs  [][][]float32 // the memtables' vectors (vecs[i][o] nil: none)
	// set holds segs (their files stay open) until release.
	set *segSet
	// segsSkipped and segsRead count the segments segJobs excluded by
	// their summary or evaluated the index of (metrics, spans).
	segsSkipped, segsRead int
}

// snapshot takes a view; its segments are held until v.release (which
// every caller defers or calls once it no longer reads them).
func (l *Ledger) snapshot() view {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.snapshotLocked()
}

func (l *Ledger) snapshotLocked() view {
	set := l.acquireSegs()
	v := view{segs: set.segs, set: set}
	for _, m := range append(l.frozen[:len(l.frozen):len(l.frozen)], l.active) {
		v.mts = append(v.mts, m)
		v.ns = append(v.ns, len(m.recs))
		v.recs = append(v.recs, m.recs)
		v.times = append(v.times, m.times)
		v.vecs = append(v.vecs, m.vecs)
	}
	return v
}

func (v *view) lastSeq() uint64 {
	i := len(v.mts) - 1
	return v.mts[i].base + uint64(v.ns[i]) - 1
}

// plan turns an EventQuery into an index query. ok is false when the query
// can match nothing (limit 0 or an inverted time range).
func plan(q *EventQuery) (iq index.Query, ok bool) {
	if q.Limit != nil && *q.Limit == 0 {
		return iq, false
	}
	if q.TenantID != nil {
		iq.All = append(iq.All, []index.Term{{Field: index.FieldTenant, Value: string(*q.TenantID)}})
	}
	if len(q.Kinds) > 0 {
		var ks []index.Term
		for _, k := range q.Kinds {
			t := index.Term{Field: index.FieldKind, Value: string(k)}
			if !slices.Contains(ks, t) {
				ks = append(ks, t)
			}
		}
		iq.All = append(iq.All, ks)
	}
	if q.CorrelationID != nil {
		iq.All = append(iq.All, []index.Term{{Field: index.FieldCorrelation, Value: string(*q.CorrelationID)}})
	}
	if q.ChainID != nil {
		iq.All = append(iq.All, []index.Term{{Field: index.FieldChain, Value: string(*q.ChainID)}})
	}
	if tr := q.TimeRange; tr != nil {
		if tr.Start != nil {
			s := string(*tr.Start)
			iq.Start = &s
		}
		if tr.End != nil {
			e := string(*tr.End)
			iq.End = &e
		}
		if iq.Start != nil && iq.End != nil && *iq.Start > *iq.End {
			return iq, false
		}
	}
	return iq, true
}

// matches applies the durable semantics of QueryEvents to a decoded event.
// It is checked on every result, so a corrupt index can never leak an event
// of another tenant.
func matchesDurable(q *EventQuery, e *ExperienceEventEnvelope) bool {
	if q.TenantID != nil && (e.TenantID == nil || *e.TenantID != *q.TenantID) {
		return false
	}
	if q.CorrelationID != nil && (e.CorrelationID == nil || *e.CorrelationID != *q.CorrelationID) {
		return false
	}
	if len(q.Kinds) > 0 && !slices.Contains(q.Kinds, e.Event.Kind()) {
		return false
	}
	if q.ChainID != nil {
		c, ok := ChainIDOf(e.Event)
		if !ok || c != *q.ChainID {
			return false
		}
	}
	if !q.TimeRange.Contains(e.OccurredAt) {
		return false
	}
	return true
}

func segMayMatch(s *sealedSeg, iq *index.Query, from uint64) bool {
	if s.info.LastSeq < from {
		return false
	}
	sum := s.ix.Summary()
	if !sum.MayOverlap(iq.Start, iq.End) {
		return false
	}
	for _, clause := range iq.All {
		any := false
		for _, t := range clause {
			if sum.MayContain(t) {
				any = true
				break
			}
		}
		if !any && len(clause) > 0 {
			return false
		}
	}
	return true
}

const fetchChunk = 256

// segJob is a chunk of candidate sequence numbers of one sealed segment.
type segJob struct {
	s    *sealedSeg
	seqs []uint64
	// bulk reads blocks with GetManyBulk: blocks not already cached are
	// decompressed into recycled buffers and not cached, so a scan larger
	// than the cache does not churn it.
	bulk bool
	// recs, when set, are the chunk's records already read, in seq
	// order: a bulk read of a clustered segment reads them in one pass
	// (see bulkUnordered). Their Data points into the read's window of
	// blocks, which is held until done is called.
	recs []segment.Record
	// done, when set, is called exactly once when the chunk's records
	// are no longer used: after decodeJob, or when the job is dropped
	// without being decoded (see segJob.finish).
	done func()
}

// finish calls j.done, if any (decodeJob does; a scan that drops a job
// without decoding it must).
func (j *segJob) finish() {
	if j.done != nil {
		j.done()
		j.done = nil
	}
}

// seqItem is one scan result: an event's sequence number and what the
// scan's codec made of its bytes.
type seqItem[T any] struct {
	Seq uint64
	V   T
}

// scanCodec turns a record's canonical bytes into a scan result. It gets
// bytes valid only during the call, and a, memory shared by the records of
// the chunk being decoded, into which it may copy them; it reports whether
// the event matches q (a mismatch means a corrupt index).
type scanCodec[T any] func(q *EventQuery, raw []byte, a *chunkArena) (v T, match bool, err error)

// chunkArena is what a scan codec shares among the records it decodes,
// so that a chunk costs a few allocations rather than one or more per
// record. A decoding goroutine keeps one from chunk to chunk, so that
// the arrays and blocks a chunk leaves partly filled serve the next.
// Results stay valid after the scan moves on (nothing in an arena is
// written twice); keeping one alive keeps the arrays it shares alive.
type chunkArena struct {
	raw []byte           // copies of canonical records (rawCodec)
	env *envelopeDecoder // decoder sharing strings' arrays (envelopeCodec)
}

// envelopeCodec decodes whole events (Scan, QueryEvents, Follow).
func envelopeCodec(q *EventQuery, raw []byte, a *chunkArena) (ExperienceEventEnvelope, bool, error) {
	if a.env == nil {
		a.env = newEnvelopeDecoder()
	}
	env, err := a.env.decode(raw)
	if err != nil {
		return env, false, err
	}
	return env, matchesDurable(q, &env), nil
}

// segJobs produces the candidate chunks of the sealed segments of v, in
// log order, until emit returns false. want is how many results the caller
// may take (see bulkCandidates).
func (l *Ledger) segJobs(v *view, iq *index.Query, from, want uint64, emit func(*segJob) bool) error {
	// A query without index terms or time bounds reads every block it
	// visits in full: it bypasses the block cache (see segJob.bulk).
	bulk := len(iq.All) == 0 && iq.Start == nil && iq.End == nil
	// The bulk reads of clustered segments reuse one set of buffers
	// from segment to segment (see bulkUnordered).
	bufs := new(bulkBufs)
	defer bufs.bb.DropPrefetch()
	for i, s := range v.segs {
		if !segMayMatch(s, iq, from) {
			v.segsSkipped++
			continue
		}
		v.segsRead++
		if bulk && s.info.Unordered {
			// The next clustered segment's file is read while this
			// one's records are decoded (segment.BulkBuffers.Prefetch).
			for _, n := range v.segs[i+1:] {
				if segMayMatch(n, iq, from) {
					if n.info.Unordered {
						bufs.bb.Prefetch(n.r)
					}
					break
				}
			}
			ok, err := l.bulkUnordered(s, from, nil, bufs, emit)
			if err != nil || !ok {
				return err
			}
			continue
		}
		it, err := index.Eval(s.ix, *iq, uint32(s.info.Count))
		if err != nil {
			return l.readErr(s.r.Path(), err)
		}
		if from > s.info.FirstSeq {
			it.Seek(uint32(from - s.info.FirstSeq))
		}
		if s.info.Unordered && want > 2*fetchChunk {
			ok, err := l.unorderedCandidates(s, it, want, bufs, emit)
			if err != nil || !ok {
				return err
			}
			continue
		}
		// Chunks of an ordered segment end on a block boundary, so that
		// two workers never read and decompress the same block.
		var carry uint64
		hasCarry := false
		for {
			seqs := make([]uint64, 0, fetchChunk+fetchChunk/2)
			if hasCarry {
				seqs, hasCarry = append(seqs, carry), false
			}
			blockEnd := uint64(0)
			for {
				o, ok := it.Next()
				if !ok {
					break
				}
				seq := s.info.FirstSeq + uint64(o)
				if len(seqs) >= fetchChunk {
					if s.info.Unordered {
						carry, hasCarry = seq, true
						break
					}
					if blockEnd == 0 {
						bi, _ := s.r.Locate(seqs[len(seqs)-1])
						inf := s.r.BlockInfo(bi)
						blockEnd = inf.FirstSeq + uint64(inf.Count) - 1
					}
					if seq > blockEnd {
						carry, hasCarry = seq, true
						break
					}
				}
				seqs = append(seqs, seq)
			}
			if len(seqs) == 0 {
				break
			}
			if !emit(&segJob{s: s, seqs: seqs, bulk: bulk}) {
				return nil
			}
		}
	}
	return nil
}

// unorderedCandidates emits the jobs of a query's candidates in a
// clustered segment (the index iterator it). Consecutive seqs lie in
// different blocks there: when the candidates' blocks hold more than half
// the block cache (a time range, whose matches span every (tenant, kind)
// run of the segment), chunks read through the cache would churn it, so
// the blocks are read once each in a bulk pass (bulkUnordered with the
// candidate list); a smaller set is read in chunks through the cache,
// where a repeated query finds its blocks. It reports false when emit did.
func (l *Ledger) unorderedCandidates(s *sealedSeg, it index.Iterator, want uint64, bufs *bulkBufs, emit func(*segJob) bool) (bool, error) {
	var seqs []uint64
	for {
		o, ok := it.Next()
		if !ok {
			break
		}
		seqs = append(seqs, s.info.FirstSeq+uint64(o))
	}
	if len(seqs) == 0 {
		return true, nil
	}
	if uint64(len(seqs)) <= want && l.bulkCandidates(s, seqs) {
		bulkCandidateReads.Add(1)
		return l.bulkUnordered(s, 0, seqs, bufs, emit)
	}
	for len(seqs) > 0 {
		n := min(len(seqs), fetchChunk)
		if !emit(&segJob{s: s, seqs: seqs[:n:n]}) {
			return false, nil
		}
		seqs = seqs[n:]
	}
	return true, nil
}

// bulkCandidateReads counts the segments unorderedCandidates read in bulk
// (for tests).
var bulkCandidateReads atomic.Int64

// bulkCandidates reports whether the blocks holding seqs, a clustered
// segment's candidates, hold more than half the block cache decompressed
// (estimated with the segment's average block).
func (l *Ledger) bulkCandidates(s *sealedSeg, seqs []uint64) bool {
	nb := s.r.NumBlocks()
	avg := max(s.info.RawBytes/int64(nb), 1)
	limit := l.opts.CacheBytes / 2 / avg
	if int64(len(seqs)) <= limit {
		return false
	}
	// One read of the seq map (Locate per seq would read it for each
	// seq when the footer cache does not hold it).
	n, err := s.r.CountBlocks(seqs, int(limit)+1)
	return err == nil && int64(n) > limit
}

// bulkUnordered emits the jobs of a bulk read of a clustered segment (a
// full scan), from seq from on, or of the records of seqs only when seqs
// is not nil. Chunks of consecutive seqs would each
// touch most of its blocks and, the whole segment being read, overflow the
// block cache, so it reads the segment itself in one pass in seq order
// (segment.Reader.ScanBulkHeld decompresses each block once) and hands the
// workers the records to decode where they lie, in the read's window of
// blocks: before the window's blocks are recycled, the read waits until
// every job given records of the window is decoded (or dropped; see
// segJob.done), so nothing is copied. It reports false when emit
// did. (A time range reads through the cache as before: its chunks touch
// one run of blocks per (tenant, kind), which the cache holds, and a
// repeated query then finds them there; docs/benchmarks.md §13.)
func (l *Ledger) bulkUnordered(s *sealedSeg, from uint64, seqs []uint64, bufs *bulkBufs, emit func(*segJob) bool) (bool, error) {
	var j *segJob
	// inflight counts the jobs given records of the current window and
	// not yet finished (segJob.done).
	var inflight sync.WaitGroup
	stopped := false
	flush := func() bool {
		if j == nil {
			return true
		}
		ok := emit(j) // a dropped job is finished by the emitter
		j = nil
		return ok
	}
	// hold runs before the window's blocks are recycled: the pending
	// chunk is emitted (or dropped once the scan has stopped) and every
	// job of the window waited for.
	hold := func() {
		if j != nil {
			if stopped {
				j.finish()
				j = nil
			} else if !flush() {
				stopped = true
			}
		}
		inflight.Wait()
	}
	visit := func(r segment.Record) bool {
		if j == nil {
			inflight.Add(1)
			b := bufs.get()
			j = &segJob{s: s, bulk: true, seqs: b.seqs, recs: b.recs, done: func() {
				bufs.put(b) // nothing reads the chunk's slices once it is done
				inflight.Done()
			}}
		}
		j.seqs = append(j.seqs, r.Seq)
		j.recs = append(j.recs, r)
		if len(j.seqs) == fetchChunk && !flush() {
			stopped = true
			return false
		}
		return true
	}
	workers := min(runtime.GOMAXPROCS(0), 4)
	var err error
	if seqs != nil {
		err = s.r.ScanBulkSeqsHeldWith(&bufs.bb, seqs, workers, visit, hold)
	} else {
		err = s.r.ScanBulkHeldWith(&bufs.bb, max(from, s.info.FirstSeq), s.info.LastSeq, workers, visit, hold)
	}
	hold() // a no-op unless the read ended before visiting a record
	if err != nil {
		return false, l.readErr(s.r.Path(), err)
	}
	if stopped {
		return false, nil
	}
	return true, nil
}

// bulkBufs are the buffers one scan's bulk reads of clustered segments
// reuse from segment to segment: the read's (decompressed blocks and
// tables, see segment.BulkBuffers) and the chunks' seq and record slices,
// returned when their chunk is done. Without them every segment's read
// allocated its tables and chunk slices again, and most of its blocks (a
// sync.Pool that each collection empties; docs/benchmarks.md §13,
// fourth round: scan).
type bulkBufs struct {
	bb   segment.BulkBuffers
	mu   sync.Mutex
	free []chunkBufs
}

// chunkBufs are a bulk chunk's empty slices, of capacity fetchChunk.
type chunkBufs struct {
	seqs []uint64
	recs []segment.Record
}

func (b *bulkBufs) get() chunkBufs {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(b.free); n > 0 {
		c := b.free[n-1]
		b.free = b.free[:n-1]
		return c
	}
	return chunkBufs{seqs: make([]uint64, 0, fetchChunk), recs: make([]segment.Record, 0, fetchChunk)}
}

// put recycles c (its slices as get returned them: the chunk's appends
// stay within their capacity).
func (b *bulkBufs) put(c chunkBufs) {
	b.mu.Lock()
	b.free = append(b.free, c)
	b.mu.Unlock()
}

// decodeJob reads and decodes a chunk, checking every event against the
// query: a corrupt index can never leak an event that does not match. The
// results are appended to out[:0] (a recycled slice, or nil). arena is
// the decoding goroutine's, kept from chunk to chunk (see chunkArena).
func decodeJob[T any](l *Ledger, j *segJob, q *EventQuery, codec scanCodec[T], out []seqItem[T], arena *chunkArena) ([]seqItem[T], error) {
	defer j.finish()
	if cap(out) < len(j.seqs) {
		out = make([]seqItem[T], 0, len(j.seqs))
	}
	out = out[:0]
	var derr error
	get := j.s.r.GetMany
	if j.bulk {
		get = j.s.r.GetManyBulk
	}
	if j.recs != nil {
		get = func(_ []uint64, fn func(segment.Record) bool) error {
			for _, r := range j.recs {
				if !fn(r) {
					break
				}
			}
			return nil
		}
		defer func() { j.recs = nil }()
	}
	err := get(j.seqs, func(rec segment.Record) bool {
		v, match, err := codec(q, rec.Data, arena)
		if err != nil {
			derr = &CorruptionError{File: j.s.r.Path(), Reason: fmt.Sprintf("event seq %d: %v", rec.Seq, err)}
			return false
		}
		if !match {
			derr = &CorruptionError{File: l.segPath(j.s.name, ".idx"), Reason: fmt.Sprintf("index returned seq %d, which does not match the query", rec.Seq)}
			return false
		}
		out = append(out, seqItem[T]{Seq: rec.Seq, V: v})
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, l.readErr(j.s.r.Path(), err)
	}
	return out, nil
}

// scanView yields, in log order, every event of v with seq >= from that
// matches q, stopping when yield returns false. The limit of q is applied
// by the callers; want is how many results they may take (for choosing
// between a sequential and a parallel read). The pointer yield gets is
// valid only during the call (the slice behind it is reused): yield copies
// what it keeps.
func (l *Ledger) scanView(ctx context.Context, v *view, q *EventQuery, iq *index.Query, from uint64, want uint64, yield func(uint64, *ExperienceEventEnvelope) bool) error {
	return scanViewWith(l, ctx, v, q, iq, from, want, envelopeCodec, yield)
}

func scanViewWith[T any](l *Ledger, ctx context.Context, v *view, q *EventQuery, iq *index.Query, from uint64, want uint64, codec scanCodec[T], yield func(uint64, *T) bool) error {
	stopped, err := scanSegments(l, ctx, v, q, iq, from, want, codec, yield)
	if err != nil || stopped {
		return err
	}
	return scanMem(l, ctx, v, q, iq, from, codec, yield)
}

func scanSegments[T any](l *Ledger, ctx context.Context, v *view, q *EventQuery, iq *index.Query, from uint64, want uint64, codec scanCodec[T], yield func(uint64, *T) bool) (stopped bool, err error) {
	workers := runtime.GOMAXPROCS(0)
	if workers > 1 && want > 2*fetchChunk && len(v.segs) > 0 {
		return scanSegmentsParallel(l, ctx, v, q, iq, from, want, min(workers, 4), codec, yield)
	}
	var items []seqItem[T]
	var arena chunkArena
	err = l.segJobs(v, iq, from, want, func(j *segJob) bool {
		if err = ctx.Err(); err != nil {
			j.finish()
			return false
		}
		if items, err = decodeJob(l, j, q, codec, items, &arena); err != nil {
			return false
		}
		for i := range items {
			if !yield(items[i].Seq, &items[i].V) {
				stopped = true
				return false
			}
		}
		clear(items) // the next chunk reuses the slice
		return true
	})
	return stopped, err
}

// pendingJob is a chunk in flight in scanSegmentsParallel.
type pendingJob[T any] struct {
	j   *segJob
	res chan jobResult[T]
}

type jobResult[T any] struct {
	items []seqItem[T]
	err   error
}

// scanSegmentsParallel decodes chunks on several goroutines and yields them
// in order: one producer evaluates the index, workers read, decompress and
// decode, and the caller's goroutine yields. At most a few chunks per
// worker are in flight, so a slow consumer holds the pipeline back.
func scanSegmentsParallel[T any](l *Ledger, ctx context.Context, v *view, q *EventQuery, iq *index.Query, from, want uint64, workers int, codec scanCodec[T], yield func(uint64, *T) bool) (stopped bool, err error) {
	ctx2, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	jobs := make(chan *pendingJob[T], 2*workers)
	order := make(chan *pendingJob[T], 2*workers)
	// Result slices go back to the workers once yielded (yield copies
	// what it keeps), so a scan allocates about 3*workers of them.
	free := make(chan []seqItem[T], 3*workers)
	var perr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(order)
		defer close(jobs)
		perr = l.segJobs(v, iq, from, want, func(j *segJob) bool {
			pj := &pendingJob[T]{j: j, res: make(chan jobResult[T], 1)}
			select {
			case order <- pj:
			case <-ctx2.Done():
				j.finish()
				return false
			}
			select {
			case jobs <- pj:
			case <-ctx2.Done():
				j.finish()
				return false
			}
			return true
		})
	}()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var arena chunkArena
			for pj := range jobs {
				if ctx2.Err() != nil {
					pj.j.finish()
					pj.res <- jobResult[T]{err: ctx2.Err()}
					continue
				}
				var reuse []seqItem[T]
				select {
				case reuse = <-free:
				default:
				}
				items, err := decodeJob(l, pj.j, q, codec, reuse, &arena)
				pj.res <- jobResult[T]{items: items, err: err}
			}
		}()
	}
	for pj := range order {
		var r jobResult[T]
		select {
		case r = <-pj.res:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		if r.err != nil {
			if err := ctx.Err(); err != nil {
				return false, err
			}
			return false, r.err
		}
		for i := range r.items {
			if !yield(r.items[i].Seq, &r.items[i].V) {
				return true, nil
			}
		}
		clear(r.items)
		select {
		case free <- r.items:
		default:
		}
	}
	// order is closed: the producer has finished, so perr is set.
	if perr != nil {
		return false, perr
	}
	return false, ctx.Err()
}

func scanMem[T any](l *Ledger, ctx context.Context, v *view, q *EventQuery, iq *index.Query, from uint64, codec scanCodec[T], yield func(uint64, *T) bool) error {
	for i, m := range v.mts {
		n := v.ns[i]
		if n == 0 || m.base+uint64(n)-1 < from {
			continue
		}
		var fromOrd uint32
		if from > m.base {
			fromOrd = uint32(from - m.base)
		}
		for {
			// Collect a chunk of matching records under the read lock,
			// then decode and yield without it.
			recs := make([][]byte, 0, fetchChunk)
			ords := make([]uint32, 0, fetchChunk)
			l.mu.RLock()
			it, err := index.Eval(m.idx, *iq, uint32(n))
			if err == nil {
				it.Seek(fromOrd)
				for len(recs) < fetchChunk {
					o, ok := it.Next()
					if !ok || int(o) >= n {
						break
					}
					recs = append(recs, m.recs[o])
					ords = append(ords, o)
				}
			}
			l.mu.RUnlock()
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				break
			}
			var arena chunkArena
			for j, rec := range recs {
				v, match, err := codec(q, rec, &arena)
				if err != nil {
					return Storage(fmt.Sprintf("decode event seq %d", m.base+uint64(ords[j])), err)
				}
				if !match {
					return Storage("in-memory index mismatch", fmt.Errorf("seq %d", m.base+uint64(ords[j])))
				}
				if !yield(m.base+uint64(ords[j]), &v) {
					return nil
				}
			}
			fromOrd = ords[len(ords)-1] + 1
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *Ledger) readErr(path string, err error) error {
	if _, ok := err.(*StoreError); ok {
		return err
	}
	return Storage(fmt.Sprintf("read %s", path), err)
}

// QueryEvents returns the events matching q (SPEC §3–4), in log order (or
// occurred_at order with Options.Order = OrderTime).
func (l *Ledger) QueryEvents(ctx context.Context, q EventQuery) ([]ExperienceEventEnvelope, error) {
	return l.QueryEventsOrdered(ctx, q, l.opts.Order)
}

// QueryEventsOrdered is QueryEvents with an explicit result order.
func (l *Ledger) QueryEventsOrdered(ctx context.Context, q EventQuery, order Order) ([]ExperienceEventEnvelope, error) {
	var res resultChunks[ExperienceEventEnvelope]
	for e, err := range l.scanOrdered(ctx, q, order) {
		if err != nil {
			return nil, err
		}
		res.add(e.Envelope)
	}
	return res.slice(), nil
}

// resultChunks gathers a query's results, of a count not known in
// advance, in chunks of doubling capacity (256 up to 16,384) and copies
// them once into a slice of the exact length. Appending to one slice
// copied it at every growth, by 1.25× once past 256 elements, about four
// times its final size in all, and left each old array to the collector:
// 9-10% of the CPU of the 0.1% query at 100M (~97,000 results,
// docs/benchmarks-100m.md, sixth round).
type resultChunks[T any] struct {
	full [][]T
	cur  []T
	n    int
}

func (r *resultChunks[T]) add(v T) {
	if len(r.cur) == cap(r.cur) {
		if r.cur != nil {
			r.full = append(r.full, r.cur)
		}
		r.cur = make([]T, 0, min(max(2*cap(r.cur), 256), 1<<14))
	}
	r.cur = append(r.cur, v)
	r.n++
}

// slice returns the results in the order added (never nil); a single
// chunk is returned as it is.
func (r *resultChunks[T]) slice() []T {
	if len(r.full) == 0 {
		if r.cur == nil {
			return []T{}
		}
		return r.cur
	}
	out := make([]T, 0, r.n)
	for _, c := range r.full {
		out = append(out, c...)
	}
	return append(out, r.cur...)
}

// Scan streams the events matching q in log order, for results too large
// for a slice. The iteration sees one consistent snapshot of the ledger.
// The events are the caller's to keep (the scan never writes to an event
// it has yielded), but events decoded together share memory: their
// strings share 8 KiB arrays, and their structs and slices 2 KiB blocks
// per type, so keeping a few events out of a long scan keeps up to about
// 24 KiB each alive (copy what you keep to avoid it).
func (l *Ledger) Scan(ctx context.Context, q EventQuery) iter.Seq2[ExperienceEventEnvelope, error] {
	return func(yield func(ExperienceEventEnvelope, error) bool) {
		for e, err := range l.scanOrdered(ctx, q, OrderLog) {
			if !yield(e.Envelope, err) || err != nil {
				return
			}
		}
	}
}

// ScanSeq is Scan with sequence numbers, starting at sequence fromSeq.
func (l *Ledger) ScanSeq(ctx context.Context, q EventQuery, fromSeq uint64) iter.Seq2[SeqEnvelope, error] {
	return l.scanFrom(ctx, q, OrderLog, fromSeq)
}

func (l *Ledger) scanOrdered(ctx context.Context, q EventQuery, order Order) iter.Seq2[SeqEnvelope, error] {
	return l.scanFrom(ctx, q, order, 1)
}

// scanStart holds the checks every scan iterator begins with. ok is false
// when the iterator must end at once: with err to yield, or (err nil) when
// q can match nothing. limit is q.Limit, or no limit.
func (l *Ledger) scanStart(ctx context.Context, q *EventQuery) (iq index.Query, limit uint64, ok bool, err error) {
	if l.closed.Load() {
		return iq, 0, false, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return iq, 0, false, err
	}
	if iq, ok = plan(q); !ok {
		return iq, 0, false, nil
	}
	limit = 1<<64 - 1
	if q.Limit != nil {
		limit = *q.Limit
	}
	return iq, limit, true, nil
}

// scanLogOrder yields up to limit results of a log-order scan of v with
// codec, each made by emit; a scan error is returned unless the consumer
// stopped first (emit returned false).
func scanLogOrder[T any](l *Ledger, ctx context.Context, v *view, q *EventQuery, iq *index.Query, from, limit uint64, codec scanCodec[T], emit func(seq uint64, r *T) bool) error {
	var n uint64
	stopped := false
	err := scanViewWith(l, ctx, v, q, iq, from, limit, codec, func(seq uint64, r *T) bool {
		if !emit(seq, r) {
			stopped = true
			return false
		}
		n++
		return n < limit
	})
	if stopped {
		return nil
	}
	return err
}

func (l *Ledger) scanFrom(ctx context.Context, q EventQuery, order Order, from uint64) iter.Seq2[SeqEnvelope, error] {
	return func(yield func(SeqEnvelope, error) bool) {
		iq, limit, ok, err := l.scanStart(ctx, &q)
		if err != nil {
			yield(SeqEnvelope{}, err)
			return
		}
		ctx, obs := l.startQuery(ctx, &iq, ok)
		var v view
		var qerr error
		defer func() {
			l.doneQuery(obs, &v, qerr)
			v.release()
		}()
		if !ok {
			return
		}
		inner := yield
		yield = func(e SeqEnvelope, err error) bool {
			if err != nil {
				qerr = err
			} else {
				obs.results++
			}
			return inner(e, err)
		}
		v = l.snapshot()
		if order == OrderTime {
			var all []SeqEnvelope
			err := l.scanView(ctx, &v, &q, &iq, from, 1<<64-1, func(seq uint64, e *ExperienceEventEnvelope) bool {
				all = append(all, SeqEnvelope{Seq: seq, Envelope: *e})
				return true
			})
			if err != nil {
				yield(SeqEnvelope{}, err)
				return
			}
			slices.SortStableFunc(all, func(a, b SeqEnvelope) int {
				switch {
				case a.Envelope.OccurredAt < b.Envelope.OccurredAt:
					return -1
				case a.Envelope.OccurredAt > b.Envelope.OccurredAt:
					return 1
				}
				return 0
			})
			for i := range all {
				if uint64(i) >= limit || !yield(all[i], nil) {
					return
				}
			}
			return
		}
		err = scanLogOrder(l, ctx, &v, &q, &iq, from, limit, envelopeCodec, func(seq uint64, e *ExperienceEventEnvelope) bool {
			return yield(SeqEnvelope{Seq: seq, Envelope: *e}, nil)
		})
		if err != nil {
			yield(SeqEnvelope{}, err)
		}
	}
}

// Follow is a catch-up subscription: it yields every event matching q from
// sequence number fromSeq on (0 or 1 = the beginning), then each new
// matching event as it commits, until ctx is done (yielding ctx.Err()), the
// ledger closes (ErrClosed) or the consumer stops. The consumer's pace is
// the backpressure: nothing is buffered beyond one read chunk. q.Limit, if
// set, bounds the number of events delivered.
func (l *Ledger) Follow(ctx context.Context, q EventQuery, fromSeq uint64) iter.Seq2[SeqEnvelope, error] {
	return func(yield func(SeqEnvelope, error) bool) {
		iq, ok := plan(&q)
		if !ok {
			return
		}
		limit := uint64(1<<64 - 1)
		if q.Limit != nil {
			limit = *q.Limit
		}
		cursor := max(fromSeq, 1)
		var delivered uint64
		for {
			if l.closed.Load() {
				yield(SeqEnvelope{}, ErrClosed)
				return
			}
			l.mu.RLock()
			notify := l.notify
			v := l.snapshotLocked()
			l.mu.RUnlock()
			last := v.lastSeq()
			if cursor <= last {
				stopped := false
				err := l.scanView(ctx, &v, &q, &iq, cursor, limit-delivered, func(seq uint64, e *ExperienceEventEnvelope) bool {
					if !yield(SeqEnvelope{Seq: seq, Envelope: *e}, nil) {
						stopped = true
						return false
					}
					delivered++
					if delivered >= limit {
						stopped = true
						return false
					}
					return true
				})
				v.release()
				if stopped {
					return
				}
				if err != nil {
					yield(SeqEnvelope{}, err)
					return
				}
				cursor = last + 1
			}
			// The view's segments are released before waiting for the
			// next commit (a follower may wait for long).
			v.release()
			select {
			case <-ctx.Done():
				yield(SeqEnvelope{}, ctx.Err())
				return
			case <-notify:
			}
		}
	}
}

// GetTraceLink returns the trace of the most recent ReplayTraceRecorded
// event with this id, or (nil, nil) when there is none.
func (l *Ledger) GetTraceLink(ctx context.Context, id TraceLinkID) (*ReplayTrace, error) {
	defer l.observePoint(planTraceLink, time.Now())
	if l.closed.Load() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t := index.Term{Field: index.FieldTraceRecord, Value: string(id)}
	check := func(env *ExperienceEventEnvelope, where string) (*ReplayTrace, error) {
		rt, ok := env.Event.(*ReplayTraceRecorded)
		if !ok || rt.TraceLinkID != id {
			return nil, Storage("trace index mismatch", fmt.Errorf("%s", where))
		}
		tr := rt.TraceLink
		return &tr, nil
	}
	l.mu.RLock()
	mts := append(append([]*memtable(nil), l.frozen...), l.active)
	set := l.acquireSegs()
	defer l.releaseSegs(set)
	segs := set.segs
	for i := len(mts) - 1; i >= 0; i-- {
		m := mts[i]
		bm, err := m.idx.Postings(t)
		if err != nil {
			l.mu.RUnlock()
			return nil, Storage("trace lookup", err)
		}
		// Entries past the visible records are staged: their batch is
		// not durable yet (see Ledger.stage).
		if n := len(m.recs); bm != nil && !bm.IsEmpty() && int(bm.Maximum()) >= n {
			bm.RemoveRange(uint64(n), uint64(bm.Maximum())+1)
		}
		if bm == nil || bm.IsEmpty() {
			continue
		}
		rec := m.recs[bm.Maximum()]
		l.mu.RUnlock()
		env, err := UnmarshalCanonical(rec)
		if err != nil {
			return nil, Storage("decode trace event", err)
		}
		return check(&env, "memtable")
	}
	l.mu.RUnlock()
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		if !s.ix.Summary().MayContain(t) {
			continue
		}
		bm, err := s.ix.Postings(t)
		if err != nil {
			return nil, l.readErr(s.r.Path(), err)
		}
		if bm == nil || bm.IsEmpty() {
			continue
		}
		rec, err := s.r.Get(s.info.FirstSeq + uint64(bm.Maximum()))
		if err != nil {
			return nil, l.readErr(s.r.Path(), err)
		}
		env, err := UnmarshalCanonical(rec.Data)
		if err != nil {
			return nil, l.readErr(s.r.Path(), &CorruptionError{File: s.r.Path(), Reason: err.Error()})
		}
		return check(&env, s.name)
	}
	return nil, nil
}

// Get returns the event with this id (the first one, when the ledger was
// written with AllowDuplicates). A missing id gives ErrNotFound.
func (l *Ledger) Get(ctx context.Context, id EventID) (ExperienceEventEnvelope, error) {
	defer l.observePoint(planEventID, time.Now())
	if l.closed.Load() {
		return ExperienceEventEnvelope{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return ExperienceEventEnvelope{}, err
	}
	v := l.snapshot()
	defer v.release()
	for _, s := range v.segs {
		b, _, ok, err := s.findID(id, false)
		if err != nil {
			return ExperienceEventEnvelope{}, l.readErr(s.r.Path(), err)
		}
		if ok {
			return UnmarshalCanonical(b)
		}
	}
	for i, m := range v.mts {
		l.mu.RLock()
		ords, _ := m.idx.EventID(string(id))
		var rec []byte
		for _, o := range ords {
			if int(o) < v.ns[i] {
				rec = m.recs[o]
				break
			}
		}
		l.mu.RUnlock()
		if rec != nil {
			return UnmarshalCanonical(rec)
		}
	}
	return ExperienceEventEnvelope{}, NotFound(fmt.Sprintf("event %s", id))
}

// RawRecord is one event as stored: its sequence number, the fields a
// query filters and groups on, and its canonical bytes, without the event
// body decoded.
type RawRecord struct {
	Seq    uint64
	Header EnvelopeHeader
	// Canonical is the event's canonical msgpack encoding;
	// UnmarshalCanonical decodes it. It stays valid after the iteration
	// moves on but must not be modified, and it may share an allocation
	// with neighbouring records (copy it to keep one record for long).
	Canonical []byte
}

// ScanRaw is ScanSeq without decoding event bodies: it yields, in log
// order, every event matching q with seq >= fromSeq (0 or 1 = the
// beginning), with its header fields (DecodeHeader) and canonical bytes.
// For replication, backup, re-indexing or aggregation by tenant, kind and
// time it is about twice as fast as a full decode. Every record is still
// checked against q, so a corrupt index cannot leak an event. q.Limit, if
// set, bounds the number of records; the result order is always the log's.
func (l *Ledger) ScanRaw(ctx context.Context, q EventQuery, fromSeq uint64) iter.Seq2[RawRecord, error] {
	return func(yield func(RawRecord, error) bool) {
		iq, limit, ok, err := l.scanStart(ctx, &q)
		if !ok {
			if err != nil {
				yield(RawRecord{}, err)
			}
			return
		}
		v := l.snapshot()
		defer v.release()
		err = scanLogOrder(l, ctx, &v, &q, &iq, max(fromSeq, 1), limit, rawCodec, func(seq uint64, r *RawRecord) bool {
			r.Seq = seq
			return yield(*r, nil)
		})
		if err != nil {
			yield(RawRecord{}, err)
		}
	}
}

// rawArenaBytes is the initial size of a chunk's copy of raw records.
const rawArenaBytes = 64 << 10

// rawCodec decodes the header only and copies the bytes into the chunk's
// arena (the block buffers they come from are recycled).
func rawCodec(q *EventQuery, raw []byte, a *chunkArena) (RawRecord, bool, error) {
	h, err := DecodeHeader(raw)
	if err != nil {
		return RawRecord{}, false, err
	}
	if cap(a.raw)-len(a.raw) < len(raw) {
		a.raw = make([]byte, 0, max(rawArenaBytes, 4*len(raw)))
	}
	start := len(a.raw)
	a.raw = append(a.raw, raw...)
	return RawRecord{Header: h, Canonical: a.raw[start:len(a.raw):len(a.raw)]}, matchesHeader(q, &h), nil
}

// matchesHeader is matchesDurable on a decoded header.
func matchesHeader(q *EventQuery, h *EnvelopeHeader) bool {
	if q.TenantID != nil && (!h.HasTenant || h.TenantID != *q.TenantID) {
		return false
	}
	if q.CorrelationID != nil && (!h.HasCorrelation || h.CorrelationID != *q.CorrelationID) {
		return false
	}
	if len(q.Kinds) > 0 && !slices.Contains(q.Kinds, h.Kind) {
		return false
	}
	if q.ChainID != nil && (!h.HasChain || h.ChainID != *q.ChainID) {
		return false
	}
	if !q.TimeRange.Contains(h.OccurredAt) {
		return false
	}
	return true
}
