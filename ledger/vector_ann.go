package ledger

import (
	"encoding/binary"
	"math"
	"slices"

	"github.com/exledger/exledger/internal/corrupt"
)

// The approximate index of a segment's vectors is an IVF-flat index: the
// vectors are partitioned by spherical k-means into nlist lists, each with
// a unit centroid; a search ranks the centroids by their dot product with
// the query and compares the query exactly (dot32, the same arithmetic as
// every other path) with the members of the nearest lists only. Distances
// of the events found are therefore exact; what is approximate is which
// events are compared. Recall is measured (bench/vecbench,
// TestANNRecall), not assumed.
//
// Section layout (inside the vector file, covered by its checksum):
//
//	u32 kind (1 = IVF-flat)
//	u32 nlist L (1..N)
//	L*D float32 centroids (finite)
//	(L+1) u32 offsets: offs[0] = 0, non-decreasing, offs[L] = N
//	N u32 members: positions (0..N-1) of the vectors, grouped by list,
//	      each position exactly once
//
// The build is deterministic (fixed seeding, fixed iteration count), so the
// same vectors always give the same bytes.
type annIndex struct {
	nlist   int
	cents   []float32 // nlist*dim
	offs    []uint32  // nlist+1
	members []uint32  // positions in the vecSet
}

const (
	annKindIVFFlat = 1
	// annMinVectors: segments with fewer vectors get no index (an exact
	// scan of them is cheap).
	annMinVectors = 2048
	// annIters is the number of k-means iterations on the training sample.
	annIters = 4
	// annSamplePerList bounds the training sample: this many vectors per
	// list.
	annSamplePerList = 16
)

// annLists is the number of lists for n vectors: about sqrt(n). (Half as
// many, which would halve the assignment step of the build, lowered
// TestANNRecall's recall at the same probe fraction from 0.998 to 0.93.)
func annLists(n int) int {
	return min(max(int(math.Sqrt(float64(n))), 8), 4096, n)
}

// buildANN builds the approximate index section of a vector file for the
// vectors flat (len(ords) of them); nil when there are too few.
func buildANN(dim int, ords []uint32, flat []float32) []byte {
	b, _ := buildANNStop(dim, ords, flat, nil)
	return b
}

// buildANNStop is buildANN that gives up with errIndexStopped once stop
// is closed (checked between iterations and every few thousand vectors).
func buildANNStop(dim int, ords []uint32, flat []float32, stop <-chan struct{}) ([]byte, error) {
	return buildANNPaced(dim, ords, flat, func() error {
		select {
		case <-stop:
			return errIndexStopped
		default:
			return nil
		}
	})
}

// annPaceEvery is how many vectors a build assigns to lists between two
// calls of its pace function (about a millisecond at 384 dimensions and
// 200 lists).
const annPaceEvery = 64

