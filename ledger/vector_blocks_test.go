package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"testing"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

// vec2Sample returns a layout-2 file of n vectors of dimension dim (every
// other event has one), with an approximate index when indexed, and the
// set it holds.
func vec2Sample(t testing.TB, n, dim int, indexed bool) ([]byte, *vecSet) {
	r := rand.New(rand.NewPCG(uint64(n), uint64(dim)))
	ords := make([]uint32, n)
	data := make([]float32, n*dim)
	for i := range ords {
		ords[i] = uint32(2*i + 1)
		c := float32(i % 7)
		for j := range dim {
			data[i*dim+j] = c*float32(j%3) + float32(r.NormFloat64())
		}
	}
	plain := encodeVecFile(dim, uint64(2*n+3), ords, data)
	vs, err := decodeVec2("x.vec", plain, dim, uint64(2*n+3), uint64(n))
	if err != nil {
		t.Fatal(err)
	}
	if !indexed {
		return plain, vs
	}
	ann := buildANN(dim, ords, data)
	if ann == nil {
		t.Fatalf("no index for %d vectors", n)
	}
	a, err := decodeANN("x.vec", 0, ann, vs)
	if err != nil {
		t.Fatal(err)
	}
	vs.ann = a
	return indexedRows(vs, a).bytesOf(), vs
}

// TestVec2RoundTrip: both forms of layout 2 (event order, grouped by list)
// decode whole to the vectors written, their blocks read one by one give
// the same rows, and the bytes are deterministic.
func TestVec2RoundTrip(t *testing.T) {
	for _, indexed := range []bool{false, true} {
		const n, dim = annMinVectors + 100, 40
		b, want := vec2Sample(t, n, dim, indexed)
		again, _ := vec2Sample(t, n, dim, indexed)
		if !bytes.Equal(b, again) {
			t.Fatal("not deterministic")
		}
		got, err := decodeVec2("x.vec", b, dim, uint64(2*n+3), n)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.ords, want.ords) || !vectorsEqual(got.data, want.data) || !slices.Equal(got.norms, want.norms) {
			t.Fatalf("indexed=%v: decoded set differs", indexed)
		}
		if (got.ann != nil) != indexed {
			t.Fatalf("indexed=%v: ann %v", indexed, got.ann != nil)
		}
		if indexed && (!slices.Equal(got.ann.offs, want.ann.offs) || !slices.Equal(got.ann.members, want.ann.members)) {
			t.Fatal("index differs")
		}
		fsys := vfs.NewMem()
		if err := fsys.WriteFile("/x.vec", b); err != nil {
			t.Fatal(err)
		}
		v := &segVectors{fs: fsys, path: "/x.vec", dim: dim, count: uint64(2*n + 3), n: n, cache: newVecCache(1 << 20)}
		d, err := v.directory()
		if err != nil || d == nil {
			t.Fatalf("directory: %v", err)
		}
		if rb := vecBlockRows(dim); d.rowsPerBlock != rb || len(d.sums) != (n+rb-1)/rb || len(d.sums) < 3 {
			t.Fatalf("%d blocks of %d rows", len(d.sums), d.rowsPerBlock)
		}
		for i, o := range want.ords {
			vec, err := v.vectorOf2(d, o)
			if err != nil || !vectorsEqual(vec, want.vec(i)) {
				t.Fatalf("ordinal %d: %v %v", o, vec, err)
			}
			if vec, _ := v.vectorOf2(d, o+1); vec != nil {
				t.Fatalf("ordinal %d has a vector", o+1)
			}
		}
	}
}

