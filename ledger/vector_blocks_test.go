package ledger

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
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
		var again []byte
		if s.ann == nil {
			again = encodeVecFile(s.dim, s.count, s.ords, s.data)
		} else {
			again = indexedRows(s, s.ann).bytesOf()
		}
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
	path := l.segs[0].vec.path
	seg := l.segs[0].vec
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
	if d, err := l.segs[0].vec.directory(); d != nil || err != nil {
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
