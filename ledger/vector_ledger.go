package ledger

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/exledger/exledger/index"
)

// setEmbeddingDim reconciles Options.EmbeddingDim with the manifest at
// Open: a dimension set for the first time is recorded (with the feature
// "vectors"); a different one is refused.
func (l *Ledger) setEmbeddingDim(m *ledgerManifest) (*ledgerManifest, error) {
	d := l.opts.EmbeddingDim
	switch {
	case (d == 0 || d == m.EmbeddingDim) && m.EmbeddingDim != 0 && !l.opts.ReadOnly && !m.hasFeature(featureVecBlocks):
		// A writable ledger with vectors writes layout-2 vector files
		// from now on (vector_blocks.go): older binaries must refuse it.
		nm := m.clone()
		nm.addFeature(featureVecBlocks)
		if err := storeManifest(l.fs, l.dir, nm); err != nil {
			return nil, Storage("write manifest", err)
		}
		return nm, nil
	case d == 0 || d == m.EmbeddingDim:
		return m, nil
	case d < 0 || d > maxEmbeddingDim:
		return nil, fmt.Errorf("open %s: Options.EmbeddingDim %d is out of range 1..%d", l.dir, d, maxEmbeddingDim)
	case m.EmbeddingDim != 0:
		return nil, fmt.Errorf("open %s: Options.EmbeddingDim is %d but the ledger's embedding dimension is %d (fixed when it was set first)", l.dir, d, m.EmbeddingDim)
	case l.opts.ReadOnly:
		return nil, fmt.Errorf("open %s: Options.EmbeddingDim %d cannot be recorded by a read-only open (the ledger has none)", l.dir, d)
	}
	nm := m.clone()
	nm.EmbeddingDim = d
	nm.addFeature(featureVectors)
	nm.addFeature(featureVecBlocks)
	if err := storeManifest(l.fs, l.dir, nm); err != nil {
		return nil, Storage("write manifest", err)
	}
	return nm, nil
}

// EmbeddingDim returns the ledger's embedding dimension (0 = none).
func (l *Ledger) EmbeddingDim() int { return l.man.Load().EmbeddingDim }

func (l *Ledger) checkVector(v []float32) error {
	d := l.man.Load().EmbeddingDim
	if d == 0 {
		return errNoEmbeddingDim()
	}
	return checkVector(v, d, "")
}

// checkReplayedVector checks a vector read back from the WAL.
func (l *Ledger) checkReplayedVector(raw []byte) error {
	d := l.man.Load().EmbeddingDim
	if d == 0 || len(raw) != 4*d {
		return fmt.Errorf("vector of %d bytes in a ledger of embedding dimension %d", len(raw), d)
	}
	return nil
}

// AppendVectorEvents appends events with their embeddings. Every envelope
// is validated, then every vector (dimension, then NaN or infinite values,
// then a zero norm); then the batch, events and vectors, is committed as
// one WAL frame: after any crash all of it is visible or none. The vectors
// are stored beside the events, outside their canonical bytes, so digests
// and exports of events are what AppendEvents would give. Retrying an event
// with the same id, content and vector is a no-op; the same id with
// another vector (or none) is the duplicate-id error.
func (l *Ledger) AppendVectorEvents(ctx context.Context, es []VectorEvent) error {
	envs := make([]ExperienceEventEnvelope, len(es))
	vecs := make([][]float32, len(es))
	for i := range es {
		envs[i] = es[i].Envelope
		vecs[i] = es[i].Vector
		if vecs[i] == nil {
			vecs[i] = []float32{} // checked (and refused) as a dimension mismatch
		}
	}
	return l.appendObserved(ctx, envs, vecs)
}