// TestVec2SearchMatchesExact: searchSeg2 over a layout-2 file gives, with
// the index disabled, exactly the ranking of the whole-set exact scan,
// unfiltered and filtered; with the index, every distance it reports is
// exact; and with a cache smaller than the file, the cache stays within
// its bound.
func TestVec2SearchMatchesExact(t *testing.T) {
	const n, dim = annMinVectors + 500, 24
	b, vs := vec2Sample(t, n, dim, true)
	fsys := vfs.NewMem()
	if err := fsys.WriteFile("/x.vec", b); err != nil {
		t.Fatal(err)
	}
	c := newVecCache(int64(len(b) / 2)) // two of its four blocks
	v := &segVectors{fs: fsys, path: "/x.vec", dim: dim, count: vs.count, n: n, cache: c}
	d, err := v.directory()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 5))
	for qi := range 20 {
		q := vs.vec(r.IntN(n))
		q = append([]float32(nil), q...)
		q[0] += 0.1
		qn := norm32(q)
		var cands []uint32
		for o := uint32(0); o < uint32(vs.count); o += 3 {
			cands = append(cands, o)
		}
		for _, filtered := range []bool{false, true} {
			want := newTopK(10)
			for i, o := range vs.ords {
				if filtered && o%3 != 0 {
					continue
				}
				want.push(simHit{dist: cosDistance(q, qn, vs.vec(i), vs.norms[i]), pos: 100 + uint64(o)})
			}
			for _, exact := range []bool{true, false} {
				got := newTopK(10)
				var cs []uint32
				if filtered {
					cs = cands
				}
				vo := VectorIndexOptions{Exact: exact}.withDefaults()
				if err := searchSeg2(v, d, q, qn, 100, cs, filtered, 10, vo, got); err != nil {
					t.Fatal(err)
				}
				g, w := got.sorted(), want.sorted()
				if exact && !slices.Equal(g, w) {
					t.Fatalf("query %d filtered=%v: %v, exact %v", qi, filtered, g, w)
				}
				for _, h := range g {
					i, ok := vs.find(uint32(h.pos - 100))
					if !ok || (filtered && (h.pos-100)%3 != 0) || h.dist != cosDistance(q, qn, vs.vec(i), vs.norms[i]) {
						t.Fatalf("query %d: hit %+v is not a candidate or its distance is not exact", qi, h)
					}
				}
			}
		}
		if u := c.cacheBytes(); u > c.max {
			t.Fatalf("cache holds %d bytes, bound %d", u, c.max)
		}
	}
}

