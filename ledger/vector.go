package ledger

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// VectorEvent is an event with its embedding, as Converge's LanceDB store
// takes it (append_vector_event).
type VectorEvent struct {
	Envelope ExperienceEventEnvelope
	Vector   []float32
}

// SimilarEvent is one result of SearchSimilar: an event and its cosine
// distance to the query (1 - cos, lower is more similar).
type SimilarEvent struct {
	Envelope ExperienceEventEnvelope
	Distance float32
}

// SimilarQuery asks for the events whose vectors are nearest to Vector.
type SimilarQuery struct {
	// Vector is the query embedding; it must have the store's dimension.
	Vector []float32
	// Limit is the number of results wanted. 0 = 10.
	Limit int
	// Filter selects the candidates before ranking: every filter of
	// EventQuery applies (tenant, kinds, correlation, chain, time). Its
	// Limit is ignored.
	Filter EventQuery
}

// VectorIndexOptions tune how SearchSimilar uses the approximate
// (IVF-flat) index of each sealed segment of 2048 vectors or more, which a
// background indexer builds after the seal (until it exists, the segment
// is searched exactly). The index only decides which events are compared:
// every distance is computed exactly, so a result's distance is always its
// true one.
type VectorIndexOptions struct {
	// Exact compares the query with every candidate (every vector that
	// passes the filter); the indexes are still written. Use it when
	// recall must be 1.
	Exact bool
	// MinCandidates: a segment holding fewer candidates (vectors that
	// pass the filter) than this is scanned exactly; its index is used
	// from this many on. 0 = 1024.
	MinCandidates int
	// ProbeFraction is the share of a segment's lists (about sqrt(N) of
	// them) a search compares, at least 24; more lists are compared
	// while fewer than 10×Limit candidates passed the filter. 0 = 0.12.
	ProbeFraction float64
	// CacheBytes bounds the memory of the ledger's cache of vector blocks
	// read by searches (layout-2 vector files are read per 4 KiB block,
	// only the blocks of the rows a search compares, each checked against
	// its checksum; docs/format.md §10.4). The bound counts the floats,
	// their norms and about 100 bytes per block; the cache holds only
	// blocks searches read, so it approaches the bound only once that
	// much of the vector files was searched (the Go heap may grow past it
	// by the collector's headroom, GOGC). 0 = 1 GiB (the vector files of
	// about 170,000 vectors of 1,536 dimensions or 670,000 of 384);
	// negative: no cache (every search reads and checks what it
	// compares; a filtered search then costs a few times a cached one).
	CacheBytes int64

	// manual (tests) turns the background indexer off: only
	// BuildVectorIndexes builds indexes.
	manual bool
}

func (o VectorIndexOptions) withDefaults() VectorIndexOptions {
	if o.MinCandidates <= 0 {
		o.MinCandidates = annMinCandidates
	}
	if o.ProbeFraction <= 0 {
		o.ProbeFraction = annProbeFraction
	}
	return o
}

// annMinCandidates is the default VectorIndexOptions.MinCandidates: below
// it an exact comparison of the candidates costs about what the index's
// centroid ranking and list walk would (measured: docs/benchmarks.md §15).
const annMinCandidates = 1024

// defaultSimilarLimit is the number of results of a SimilarQuery with
// Limit 0.
const defaultSimilarLimit = 10

// maxEmbeddingDim bounds Options.EmbeddingDim (and the dimension a vector
// file may declare): 64 Ki float32 components, 256 KiB per vector.
const maxEmbeddingDim = 1 << 16

// featureVectors is the manifest feature of a ledger with an embedding
// dimension: its manifest records the dimension, its segments may carry a
// vector file (seg/<name>.vec) and its WAL may hold vector records.
const featureVectors = "vectors"

func init() { registerFeature(featureVectors) }

// errNoEmbeddingDim is returned by the vector calls of a store without an
// embedding dimension.
func errNoEmbeddingDim() error {
	return InvalidQuery("vector search is not enabled: the store has no embedding dimension (set Options.EmbeddingDim when the ledger is created)")
}

// checkVector applies the reference adapter's checks to a stored vector
// (what is "vector ..." there) or a query vector (prefix "query ").
func checkVector(v []float32, dim int, prefix string) error {
	if len(v) != dim {
		return InvalidQuery(fmt.Sprintf("%svector dimension mismatch: expected %d, got %d", prefix, dim, len(v)))
	}
	// A NaN or infinite value makes the squared norm NaN or +Inf, so a
	// finite norm proves every value finite (the common case: one pass);
	// a non-finite one is either such a value or an overflow.
	n := dot32(v, v)
	if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return InvalidQuery(prefix + "vector contains NaN or infinite values")
			}
		}
	}
	if n == 0 {
		return InvalidQuery(prefix + "vector has zero norm: its cosine distance is undefined")
	}
	if math.IsInf(float64(n), 0) {
		return InvalidQuery(prefix + "vector is too large: its squared norm overflows float32")
	}
	return nil
}