// encodeVectorBatch is encodeBatch for events with vectors: the WAL record
// of an event with a vector (vecs[i] not nil) is the vector record prefix
// followed by the canonical event, the others are canonical events. Large
// batches are split into contiguous parts encoded on up to GOMAXPROCS (at
// most 4) goroutines, each into its own buffer, as encodeBatchScratch does
// for events: the bytes and entries are the same either way, and the copy
// of the floats (most of the bytes) is spread over the cores.
func (l *Ledger) encodeVectorBatch(es []ExperienceEventEnvelope, vecs [][]float32) ([][]byte, []entry, error) {
	recs := make([][]byte, len(es))
	ents := make([]entry, len(es))
	termBuf := make([]index.Term, maxTermsPerEvent*len(es))
	dim := l.man.Load().EmbeddingDim
	parts := min(runtime.GOMAXPROCS(0), 4, len(es)/(parallelEncodeMin/2))
	if parts <= 1 {
		total, err := l.encodeVectorPart(es, vecs, recs, ents, termBuf, dim, 0)
		if err != nil {
			return nil, nil, err
		}
		if total > l.opts.MaxBatchBytes {
			return nil, nil, batchTooLarge(total, l.opts.MaxBatchBytes)
		}
		l.avgEvent.Store(int64(total/len(es)) + 16)
		return recs, ents, nil
	}
	var wg sync.WaitGroup
	sizes := make([]int, parts)
	errs := make([]error, parts)
	for p := range parts {
		lo, hi := p*len(es)/parts, (p+1)*len(es)/parts
		wg.Go(func() {
			sizes[p], errs[p] = l.encodeVectorPart(es[lo:hi], vecs[lo:hi], recs[lo:hi], ents[lo:hi],
				termBuf[maxTermsPerEvent*lo:maxTermsPerEvent*hi:maxTermsPerEvent*hi], dim, lo)
		})
	}
	wg.Wait()
	total := 0
	for p := range parts {
		if errs[p] != nil {
			return nil, nil, errs[p] // the first failing part holds the first bad event
		}
		total += sizes[p]
	}
	if total > l.opts.MaxBatchBytes {
		return nil, nil, batchTooLarge(total, l.opts.MaxBatchBytes)
	}
	// The recent average record size (vectors included, as the memtable
	// counts them) sizes the next buffers and the next memtable (reserve).
	l.avgEvent.Store(int64(total/len(es)) + 16)
	return recs, ents, nil
}

// encodeVectorPart encodes es (with their vectors vecs) into one new
// buffer, filling recs and ents; the entries' terms go to termBuf (room
// for maxTermsPerEvent per event); base is es[0]'s position in the batch
// (for error messages). It returns the bytes of the records.
func (l *Ledger) encodeVectorPart(es []ExperienceEventEnvelope, vecs [][]float32, recs [][]byte, ents []entry, termBuf []index.Term, dim, base int) (int, error) {
	// est is the canonical bytes expected per event: the recent average
	// record size less a vector record prefix (a buffer too small grows,
	// one larger than needed costs its zeroing).
	est := int(l.avgEvent.Load()) - vecRecordHeader - 4*dim
	if est < 256 {
		est = 256
	}
	// Each vector record starts 3 bytes past a multiple of 4 in buf (0-3
	// bytes of padding, outside every record, before it), so that its
	// floats are 4-byte aligned: on a little-endian machine the memtable
	// then keeps them where they are, inside buf, which it keeps anyway
	// for the canonical bytes (no second copy of every vector).
	buf := make([]byte, 0, (est+vecRecordHeader+4*dim+3)*len(es))
	starts := make([]int, 2*len(es))
	ends := starts[len(es):]
	total := 0
	for i := range es {
		if vecs[i] != nil {
			for (len(buf)+vecRecordHeader)%4 != 0 {
				buf = append(buf, 0)
			}
		}
		start := len(buf)
		starts[i] = start
		if vecs[i] != nil {
			buf = appendVecRecord(buf, vecs[i])
		}
		cstart := len(buf)
		var err error
		buf, err = AppendCanonical(buf, &es[i])
		if err != nil {
			return 0, InvalidQuery(fmt.Sprintf("event %d: %v", base+i, err))
		}
		if n := len(buf) - cstart; n > l.opts.MaxEventBytes {
			return 0, InvalidQuery(fmt.Sprintf("event %s is %d bytes, over the maximum event size of %d bytes", es[i].EventID, n, l.opts.MaxEventBytes))
		}
		total += len(buf) - start
		ends[i] = len(buf)
	}
	termBuf = termBuf[:0]
	var slab []float32 // copies of the vectors that cannot be aliased (one allocation per part)
	for i := range es {
		recs[i] = buf[starts[i]:ends[i]:ends[i]]
		h := HeaderOf(&es[i])
		n := len(termBuf)
		termBuf = termsOf(&h, termBuf)
		var v []float32
		if vecs[i] != nil {
			var ok bool
			v, ok = aliasFloats(buf, starts[i]+vecRecordHeader, len(vecs[i]))
			if !ok {
				if slab == nil {
					slab = make([]float32, 0, len(es)*dim)
				}
				n := len(slab)
				slab = append(slab, vecs[i]...)
				v = slab[n:len(slab):len(slab)]
			} else {
				v = v[:len(v):len(v)]
			}
		}
		ents[i] = newEntry(es[i].EventID, string(es[i].OccurredAt), termBuf[n:len(termBuf):len(termBuf)])
		ents[i].vec = v
	}
	return total, nil
}