// TestVec2EveryFlipDetected: a bit flip anywhere in a layout-2 file (with
// an index) is detected by partial reads: opening its directory fails, or
// reading the block that holds the flipped bit fails, with a corruption
// error (a flipped magic makes it a layout-1 file, which the whole-file
// load refuses); the whole-file decoder refuses it too. Every bit of the
// header, one bit per 7 bytes of the directory and per 97 bytes of rows
// by default, every bit with EXLEDGER_LONG=1. Truncations are refused as
// well.
func TestVec2EveryFlipDetected(t *testing.T) {
	const n, dim = annMinVectors + 50, 16
	b, vs := vec2Sample(t, n, dim, true)
	d0, g, err := decodeVecHeader2("x.vec", b, int64(len(b)), 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	rowsOff := int(d0.rowsOff)
	if rowsOff != vec2HeaderSize+int(g) {
		t.Fatal("rows offset")
	}
	long := os.Getenv("EXLEDGER_LONG") != ""
	var bits []int
	for i := range 8 * len(b) {
		by := i / 8
		if long || by < vec2HeaderSize || (by < rowsOff && by%7 == 0 && i%8 == by%8) || (by%97 == 0 && i%8 == by%8) {
			bits = append(bits, i)
		}
	}
	fsys := vfs.NewMem()
	undetected := 0
	for _, bit := range bits {
		c := bytes.Clone(b)
		c[bit/8] ^= 1 << (bit % 8)
		if _, err := decodeVec2("x.vec", c, 0, 0, 0); !errors.Is(err, corrupt.ErrCorrupt) {
			t.Fatalf("whole decode of flip %d: %v", bit, err)
		}
		if err := fsys.WriteFile("/x.vec", c); err != nil {
			t.Fatal(err)
		}
		v := &segVectors{fs: fsys, path: "/x.vec", dim: dim, count: vs.count, n: n, cache: newVecCache(1 << 30)}
		d, err := v.directory()
		if err != nil {
			if !errors.Is(err, corrupt.ErrCorrupt) {
				t.Fatalf("flip %d: directory: %v", bit, err)
			}
			continue
		}
		if d == nil {
			if _, err := v.load(); !errors.Is(err, corrupt.ErrCorrupt) {
				undetected++
				t.Errorf("flip %d: read as layout 1: %v", bit, err)
			}
			continue
		}
		if bit/8 < rowsOff {
			undetected++
			t.Errorf("flip %d in the header or directory: the directory opened", bit)
			continue
		}
		blk := d.blockOf((bit/8 - rowsOff) / (4 * dim))
		if _, err := v.blocks(d, blk, blk+1); !errors.Is(err, corrupt.ErrCorrupt) {
			undetected++
			t.Errorf("flip %d: block %d read: %v", bit, blk, err)
		}
		// The other blocks read fine (a flip spoils one block only).
		other := (blk + 1) % len(d.sums)
		if _, err := v.blocks(d, other, other+1); err != nil {
			t.Fatalf("flip %d: block %d: %v", bit, other, err)
		}
	}
	if undetected != 0 {
		t.Fatalf("%d of %d flips undetected", undetected, len(bits))
	}
	t.Logf("%d flips, all detected", len(bits))
	for _, m := range []int{0, 7, vec2HeaderSize - 1, vec2HeaderSize, rowsOff - 1, rowsOff, len(b) - 1} {
		if _, err := decodeVec2("x.vec", b[:m], 0, 0, 0); !errors.Is(err, corrupt.ErrCorrupt) {
			t.Fatalf("truncation to %d bytes: %v", m, err)
		}
	}
}

// FuzzDecodeVec2: the layout-2 decoder never panics, allocates no more
// than its input justifies, and what it accepts re-encodes to the same
// bytes and holds only finite vectors with a nonzero norm.
func FuzzDecodeVec2(f *testing.F) {
	f.Add(encodeVecFile(4, 5, []uint32{0, 2, 3}, []float32{1, 0, 0, 0.5, -1, 2, 3, 4, 0, 0, 0, 1e-3}))
	f.Add(encodeVecFile(1, 1, []uint32{0}, []float32{-2}))
	f.Add([]byte(vec2Magic))
	{
		b, _ := vec2Sample(f, annMinVectors, 2, true)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeVec2("f.vec", b, 0, 0, 0)
		if err != nil {
			if !errors.Is(err, corrupt.ErrCorrupt) {
				t.Fatalf("non-corruption error %v", err)
			}
			return
		}
		if 4*len(s.data)+4*len(s.ords)+4*len(s.norms) > 3*len(b) {
			t.Fatalf("decoded %d floats from %d bytes", len(s.data), len(b))
		}
		for i := range s.ords {
			if n := s.norms[i]; n == 0 || math.IsInf(float64(n), 0) || math.IsNaN(float64(n)) {
				t.Fatalf("vector %d norm %v", i, n)
			}
		}
		// Re-encoded with the file's rows per block (files written before
		// 4 KiB blocks have 64 KiB ones, as seeds 0 and 1 do).
		var w *vecRows
		if s.ann == nil {
			w = ordinalRows(s.dim, s.count, s.ords, s.data)
		} else {
			w = indexedRows(s, s.ann)
		}
		w.rows = int(binary.LittleEndian.Uint32(b[36:]))
		again := w.bytesOf()
		if !bytes.Equal(again, b) {
			t.Fatal("accepted bytes do not re-encode identically")
		}
	})
}

