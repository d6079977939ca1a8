package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/exledger/exledger/index"
	"github.com/exledger/exledger/wal"
)

// memtable is the in-memory view of committed events not yet in a sealed
// segment. Records are only ever appended (under Ledger.mu), so a reader
// that captured len(recs) under the read lock can read recs[:n] afterwards
// without the lock.
type memtable struct {
	base  uint64 // sequence number of recs[0]
	recs  [][]byte
	times []string
	// idHashes are the event-id hashes of recs, for the ledger-wide
	// event-id filter when the memtable is sealed.
	idHashes []uint64
	idx      *index.Mem
	// staged counts the index entries added (by stage, while the WAL's
	// fdatasync was in flight) for ordinals past len(recs): records not
	// yet visible. Readers bound every index lookup by len(recs).
	staged int
	// tainted is set when a staged batch failed: idx then holds entries
	// for records that will never exist, so sealing rebuilds the index
	// from recs (see sealIndex).
	tainted bool
	bytes   int64
	created time.Time
	// reserved: reserve ran (the first batch sized the memtable).
	reserved bool
	// ids is a Bloom filter over the event-id hashes of the entries added
	// to idx (staged ones included), so that the duplicate check skips the
	// memtable's id map for ids certainly not in it. nil (before reserve)
	// means "maybe" for every id. Written where idx is (the committer's
	// stage and apply), read by the committer's prepare.
	ids *bloom32
	// vecs[i] is the vector of recs[i] (nil: none); nil until the first
	// vector arrives, shorter than recs when the last events have none.
	vecs [][]float32
	nvec int
}

func newMemtable(base uint64) *memtable {
	return &memtable{base: base, idx: index.NewMem(), created: time.Now()}
}

// maxReserve bounds the events a memtable reserves room for.
const maxReserve = 1 << 18

// reserve sizes an empty memtable for the events that fill a segment at
// the recent average event size, so that its index maps and columns are
// allocated once instead of growing (and rehashing) as it fills. Called
// under Ledger.mu before the first event is added; a no-op afterwards or
// before any event size is known.
func (l *Ledger) reserve(m *memtable) {
	if len(m.recs) != 0 || m.staged != 0 || m.reserved {
		return
	}
	m.reserved = true
	avg := l.avgEvent.Load()
	if avg <= 0 {
		// No event size known yet (a WAL replay at Open): size the id
		// filter only, for small events.
		m.ids = newBloom32(int(min(l.opts.SegmentBytes/256+1, maxReserve)))
		return
	}
	n := int(min(l.opts.SegmentBytes/avg+1, maxReserve))
	m.ids = newBloom32(n)
	m.idx.Reserve(n)
	m.recs = make([][]byte, 0, n)
	m.times = make([]string, 0, n)
	m.idHashes = make([]uint64, 0, n)
}

// addID adds an event-id hash to the memtable's id filter.
func (m *memtable) addID(h uint64) {
	if m.ids != nil {
		m.ids.add(memtableIDHash(h))
	}
}

func (m *memtable) lastSeq() uint64 { return m.base + uint64(len(m.recs)) - 1 }

// entry is the per-event data carried through the WAL committer (Aux).
type entry struct {
	id     EventID
	idHash uint64 // eventIDHash(id), computed on the caller's goroutine
	time   string
	terms  []index.Term
	vec    []float32 // the event's vector (AppendVectorEvents), or nil
}

// newEntry returns the entry of an event with these id, time and terms.
func newEntry(id EventID, time string, terms []index.Term) entry {
	return entry{id: id, idHash: eventIDHash(id), time: time, terms: terms}
}

// termsOf returns the index terms of an event header. The same function
// serves the in-memory index and the segment index builder, so a rebuilt
// index is identical to the one built at seal time.
func termsOf(h *EnvelopeHeader, dst []index.Term) []index.Term {
	dst = append(dst, index.Term{Field: index.FieldKind, Value: string(h.Kind)})
	dst = append(dst, index.Term{Field: index.FieldEventID, Value: string(h.EventID)})
	if h.HasTenant {
		dst = append(dst, index.Term{Field: index.FieldTenant, Value: string(h.TenantID)})
	}
	if h.HasCorrelation {
		dst = append(dst, index.Term{Field: index.FieldCorrelation, Value: string(h.CorrelationID)})
	}
	if h.HasChain {
		dst = append(dst, index.Term{Field: index.FieldChain, Value: string(h.ChainID)})
	}
	if h.HasTraceLink {
		f := index.FieldTraceRef
		if h.Kind == KindReplayTraceRecorded {
			f = index.FieldTraceRecord
		}
		dst = append(dst, index.Term{Field: f, Value: string(h.TraceLinkID)})
	}
	if h.HasArtifact {
		dst = append(dst, index.Term{Field: index.FieldArtifact, Value: string(h.ArtifactID)})
	}
	return dst
}