// dot32Go defines dot32 (vector_dot_*.go): eight independent
// accumulators in a fixed order (the compiler keeps them in registers and
// pipelines the multiplies; on amd64 one 8-lane AVX register holds them);
// the explicit conversions forbid fused multiply-adds, whose rounding would
// differ between call sites.
func dot32Go(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		x, y := a[i:i+8:i+8], b[i:i+8:i+8]
		s0 += float32(x[0] * y[0])
		s1 += float32(x[1] * y[1])
		s2 += float32(x[2] * y[2])
		s3 += float32(x[3] * y[3])
		s4 += float32(x[4] * y[4])
		s5 += float32(x[5] * y[5])
		s6 += float32(x[6] * y[6])
		s7 += float32(x[7] * y[7])
	}
	for ; i < len(a); i++ {
		s0 += float32(a[i] * b[i])
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// norm32 is the Euclidean norm, rounded to float32.
func norm32(v []float32) float32 {
	return float32(math.Sqrt(float64(dot32(v, v))))
}

// cosDistance is 1 - cos(q, v) given both norms (qn, vn > 0).
func cosDistance(q []float32, qn float32, v []float32, vn float32) float32 {
	d := dot32(q, v)
	return 1 - d/float32(qn*vn)
}

// simHit is a ranked candidate: a distance and the candidate's log position.
type simHit struct {
	dist float32
	pos  uint64
}

// worse reports whether a ranks after b (greater distance; ties by log
// order).
func (a simHit) worse(b simHit) bool {
	return a.dist > b.dist || (a.dist == b.dist && a.pos > b.pos)
}

// topK keeps the k best hits seen, as a max-heap (the worst at the root).
type topK struct {
	k int
	h []simHit
}

func newTopK(k int) *topK { return &topK{k: k, h: make([]simHit, 0, min(k, 1024))} }

// full reports whether a hit at distance d (any position after the ones
// seen) could not enter.
func (t *topK) bound() (float32, bool) {
	if len(t.h) < t.k {
		return 0, false
	}
	return t.h[0].dist, true
}

func (t *topK) push(x simHit) {
	if len(t.h) < t.k {
		t.h = append(t.h, x)
		i := len(t.h) - 1
		for i > 0 {
			p := (i - 1) / 2
			if !t.h[i].worse(t.h[p]) {
				break
			}
			t.h[i], t.h[p] = t.h[p], t.h[i]
			i = p
		}
		return
	}
	if !t.h[0].worse(x) {
		return
	}
	t.h[0] = x
	i, n := 0, len(t.h)
	for {
		l, r, w := 2*i+1, 2*i+2, i
		if l < n && t.h[l].worse(t.h[w]) {
			w = l
		}
		if r < n && t.h[r].worse(t.h[w]) {
			w = r
		}
		if w == i {
			return
		}
		t.h[i], t.h[w] = t.h[w], t.h[i]
		i = w
	}
}

// sorted returns the hits best first.
func (t *topK) sorted() []simHit {
	out := slices.Clone(t.h)
	slices.SortFunc(out, func(a, b simHit) int {
		switch {
		case b.worse(a):
			return -1
		case a.worse(b):
			return 1
		}
		return 0
	})
	return out
}

// similarLimit is q.Limit with its default.
func similarLimit(q *SimilarQuery) int {
	if q.Limit <= 0 {
		return defaultSimilarLimit
	}
	return q.Limit
}

// vecRecordTag is the first byte of a WAL record that carries a vector
// before the event's canonical bytes. 0xc1 is never used by msgpack, so a
// canonical event never starts with it. Layout: tag | u32 LE n | n float32
// LE | canonical event.
const vecRecordTag = 0xc1

// vecRecordHeader is the size of a vector record's tag and count.
const vecRecordHeader = 5

// appendVecRecord appends a vector record's prefix (tag, count, floats).
func appendVecRecord(dst []byte, v []float32) []byte {
	dst = append(dst, vecRecordTag)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(v)))
	return appendFloats(dst, v)
}

// splitRecord separates a WAL record into the event's canonical bytes and
// the raw little-endian bytes of its vector (nil for an event without).
func splitRecord(rec []byte) (canon, vec []byte, err error) {
	if len(rec) == 0 || rec[0] != vecRecordTag {
		return rec, nil, nil
	}
	if len(rec) < vecRecordHeader {
		return nil, nil, fmt.Errorf("vector record of %d bytes is shorter than its header", len(rec))
	}
	n := uint64(binary.LittleEndian.Uint32(rec[1:5]))
	if n == 0 || n > maxEmbeddingDim || uint64(len(rec)-vecRecordHeader) < 4*n {
		return nil, nil, fmt.Errorf("vector record declares %d floats in %d bytes", n, len(rec))
	}
	end := vecRecordHeader + int(4*n)
	return rec[end:], rec[vecRecordHeader:end], nil
}

// floatsOf decodes little-endian float32 bytes.
func floatsOf(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	copyFloats(v, b)
	return v
}

// sameVector compares a vector with raw little-endian bytes, bit for bit.
func sameVector(v []float32, raw []byte) bool {
	if len(raw) != 4*len(v) {
		return false
	}
	if littleEndian {
		return string(floatBytes(v)) == string(raw)
	}
	for i, x := range v {
		if math.Float32bits(x) != binary.LittleEndian.Uint32(raw[4*i:]) {
			return false
		}
	}
	return true
}

// checkSimilarQuery validates a query against the dimension.
func checkSimilarQuery(ctx context.Context, q *SimilarQuery, dim int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dim == 0 {
		return errNoEmbeddingDim()
	}
	if q.Limit < 0 {
		return InvalidQuery(fmt.Sprintf("limit must not be negative, got %d", q.Limit))
	}
	return checkVector(q.Vector, dim, "query ")
}