// sameRecord reports whether rec (a WAL record) repeats a stored event:
// prev is either a WAL record (a pending batch; prevVec nil) or canonical
// bytes with their vector prevVec (nil: none).
func sameRecord(prev []byte, prevVec []float32, rec []byte) bool {
	if prevVec == nil && (len(prev) == 0 || prev[0] != vecRecordTag) && (len(rec) == 0 || rec[0] != vecRecordTag) {
		return bytes.Equal(prev, rec) // the hot path: no vectors on either side
	}
	canon, vraw, err := splitRecord(rec)
	if err != nil {
		return false
	}
	if prevVec != nil {
		return bytes.Equal(prev, canon) && sameVector(prevVec, vraw)
	}
	pc, pv, err := splitRecord(prev)
	if err != nil {
		return false
	}
	return bytes.Equal(pc, canon) && bytes.Equal(pv, vraw)
}

// addVector records the vector of ordinal ord (under l.mu).
func (m *memtable) addVector(ord int, v []float32) {
	for len(m.vecs) < ord {
		m.vecs = append(m.vecs, nil)
	}
	m.vecs = append(m.vecs, v)
	m.nvec++
}

// vectorOf returns the vector of ordinal o of the segment (nil: none).
func (s *sealedSeg) vectorOf(o uint32) ([]float32, error) {
	if s.vec == nil {
		return nil, nil
	}
	d, err := s.vec.directory()
	if err != nil {
		return nil, err
	}
	if d != nil {
		return s.vec.vectorOf2(d, o)
	}
	vs, err := s.vec.load()
	if err != nil {
		return nil, err
	}
	if i, ok := vs.find(o); ok {
		return vs.vec(i), nil
	}
	return nil, nil
}

// sealVectors writes the vector file of a memtable's first n records, if
// any has a vector, and returns how many it holds.
func (l *Ledger) sealVectors(name string, m *memtable, n int) (uint64, error) {
	if m.nvec == 0 {
		return 0, nil
	}
	w := memtableRows(l.man.Load().EmbeddingDim, uint64(n), m.vecs[:min(n, len(m.vecs))])
	if w == nil {
		return 0, nil
	}
	if err := writeVecRows(l.fs, l.segPath(name, vecExt), w, false); err != nil {
		return 0, err
	}
	return uint64(len(w.rowOrd)), nil
}

// SearchSimilar returns up to q.Limit (0 = 10) events that match q.Filter
// (every filter of EventQuery, its Limit ignored) and carry a vector,
// nearest to q.Vector first by cosine distance (1 - cos, in float32), ties
// in log order. The filter selects the candidates before ranking: the
// index postings of each segment give the candidates, and only their
// vectors are compared, so a search never returns another tenant's event.
// Every result is decoded and checked against the filter again.
func (l *Ledger) SearchSimilar(ctx context.Context, q SimilarQuery) ([]SimilarEvent, error) {
	if l.closed.Load() {
		return nil, ErrClosed
	}
	start := time.Now()
	res, err := l.searchSimilar(ctx, q)
	l.ops.query[planSimilar].ObserveSince(start)
	return res, err
}