// TestVectorLayout1Migrated: a ledger whose vector file is in layout 1
// (with its index, as this package wrote before layout 2) is searched
// (read whole), gains the manifest feature "vecblocks" at a writable
// Open, and the indexer rewrites the file in layout 2 keeping its index:
// the same results before and after, Verify passes.
func TestVectorLayout1Migrated(t *testing.T) {
	ctx := context.Background()
	fsys := vfs.NewMem()
	l := ixTestLedger(t, fsys)
	path := l.live.segs[0].vec.path
	seg := l.live.segs[0].vec
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	vs, err := loadVecFile(fsys, path, seg.dim, seg.count, seg.n)
	if err != nil || vs.layout != 2 {
		t.Fatalf("sealed file: layout %v, %v", vs, err)
	}
	if err := fsys.WriteFile(path, encodeVecFileV1(vs.dim, vs.count, vs.ords, vs.data, buildANN(vs.dim, vs.ords, vs.data))); err != nil {
		t.Fatal(err)
	}
	l, err = Open("/l", ixTestOpts(fsys))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.man.Load().hasFeature(featureVecBlocks) {
		t.Fatal("no vecblocks feature")
	}
	if d, err := l.live.segs[0].vec.directory(); d != nil || err != nil {
		t.Fatalf("layout-1 file read as layout 2: %v", err)
	}
	if !ixTestCheck(t, l) {
		t.Fatal("layout-1 index not used")
	}
	search := func() [][]SimilarEvent {
		var out [][]SimilarEvent
		for i := 0; i < ixTestN; i += 97 {
			ten := TenantID("t")
			res, err := l.SearchSimilar(ctx, SimilarQuery{Vector: ixTestVector(i), Limit: 5, Filter: EventQuery{TenantID: &ten}})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res)
		}
		return out
	}
	before := search()
	if err := l.BuildVectorIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := fsys.ReadFile(path)
	if err != nil || !isVec2(b) {
		t.Fatalf("not rewritten in layout 2: %v", err)
	}
	if !ixTestCheck(t, l) {
		t.Fatal("no index after the rewrite")
	}
	after := search()
	for i := range before {
		if len(before[i]) != len(after[i]) {
			t.Fatalf("query %d: %d results, then %d", i, len(before[i]), len(after[i]))
		}
		for j := range before[i] {
			if before[i][j].Envelope.EventID != after[i][j].Envelope.EventID || before[i][j].Distance != after[i][j].Distance {
				t.Fatalf("query %d result %d: %+v, then %+v", i, j, before[i][j], after[i][j])
			}
		}
	}
}

// TestVec2SearchSameAnswer: a search of a layout-2 file with its index
// (which reads only the blocks of the candidate rows of the probed lists)
// gives exactly the hits of the same search over the whole decoded set
// (searchANN), for a file written with 4 KiB blocks and the same vectors
// with 64 KiB blocks (as written before), with no cache, a cache of a few
// blocks and one larger than the file, filtered to every third event and
// to every 51st (fewer candidates than MinCandidates: the exact path) and
// unfiltered, compared on one goroutine or several, and the same answer
// again at every repetition.
func TestVec2SearchSameAnswer(t *testing.T) {
	// Four goroutines per comparison of 512 rows or more, whatever the
	// machine (compareRows splits by GOMAXPROCS).
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	const n, dim = annMinVectors + 700, 48
	b4, vs := vec2Sample(t, n, dim, true)
	w := indexedRows(vs, vs.ann)
	w.rows = vecBlockRows(dim) * 16
	b64 := w.bytesOf()
	if bytes.Equal(b4, b64) {
		t.Fatal("same bytes for both block sizes")
	}
	r := rand.New(rand.NewPCG(9, 9))
	for _, file := range [][]byte{b4, b64} {
		for _, cache := range []int64{-1, 8 << 10, 1 << 30} {
			fsys := vfs.NewMem()
			if err := fsys.WriteFile("/x.vec", file); err != nil {
				t.Fatal(err)
			}
			v := &segVectors{fs: fsys, path: "/x.vec", dim: dim, count: vs.count, n: n, cache: newVecCache(cache)}
			d, err := v.directory()
			if err != nil {
				t.Fatal(err)
			}
			for qi := range 12 {
				q := slices.Clone(vs.vec(r.IntN(n)))
				q[qi%dim] += 0.3
				qn := norm32(q)
				for _, every := range []uint32{0, 3, 51} {
					var cands []uint32
					if every > 0 {
						for o := uint32(0); o < uint32(vs.count); o += every {
							cands = append(cands, o)
						}
					}
					vo := VectorIndexOptions{MinCandidates: 200}.withDefaults()
					want := newTopK(10)
					if every == 51 {
						// fewer candidates than MinCandidates: exact
						for i, o := range vs.ords {
							if o%every == 0 {
								want.push(simHit{dist: cosDistance(q, qn, vs.vec(i), vs.norms[i]), pos: 7 + uint64(o)})
							}
						}
					} else {
						var bits []uint64
						if every > 0 {
							bits = candBits(cands, vs.count)
						}
						searchANN(vs, q, qn, 7, bits, 10, vo, want)
					}
					for rep := range 2 {
						got := newTopK(10)
						if err := searchSeg2(v, d, q, qn, 7, cands, every > 0, 10, vo, got); err != nil {
							t.Fatal(err)
						}
						if g, w := got.sorted(), want.sorted(); !slices.Equal(g, w) || len(g) != 10 {
							t.Fatalf("R=%d cache %d query %d every %d rep %d: %v, whole-set search %v", d.rowsPerBlock, cache, qi, every, rep, g, w)
						}
					}
				}
			}
			if u, m := v.cache.cacheBytes(), v.cache.max; m > 0 && u > m && v.cache.n > 1 {
				t.Fatalf("cache holds %d bytes, bound %d", u, m)
			}
		}
	}
}