// buildANNPaced is buildANN that calls pace between iterations and every
// annPaceEvery vectors assigned, and gives up with its error if it
// returns one (the background indexer stops there for Close, and gives
// way to appends: vector_indexer.go).
func buildANNPaced(dim int, ords []uint32, flat []float32, pace func() error) ([]byte, error) {
	n := len(ords)
	if n < annMinVectors || dim == 0 {
		return nil, nil
	}
	vec := func(i int) []float32 { return flat[i*dim : (i+1)*dim : (i+1)*dim] }
	inv := make([]float32, n) // 1/|v|
	for i := range n {
		inv[i] = 1 / norm32(vec(i))
	}
	nlist := annLists(n)
	// Training sample: evenly spaced vectors.
	ns := min(n, nlist*annSamplePerList)
	sample := make([]int, ns)
	for i := range sample {
		sample[i] = int(uint64(i) * uint64(n) / uint64(ns))
	}
	// Initial centroids: evenly spaced members of the sample, normalised.
	cents := make([]float32, nlist*dim)
	for c := range nlist {
		i := sample[c*ns/nlist]
		v := vec(i)
		for j := range v {
			cents[c*dim+j] = v[j] * inv[i]
		}
	}
	assign := make([]int32, ns)
	sums := make([]float64, nlist*dim)
	counts := make([]int, nlist)
	for range annIters {
		if err := pace(); err != nil {
			return nil, err
		}
		for s, i := range sample {
			if s%annPaceEvery == annPaceEvery-1 {
				if err := pace(); err != nil {
					return nil, err
				}
			}
			assign[s] = int32(nearestList(cents, dim, vec(i)))
		}
		clear(sums)
		clear(counts)
		for s, i := range sample {
			c := int(assign[s])
			counts[c]++
			v := vec(i)
			for j := range v {
				sums[c*dim+j] += float64(v[j] * inv[i])
			}
		}
		for c := range nlist {
			if counts[c] == 0 {
				continue // keep the old centroid
			}
			var nn float64
			for j := range dim {
				nn += sums[c*dim+j] * sums[c*dim+j]
			}
			if nn == 0 {
				continue
			}
			f := 1 / math.Sqrt(nn)
			for j := range dim {
				cents[c*dim+j] = float32(sums[c*dim+j] * f)
			}
		}
	}
	// Assign every vector; group the positions by list.
	lists := make([]int32, n)
	size := make([]uint32, nlist+1)
	for i := range n {
		if i%annPaceEvery == 0 {
			if err := pace(); err != nil {
				return nil, err
			}
		}
		c := nearestList(cents, dim, vec(i))
		lists[i] = int32(c)
		size[c+1]++
	}
	for c := range nlist {
		size[c+1] += size[c]
	}
	offs := slices.Clone(size)
	members := make([]uint32, n)
	next := slices.Clone(size[:nlist])
	for i, c := range lists {
		members[next[c]] = uint32(i)
		next[c]++
	}
	b := make([]byte, 0, 8+4*nlist*dim+4*(nlist+1)+4*n)
	b = binary.LittleEndian.AppendUint32(b, annKindIVFFlat)
	b = binary.LittleEndian.AppendUint32(b, uint32(nlist))
	for _, x := range cents {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	for _, o := range offs {
		b = binary.LittleEndian.AppendUint32(b, o)
	}
	for _, m := range members {
		b = binary.LittleEndian.AppendUint32(b, m)
	}
	return b, nil
}

// nearestList returns the list whose centroid has the largest dot product
// with v (ties: the lowest list).
func nearestList(cents []float32, dim int, v []float32) int {
	best, bi := float32(math.Inf(-1)), 0
	for c := 0; c*dim < len(cents); c++ {
		if d := dot32(cents[c*dim:(c+1)*dim], v); d > best {
			best, bi = d, c
		}
	}
	return bi
}

// decodeANN decodes and checks an approximate index section of the vector
// set s (whose ordinals and vectors are decoded); off is its file offset.
func decodeANN(path string, off int64, b []byte, s *vecSet) (*annIndex, error) {
	n := uint64(len(s.ords))
	dim := uint64(s.dim)
	if len(b) < 8 {
		return nil, corrupt.New(path, off, "approximate index section of %d bytes", len(b))
	}
	if k := binary.LittleEndian.Uint32(b); k != annKindIVFFlat {
		return nil, corrupt.New(path, off, "approximate index kind %d", k)
	}
	nlist := uint64(binary.LittleEndian.Uint32(b[4:]))
	if nlist == 0 || nlist > n || 8+4*nlist*dim+4*(nlist+1)+4*n != uint64(len(b)) {
		return nil, corrupt.New(path, off+4, "approximate index of %d lists does not fit its %d bytes", nlist, len(b))
	}
	a := &annIndex{nlist: int(nlist), cents: make([]float32, nlist*dim), offs: make([]uint32, nlist+1), members: make([]uint32, n)}
	p := uint64(8)
	for i := range a.cents {
		x := math.Float32frombits(binary.LittleEndian.Uint32(b[p:]))
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, corrupt.New(path, off+int64(p), "approximate index centroid is not finite")
		}
		a.cents[i] = x
		p += 4
	}
	for i := range a.offs {
		o := binary.LittleEndian.Uint32(b[p:])
		if (i == 0 && o != 0) || (i > 0 && o < a.offs[i-1]) || uint64(o) > n || (i == len(a.offs)-1 && uint64(o) != n) {
			return nil, corrupt.New(path, off+int64(p), "approximate index list offset %d out of order", o)
		}
		a.offs[i] = o
		p += 4
	}
	seen := make([]uint64, (n+63)/64)
	for i := range a.members {
		m := binary.LittleEndian.Uint32(b[p:])
		if uint64(m) >= n || seen[m/64]&(1<<(m%64)) != 0 {
			return nil, corrupt.New(path, off+int64(p), "approximate index member %d out of range or repeated", m)
		}
		seen[m/64] |= 1 << (m % 64)
		a.members[i] = m
		p += 4
	}
	return a, nil
}

// annProbeFraction is the share of a segment's lists a search compares
// (at least annMinProbes), chosen by measurement (docs/benchmarks.md).
const (
	annProbeFraction = 0.12
	// annMinProbes keeps small indexes from being probed too thinly: at
	// 1,536 dimensions a default segment holds ~10k vectors (100 lists),
	// and 12 probed lists gave a filtered recall@10 of 0.928, 30 lists
	// 0.980 (docs/benchmarks.md §15.1).
	annMinProbes = 24
)

// probeOrder returns the lists ranked by their centroid's dot product with
// q, best first.
func (a *annIndex) probeOrder(dim int, q []float32) []int32 {
	type ls struct {
		d float32
		c int32
	}
	order := make([]ls, a.nlist)
	for c := range a.nlist {
		order[c] = ls{dot32(a.cents[c*dim:(c+1)*dim], q), int32(c)}
	}
	slices.SortFunc(order, func(x, y ls) int {
		switch {
		case x.d > y.d:
			return -1
		case x.d < y.d:
			return 1
		}
		return int(x.c - y.c)
	})
	out := make([]int32, a.nlist)
	for i := range order {
		out[i] = order[i].c
	}
	return out
}