func (l *Ledger) searchSimilar(ctx context.Context, q SimilarQuery) ([]SimilarEvent, error) {
	if err := checkSimilarQuery(ctx, &q, l.man.Load().EmbeddingDim); err != nil {
		return nil, err
	}
	f := q.Filter
	f.Limit = nil
	iq, ok := plan(&f)
	if !ok {
		return []SimilarEvent{}, nil
	}
	v := l.snapshot()
	defer v.release()
	qn := norm32(q.Vector)
	k := similarLimit(&q)
	top := newTopK(k)
	vo := l.opts.VectorIndex.withDefaults()
	filtered := len(iq.All) > 0 || iq.Start != nil || iq.End != nil
	var cands []uint32
	for _, s := range v.segs {
		if s.vec == nil || !segMayMatch(s, &iq, 0) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := s.vec.directory()
		if err != nil {
			return nil, l.readErr(s.vec.path, err)
		}
		base := s.info.FirstSeq
		if d != nil {
			cands = cands[:0]
			if filtered {
				it, err := index.Eval(s.ix, iq, uint32(s.info.Count))
				if err != nil {
					return nil, l.readErr(s.r.Path(), err)
				}
				for {
					o, ok := it.Next()
					if !ok {
						break
					}
					cands = append(cands, o)
				}
			}
			if err := searchSeg2(s.vec, d, q.Vector, qn, base, cands, filtered, k, vo, top); err != nil {
				return nil, l.readErr(s.vec.path, err)
			}
			continue
		}
		vs, err := s.vec.load()
		if err != nil {
			return nil, l.readErr(s.vec.path, err)
		}
		if !filtered {
			if vs.ann != nil && !vo.Exact && len(vs.ords) >= vo.MinCandidates {
				searchANN(vs, q.Vector, qn, base, nil, k, vo, top)
				continue
			}
			for i, o := range vs.ords {
				top.push(simHit{dist: cosDistance(q.Vector, qn, vs.vec(i), vs.norms[i]), pos: base + uint64(o)})
			}
			continue
		}
		it, err := index.Eval(s.ix, iq, uint32(s.info.Count))
		if err != nil {
			return nil, l.readErr(s.r.Path(), err)
		}
		cands = cands[:0]
		for {
			o, ok := it.Next()
			if !ok {
				break
			}
			cands = append(cands, o)
		}
		if vs.ann != nil && !vo.Exact && len(cands) >= vo.MinCandidates {
			searchANN(vs, q.Vector, qn, base, candBits(cands, vs.count), k, vo, top)
			continue
		}
		// Merge the sorted candidate ordinals with the sorted ordinals
		// that have a vector.
		j := 0
		for _, o := range cands {
			for j < len(vs.ords) && vs.ords[j] < o {
				j++
			}
			if j == len(vs.ords) {
				break
			}
			if vs.ords[j] == o {
				top.push(simHit{dist: cosDistance(q.Vector, qn, vs.vec(j), vs.norms[j]), pos: base + uint64(o)})
			}
		}
	}
	for i, m := range v.mts {
		n := min(v.ns[i], len(v.vecs[i]))
		if n == 0 {
			continue
		}
		vecs := v.vecs[i][:n]
		if !filtered {
			for o, vec := range vecs {
				if vec != nil {
					top.push(simHit{dist: cosDistance(q.Vector, qn, vec, norm32(vec)), pos: m.base + uint64(o)})
				}
			}
			continue
		}
		var ords []uint32
		l.mu.RLock()
		it, err := index.Eval(m.idx, iq, uint32(n))
		if err == nil {
			for {
				o, ok := it.Next()
				if !ok || int(o) >= n {
					break
				}
				if vecs[o] != nil {
					ords = append(ords, o)
				}
			}
		}
		l.mu.RUnlock()
		if err != nil {
			return nil, err
		}
		for _, o := range ords {
			top.push(simHit{dist: cosDistance(q.Vector, qn, vecs[o], norm32(vecs[o])), pos: m.base + uint64(o)})
		}
	}
	return l.fetchHits(&v, &f, top.sorted())
}

// fetchHits decodes the events of ranked hits and checks each against the
// filter (a mismatch means a corrupt index).
func (l *Ledger) fetchHits(v *view, f *EventQuery, hits []simHit) ([]SimilarEvent, error) {
	out := make([]SimilarEvent, 0, len(hits))
	for _, h := range hits {
		raw, path, err := l.recordAt(v, h.pos)
		if err != nil {
			return nil, err
		}
		env, err := UnmarshalCanonical(raw)
		if err != nil {
			return nil, l.readErr(path, &CorruptionError{File: path, Reason: fmt.Sprintf("event seq %d: %v", h.pos, err)})
		}
		if !matchesDurable(f, &env) {
			return nil, &CorruptionError{File: path, Reason: fmt.Sprintf("index returned seq %d, which does not match the query", h.pos)}
		}
		out = append(out, SimilarEvent{Envelope: env, Distance: h.dist})
	}
	return out, nil
}

// recordAt returns the canonical bytes of the event at seq in v.
func (l *Ledger) recordAt(v *view, seq uint64) ([]byte, string, error) {
	for i, m := range v.mts {
		if seq >= m.base && seq < m.base+uint64(v.ns[i]) {
			return v.recs[i][seq-m.base], "memtable", nil
		}
	}
	for _, s := range v.segs {
		if seq >= s.info.FirstSeq && seq <= s.info.LastSeq {
			rec, err := s.r.Get(seq)
			if err != nil {
				return nil, s.r.Path(), l.readErr(s.r.Path(), err)
			}
			return rec.Data, s.r.Path(), nil
		}
	}
	return nil, "", Storage("search", fmt.Errorf("seq %d is not in the ledger", seq))
}