// AppendEvent appends one event. It is validated first; on success it is
// durable under the configured sync policy.
func (l *Ledger) AppendEvent(ctx context.Context, e ExperienceEventEnvelope) error {
	return l.AppendEvents(ctx, []ExperienceEventEnvelope{e})
}

// AppendEvents validates every event, then commits the batch atomically:
// after any crash either all of it is visible or none.
func (l *Ledger) AppendEvents(ctx context.Context, es []ExperienceEventEnvelope) error {
	return l.appendObserved(ctx, es, nil)
}

// appendEvents is AppendEvents without instrumentation; with timed, it
// returns the time spent in the WAL commit. vecs, when not nil, holds the
// vector of each event (nil: that event has none).
func (l *Ledger) appendEvents(ctx context.Context, es []ExperienceEventEnvelope, vecs [][]float32, timed bool) (wait time.Duration, err error) {
	if l.closed.Load() {
		return 0, ErrClosed
	}
	if l.opts.ReadOnly {
		return 0, ErrReadOnly
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if len(es) == 0 {
		return 0, nil
	}
	for i := range es {
		if es[i].Event == nil {
			return 0, InvalidQuery("event must not be null")
		}
		if err := Validate(es[i]); err != nil {
			return 0, err
		}
		if vecs != nil && vecs[i] != nil {
			if err := l.checkVector(vecs[i]); err != nil {
				return 0, err
			}
		}
	}
	var recs [][]byte
	var ents []entry
	if vecs == nil {
		var sc *batchScratch
		sc, err = l.encodeBatchScratch(es)
		if sc != nil {
			recs, ents = sc.recs, sc.ents
			// The WAL holds no reference to recs or ents once Commit has
			// returned (the memtable copies what it keeps), so the slices
			// serve the next batch.
			defer sc.release()
		}
	} else {
		recs, ents, err = l.encodeVectorBatch(es, vecs)
	}
	if err != nil {
		return 0, err
	}
	if err := l.waitForSealer(ctx); err != nil {
		return 0, err
	}
	var start time.Time
	if timed {
		start = time.Now()
	}
	_, err = l.wal.Commit(ctx, recs, ents)
	if timed {
		wait = time.Since(start)
	}
	if err != nil {
		var se *StoreError
		if errors.As(err, &se) {
			return wait, err
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return wait, err
		}
		if errors.Is(err, wal.ErrClosed) {
			return wait, ErrClosed
		}
		return wait, Storage("append", err)
	}
	l.appends.Add(1)
	return wait, nil
}

// parallelEncodeMin is the batch size from which AppendEvents encodes on
// several goroutines.
const parallelEncodeMin = 256

// batchScratch holds the per-batch slices of an append that do not
// outlive it (the record list, the entries and their index terms), reused
// from batch to batch through scratchPool: about 340 B per event that are
// otherwise allocated, zeroed and collected for every batch.
type batchScratch struct {
	recs  [][]byte
	ents  []entry
	terms []index.Term
}

var scratchPool sync.Pool

// maxTermsPerEvent is the most index terms termsOf returns for one event.
const maxTermsPerEvent = 7

func getScratch(n int) *batchScratch {
	sc, _ := scratchPool.Get().(*batchScratch)
	if sc == nil {
		sc = &batchScratch{}
	}
	if cap(sc.recs) < n {
		sc.recs = make([][]byte, n)
		sc.ents = make([]entry, n)
		sc.terms = make([]index.Term, 0, maxTermsPerEvent*n)
	}
	sc.recs, sc.ents, sc.terms = sc.recs[:n], sc.ents[:n], sc.terms[:0]
	return sc
}

// release clears the references the scratch holds (the caller's strings,
// the encoded records) and returns it to the pool. Batches far larger
// than usual are left to the collector.
func (sc *batchScratch) release() {
	clear(sc.recs)
	clear(sc.ents)
	clear(sc.terms[:cap(sc.terms)])
	if cap(sc.recs) > 1<<14 {
		return
	}
	scratchPool.Put(sc)
}

// encodeBatch is encodeBatchScratch with slices the caller owns.
func (l *Ledger) encodeBatch(es []ExperienceEventEnvelope) ([][]byte, []entry, error) {
	sc, err := l.encodeBatchScratch(es)
	if err != nil {
		return nil, nil, err
	}
	return sc.recs, sc.ents, nil
}

// encodeBatchScratch encodes es to canonical msgpack and extracts their
// index entries, into pooled slices (see batchScratch; on error the
// scratch is released and nil returned). Large batches are split into
// contiguous parts encoded on up to GOMAXPROCS (at most 4) goroutines; the
// result is the same either way.
func (l *Ledger) encodeBatchScratch(es []ExperienceEventEnvelope) (sc *batchScratch, err error) {
	sc = getScratch(len(es))
	defer func() {
		if err != nil {
			sc.release()
			sc = nil
		}
	}()
	recs, ents := sc.recs, sc.ents
	// Part p's terms go to its own region of sc.terms (at most
	// maxTermsPerEvent per event), so parts never share a backing array
	// position.
	termsFor := func(lo, hi int) []index.Term {
		return sc.terms[maxTermsPerEvent*lo : maxTermsPerEvent*lo : maxTermsPerEvent*hi]
	}
	parts := min(runtime.GOMAXPROCS(0), 4, len(es)/(parallelEncodeMin/2))
	if parts <= 1 {
		n, err := l.encodePart(es, recs, ents, termsFor(0, len(es)), 0)
		if err != nil {
			return sc, err
		}
		if n > l.opts.MaxBatchBytes {
			return sc, batchTooLarge(n, l.opts.MaxBatchBytes)
		}
		l.avgEvent.Store(int64(n/len(es)) + 16)
		return sc, nil
	}
	var wg sync.WaitGroup
	sizes := make([]int, parts)
	errs := make([]error, parts)
	for p := range parts {
		lo, hi := p*len(es)/parts, (p+1)*len(es)/parts
		wg.Go(func() {
			sizes[p], errs[p] = l.encodePart(es[lo:hi], recs[lo:hi], ents[lo:hi], termsFor(lo, hi), lo)
		})
	}
	wg.Wait()
	total := 0
	for p := range parts {
		if errs[p] != nil {
			return sc, errs[p] // the first failing part holds the first bad event
		}
		total += sizes[p]
	}
	if total > l.opts.MaxBatchBytes {
		return sc, batchTooLarge(total, l.opts.MaxBatchBytes)
	}
	l.avgEvent.Store(int64(total/len(es)) + 16)
	return sc, nil
}

func batchTooLarge(n, max int) error {
	return InvalidQuery(fmt.Sprintf("batch is %d bytes, over the maximum batch size of %d bytes", n, max))
}

// encodePart encodes es into buffers that the memtable keeps once the
// batch commits (the WAL copies them into its frame), so the bytes are
// copied exactly once on the way to the log and never again. The buffer is
// sized from the recent average event size; an event that does not fit in
// what is left of it is not grown into a new copy of the whole buffer (as
// append would do, copying every event encoded so far), it starts a new
// buffer sized for the rest of the part: only that event's bytes are
// copied again. recs and ents receive each event's bytes and index entry,
// the entries' terms are appended to termBuf (which has room for
// maxTermsPerEvent per event); base is es[0]'s position in the batch (for
// error messages). It returns the bytes encoded.
func (l *Ledger) encodePart(es []ExperienceEventEnvelope, recs [][]byte, ents []entry, termBuf []index.Term, base int) (int, error) {
	est := int(l.avgEvent.Load())
	if est == 0 {
		est = 1024
	}
	buf := make([]byte, 0, est*len(es)+est)
	total := 0
	for i := range es {
		start := len(buf)
		free := cap(buf) - start
		out, err := AppendCanonical(buf[start:start:cap(buf)], &es[i])
		if err != nil {
			return 0, InvalidQuery(fmt.Sprintf("event %d: %v", base+i, err))
		}
		n := len(out)
		if n > l.opts.MaxEventBytes {
			return 0, InvalidQuery(fmt.Sprintf("event %s is %d bytes, over the maximum event size of %d bytes", es[i].EventID, n, l.opts.MaxEventBytes))
		}
		if cap(out) == free {
			// Encoded in place (append only reallocates to a larger cap).
			buf = buf[:start+n]
		} else {
			// out is a private array: move the event to a new buffer for
			// the rest of the part.
			buf = append(make([]byte, 0, est*(len(es)-i)+n+est), out...)
			start = 0
		}
		recs[i] = buf[start : start+n : start+n]
		total += n
		h := HeaderOf(&es[i])
		k := len(termBuf)
		termBuf = termsOf(&h, termBuf)
		ents[i] = newEntry(es[i].EventID, string(es[i].OccurredAt), termBuf[k:len(termBuf):len(termBuf)])
	}
	return total, nil
}

// maxFrozen bounds the full memtables waiting for the background sealer.
const maxFrozen = 2

// waitForSealer applies backpressure: while maxFrozen full memtables wait
// to be sealed, appends wait (memory stays bounded). If sealing is
// failing, it returns the sealer's error instead of waiting forever.
func (l *Ledger) waitForSealer(ctx context.Context) error {
	stalled := false
	for {
		l.mu.RLock()
		nf, ch := len(l.frozen), l.sealDone
		l.mu.RUnlock()
		if nf < maxFrozen {
			return nil
		}
		if !stalled {
			stalled = true
			l.stalls.Add(1)
		}
		if s, ok := l.bgErr.Load().(string); ok && s != "" {
			return Storage("appends paused: sealing segments fails", errors.New(s))
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.stop:
			return ErrClosed
		case <-time.After(100 * time.Millisecond): // re-check bgErr
		}
	}
}

// prepare runs in the WAL committer, one batch at a time in commit order.
// It drops idempotent re-appends and rejects a reused event_id with other
// content.
func (l *Ledger) prepare(b *wal.Batch) error {
	if l.opts.AllowDuplicates {
		return nil
	}
	ents := b.Aux.([]entry)
	// The memtables (newest first) and segments as of now, taken once per
	// batch. Only this goroutine (the WAL committer) appends to memtables,
	// so their records and indexes can be read without the lock; the
	// sealer only moves whole memtables into segments.
	l.mu.RLock()
	mts := append(l.dupMts[:0], l.active)
	for i := len(l.frozen) - 1; i >= 0; i-- {
		mts = append(mts, l.frozen[i])
	}
	set := l.acquireSegs()
	l.mu.RUnlock()
	defer l.releaseSegsAsync(set)
	segs := set.segs
	if len(segs) > 0 && !l.ids.started.Load() {
		// The first append that meets sealed segments starts the
		// ledger-wide id filter's build; until it ends, the lookups
		// below probe the segments' own indexes.
		l.startIDFilter(set)
	}
	l.dupMts = mts
	defer clear(l.dupMts) // do not pin sealed memtables
	// Ids of this batch go straight into l.pending (so a repeat inside the
	// batch finds its first occurrence); added lists them for a rollback.
	added := l.dupAdded[:0]
	defer func() { l.dupAdded = added[:0] }()
	keepRecs := b.Records[:0:0]
	var keepEnts []entry
	dropped := false
	for i, rec := range b.Records {
		id := ents[i].id
		prev, found := l.pending[id]
		var prevVec []float32
		if !found {
			var err error
			prev, prevVec, found, err = l.lookupDurable(id, ents[i].idHash, mts, segs)
			if err != nil {
				l.rollbackPending(added)
				return Storage("duplicate check", err)
			}
		}
		if found {
			if !sameRecord(prev, prevVec, rec) {
				l.rollbackPending(added)
				return InvalidQuery(fmt.Sprintf("duplicate event_id %s with different content", id))
			}
			if !dropped {
				dropped = true
				keepRecs = append(keepRecs, b.Records[:i]...)
				keepEnts = append(keepEnts, ents[:i]...)
			}
			continue
		}
		l.pending[id] = rec
		added = append(added, id)
		if dropped {
			keepRecs = append(keepRecs, rec)
			keepEnts = append(keepEnts, ents[i])
		}
	}
	if dropped {
		b.Records = keepRecs
		b.Aux = keepEnts
	}
	return nil
}

// rollbackPending removes a rejected batch's ids from l.pending.
func (l *Ledger) rollbackPending(ids []EventID) {
	for _, id := range ids {
		delete(l.pending, id)
	}
}

// lookupDurable finds the canonical bytes of the event with this id in
// the memtables mts (newest first), then in the sealed segments (newest
// first). It runs on the WAL committer (see prepare).
func (l *Ledger) lookupDurable(id EventID, h uint64, mts []*memtable, segs []*sealedSeg) ([]byte, []float32, bool, error) {
	for _, m := range mts {
		if m.ids != nil && !m.ids.has(memtableIDHash(h)) {
			continue // certainly not in this memtable
		}
		ords, _ := m.idx.EventID(string(id))
		for _, o := range ords {
			if int(o) < len(m.recs) {
				var v []float32
				if int(o) < len(m.vecs) {
					v = m.vecs[o]
				}
				return m.recs[o], v, true, nil
			}
		}
	}
	if len(segs) == 0 || !l.ids.maySealed(h) {
		return nil, nil, false, nil
	}
	for i := len(segs) - 1; i >= 0; i-- {
		b, v, ok, err := segs[i].findID(id, true)
		if err != nil || ok {
			return b, v, ok, err
		}
	}
	return nil, nil, false, nil
}

// findID returns the bytes of the event with this id in the segment, and
// with withVec its vector.
func (s *sealedSeg) findID(id EventID, withVec bool) ([]byte, []float32, bool, error) {
	ords, err := s.ix.EventID(string(id))
	if err != nil || len(ords) == 0 {
		return nil, nil, false, err
	}
	for _, o := range ords {
		rec, err := s.r.Get(s.info.FirstSeq + uint64(o))
		if err != nil {
			return nil, nil, false, err
		}
		h, err := DecodeHeader(rec.Data)
		if err != nil {
			return nil, nil, false, err
		}
		if h.EventID == id {
			var v []float32
			if withVec {
				if v, err = s.vectorOf(o); err != nil {
					return nil, nil, false, err
				}
			}
			return bytes.Clone(rec.Data), v, true, nil
		}
	}
	return nil, nil, false, nil
}

// apply runs in the WAL committer after the batch is durable: it makes the
// whole batch visible at once.
func (l *Ledger) apply(b *wal.Batch) {
	ents, _ := b.Aux.([]entry)
	if len(b.Records) == 0 {
		return
	}
	l.applyRecords(b.FirstSeq, b.Records, ents, true)
	for _, e := range ents {
		delete(l.pending, e.id)
	}
}

// stage runs in the WAL committer once the batch is written, while its
// fdatasync is in flight: it adds the batch's index entries to the active
// memtable past its visible records, so that apply has only to publish.
func (l *Ledger) stage(b *wal.Batch) {
	ents, _ := b.Aux.([]entry)
	if len(b.Records) == 0 {
		return
	}
	l.mu.Lock()
	m := l.active
	l.reserve(m)
	ord := uint32(len(m.recs) + m.staged)
	for i := range b.Records {
		m.idx.Add(ord+uint32(i), ents[i].time, ents[i].terms)
		m.addID(ents[i].idHash)
	}
	m.staged += len(b.Records)
	l.mu.Unlock()
}

// unstage runs when a staged batch failed (the WAL is poisoned): its ids
// leave the duplicate check, and the memtable's index, which holds entries
// that will never be published, is marked for a rebuild.
func (l *Ledger) unstage(b *wal.Batch) {
	ents, _ := b.Aux.([]entry)
	for _, e := range ents {
		delete(l.pending, e.id)
	}
	if len(b.Records) == 0 {
		return
	}
	l.mu.Lock()
	m := l.active
	m.tainted = true
	m.staged -= min(m.staged, len(b.Records))
	if m.staged == 0 {
		l.unstaged.Broadcast()
	}
	l.mu.Unlock()
}

// applyRecords makes a batch visible. The memtable takes ownership of the
// record slices: callers never reuse them. staged says whether stage
// already added the batch's index entries.
func (l *Ledger) applyRecords(first uint64, recs [][]byte, ents []entry, staged bool) {
	l.mu.Lock()
	m := l.active
	l.reserve(m)
	if want := m.base + uint64(len(m.recs)); first != want {
		// The WAL assigns dense sequence numbers; anything else is a bug.
		l.mu.Unlock()
		panic(fmt.Sprintf("ledger: batch seq %d applied, expected %d", first, want))
	}
	if staged {
		if m.staged < len(recs) {
			l.mu.Unlock()
			panic(fmt.Sprintf("ledger: batch seq %d applied with %d staged entries for %d records", first, m.staged, len(recs)))
		}
		m.staged -= len(recs)
		if m.staged == 0 {
			l.unstaged.Broadcast()
		}
	}
	for i, r := range recs {
		ord := uint32(len(m.recs))
		m.bytes += int64(len(r))
		if ents[i].vec != nil {
			r = r[vecRecordHeader+4*len(ents[i].vec):] // the canonical event
			m.addVector(int(ord), ents[i].vec)
		}
		m.recs = append(m.recs, r)
		m.times = append(m.times, ents[i].time)
		m.idHashes = append(m.idHashes, ents[i].idHash)
		if !staged {
			m.idx.Add(ord, ents[i].time, ents[i].terms)
			m.addID(ents[i].idHash)
		}
	}
	l.events.Add(uint64(len(recs)))
	full := m.bytes >= l.opts.SegmentBytes && m.staged == 0
	if full {
		l.frozen = append(l.frozen, m)
		l.active = newMemtable(m.lastSeq() + 1)
	}
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
	if full {
		l.kickSeal()
	}
}

// replay feeds a recovered WAL batch into the memtable during Open.
func (l *Ledger) replay(b *wal.Batch) error {
	next := l.active.base + uint64(len(l.active.recs))
	if b.FirstSeq+uint64(len(b.Records)) <= next {
		return nil // already sealed
	}
	if b.FirstSeq != next {
		return fmt.Errorf("wal batch at seq %d does not continue the ledger at seq %d", b.FirstSeq, next)
	}
	ents := make([]entry, len(b.Records))
	for i, rec := range b.Records {
		canon, vraw, err := splitRecord(rec)
		if err != nil {
			return fmt.Errorf("wal record seq %d: %w", b.FirstSeq+uint64(i), err)
		}
		h, err := DecodeHeader(canon)
		if err != nil {
			return fmt.Errorf("wal record seq %d: %w", b.FirstSeq+uint64(i), err)
		}
		ents[i] = newEntry(h.EventID, string(h.OccurredAt), termsOf(&h, nil))
		if vraw != nil {
			if err := l.checkReplayedVector(vraw); err != nil {
				return fmt.Errorf("wal record seq %d: %w", b.FirstSeq+uint64(i), err)
			}
			ents[i].vec = floatsOf(vraw)
		}
	}
	l.applyRecords(b.FirstSeq, b.Records, ents, false)
	l.recoveredWAL += uint64(len(b.Records))
	return nil
}

var (
	ulidMu      sync.Mutex
	ulidEntropy = ulid.Monotonic(rand.Reader, 0)
)

func newULID() string {
	ulidMu.Lock()
	defer ulidMu.Unlock()
	return ulid.MustNew(ulid.Now(), ulidEntropy).String()
}

// WriteArtifactStateTransition appends an ArtifactStateTransitioned event.
// Unlike the reference store, its event_id is unique across restarts
// ("evt-" + ULID), occurred_at is the lifecycle event's timestamp (now, in
// RFC 3339 UTC, when empty), and tenant_id is the lifecycle event's tenant
// when that is a valid id.
func (l *Ledger) WriteArtifactStateTransition(ctx context.Context, id ArtifactID, kind ArtifactKind, ev LifecycleEvent) error {
	if l.closed.Load() {
		return ErrClosed
	}
	return l.AppendEvent(ctx, artifactTransitionEnvelope(id, kind, ev))
}

func artifactTransitionEnvelope(id ArtifactID, kind ArtifactKind, ev LifecycleEvent) ExperienceEventEnvelope {
	ts := Timestamp(ev.Timestamp)
	if ts == "" {
		ts = Timestamp(time.Now().UTC().Format(time.RFC3339Nano))
	}
	env := ExperienceEventEnvelope{
		EventID:    EventID("evt-" + newULID()),
		OccurredAt: ts,
		Event: &ArtifactStateTransitioned{
			ArtifactID:   id,
			ArtifactKind: kind,
			Event:        ev,
		},
	}
	if ev.TenantID != nil && validID(*ev.TenantID) {
		t := TenantID(*ev.TenantID)
		env.TenantID = &t
	}
	return env
}

// validID reports whether s passes the identifier rule of SPEC §4.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