// TestVecCacheLRU: the vector block cache keeps the most recently used
// blocks within its bound (blocks, entries and slot arrays counted),
// evicts the least recently used, finds a file's blocks only under the
// generation they were read at, and forgets a file once none of its
// blocks is cached.
func TestVecCacheLRU(t *testing.T) {
	blk := func() *vecBlock { return &vecBlock{dim: 4, data: make([]float32, 40), norms: make([]float32, 10)} }
	per := blockBytes(blk())
	const nb = 16
	c := newVecCache(4*per + 8*nb)
	v, w := &segVectors{}, &segVectors{}
	put := func(v *segVectors, gen uint32, b int32) {
		c.putMany(v, gen, nb, []int32{b}, []*vecBlock{blk()}, []int{0})
	}
	has := func(v *segVectors, gen uint32, b int32) bool {
		out := make([]*vecBlock, 1)
		return c.getMany(v, gen, nb, []int32{b}, out) == 0 && out[0] != nil
	}
	for b := range int32(4) {
		put(v, 1, b)
	}
	if !has(v, 1, 0) { // 0 is now the most recent
		t.Fatal("block 0 not cached")
	}
	put(v, 1, 4) // evicts 1, the least recently used
	if has(v, 1, 1) || !has(v, 1, 0) || !has(v, 1, 4) || !has(v, 1, 2) {
		t.Fatal("wrong block evicted")
	}
	if c.cacheBytes() > c.max {
		t.Fatalf("%d bytes cached, bound %d", c.cacheBytes(), c.max)
	}
	if has(v, 2, 0) {
		t.Fatal("a block found under another generation")
	}
	// Another file's blocks push v's out; v is then forgotten.
	for b := range int32(3) {
		put(w, 1, b)
	}
	if c.cacheBytes() > c.max || c.n > 3 {
		t.Fatalf("%d bytes, %d blocks cached, bound %d", c.cacheBytes(), c.n, c.max)
	}
	for b := range int32(5) {
		if has(v, 1, b) {
			t.Fatalf("block %d of the first file still cached", b)
		}
	}
	if _, ok := c.segs[v]; ok || len(c.segs) != 1 {
		t.Fatalf("files known: %d", len(c.segs))
	}
	// No cache: nothing kept.
	c = newVecCache(-1)
	put(v, 1, 0)
	if has(v, 1, 0) || c.cacheBytes() != 0 {
		t.Fatal("a disabled cache kept a block")
	}
}