// vectorsEqual compares vectors bit for bit.
func vectorsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// mergeVectors writes the vector file of a segment that compaction made
// from the segments g (seq first..last), reading theirs (and checking their
// checksums). It returns nil when none of them has vectors.
func (l *Ledger) mergeVectors(g []*sealedSeg, name string, first, last uint64) (*segVectors, error) {
	dim := l.man.Load().EmbeddingDim
	var ords []uint32
	var flat []float32
	for _, s := range g {
		if s.vec == nil {
			continue
		}
		vs, err := s.vec.load()
		if err != nil {
			return nil, fmt.Errorf("compact: %w", err)
		}
		for _, o := range vs.ords {
			ords = append(ords, uint32(s.info.FirstSeq+uint64(o)-first))
		}
		flat = append(flat, vs.data...)
	}
	if len(ords) == 0 {
		return nil, nil
	}
	count := last - first + 1
	data := encodeVecFile(dim, count, ords, flat) // the indexer adds the index
	path := l.segPath(name, vecExt)
	if err := writeVecFile(l.fs, path, data); err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	return &segVectors{fs: l.fs, path: path, dim: dim, count: count, n: uint64(len(ords)), cache: l.vecCacheOf()}, nil
}

// vectorAtSeq returns the vector of the event at seq in v (nil: none).
func (l *Ledger) vectorAtSeq(v *view, seq uint64) ([]float32, error) {
	for i, m := range v.mts {
		if seq >= m.base && seq < m.base+uint64(v.ns[i]) {
			if o := seq - m.base; o < uint64(len(v.vecs[i])) {
				return v.vecs[i][o], nil
			}
			return nil, nil
		}
	}
	for _, s := range v.segs {
		if seq >= s.info.FirstSeq && seq <= s.info.LastSeq {
			vec, err := s.vectorOf(uint32(seq - s.info.FirstSeq))
			if err != nil {
				return nil, l.readErr(s.vec.path, err)
			}
			return vec, nil
		}
	}
	return nil, nil
}

// ScanVectors streams the events matching q from sequence fromSeq on, in
// log order, each with its vector (nil for an event without one): what
// ScanSeq gives, plus the vectors (ledgerctl export --vectors). The
// returned slices are the caller's to keep.
func (l *Ledger) ScanVectors(ctx context.Context, q EventQuery, fromSeq uint64) iter.Seq2[VectorEvent, error] {
	return func(yield func(VectorEvent, error) bool) {
		var v view
		defer func() { v.release() }()
		for e, err := range l.ScanSeq(ctx, q, fromSeq) {
			if err != nil {
				yield(VectorEvent{}, err)
				return
			}
			// A snapshot taken after the scan's own holds every event
			// the scan yields (vectors never change once committed).
			if v.mts == nil || e.Seq > v.lastSeq() {
				v.release()
				v = l.snapshot()
			}
			vec, err := l.vectorAtSeq(&v, e.Seq)
			if err != nil {
				yield(VectorEvent{}, err)
				return
			}
			if !yield(VectorEvent{Envelope: e.Envelope, Vector: slices.Clone(vec)}, nil) {
				return
			}
		}
	}
}

// candBits is a bitset of the candidate ordinals of a segment of count
// events.
func candBits(cands []uint32, count uint64) []uint64 {
	b := make([]uint64, (count+63)/64)
	for _, o := range cands {
		b[o/64] |= 1 << (o % 64)
	}
	return b
}

// searchANN compares q with the members of the segment's nearest lists
// (bits, if set, keeps only the candidate ordinals): the ProbeFraction
// share of the lists, then more while fewer than 10×k candidates were
// compared. Distances are exact.
func searchANN(vs *vecSet, q []float32, qn float32, base uint64, bits []uint64, k int, vo VectorIndexOptions, top *topK) {
	a := vs.ann
	nprobe := max(annMinProbes, int(math.Ceil(vo.ProbeFraction*float64(a.nlist))))
	seen := 0
	for i, c := range a.probeOrder(vs.dim, q) {
		if i >= nprobe && seen >= 10*k {
			break
		}
		for _, p := range a.members[a.offs[c]:a.offs[c+1]] {
			o := vs.ords[p]
			if bits != nil && bits[o/64]&(1<<(o%64)) == 0 {
				continue
			}
			seen++
			top.push(simHit{dist: cosDistance(q, qn, vs.vec(int(p)), vs.norms[p]), pos: base + uint64(o)})
		}
	}
}
