package index

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

func queryString(q Query) string {
	s := fmt.Sprint(q.All)
	p := func(x *string) string {
		if x == nil {
			return "nil"
		}
		return fmt.Sprintf("%q", *x)
	}
	return s + " [" + p(q.Start) + ", " + p(q.End) + "]"
}

func TestDifferential(t *testing.T) {
	sizes := []int{0, 1, 2, 17, 300, 2500, 20000}
	queries := 300
	if testing.Short() {
		sizes = []int{0, 1, 17, 300, 5000}
		queries = 120
	}
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(n), 7))
			es := genWorkload(r, n)
			data, err := buildIndex(es, nil)
			if err != nil {
				t.Fatal(err)
			}
			ix, err := Decode("test", data)
			if err != nil {
				t.Fatal(err)
			}
			if err := ix.Verify(); err != nil {
				t.Fatal(err)
			}
			mem := buildMem(es)
			if md, err := mem.Encode(); err != nil || !slices.Equal(md, data) {
				t.Fatalf("Mem.Encode differs from Builder.Encode (err %v)", err)
			}
			if mem.Len() != n || ix.Count() != uint32(n) {
				t.Fatalf("Len %d Count %d, want %d", mem.Len(), ix.Count(), n)
			}
			srcs := []struct {
				name string
				src  Source
			}{{"index", ix}, {"mem", mem}}
			for qi := 0; qi < queries; qi++ {
				q := randomQuery(r, es)
				want := brute(es, q)
				for _, s := range srcs {
					it, err := Eval(s.src, q, uint32(n))
					if err != nil {
						t.Fatalf("%s %s: %v", s.name, queryString(q), err)
					}
					got := drain(it, -1)
					if !slices.Equal(got, want) {
						t.Fatalf("%s %s:\n got %d %v\nwant %d %v", s.name, queryString(q), len(got), head(got), len(want), head(want))
					}
					// Early termination: the first k are the first k.
					k := r.IntN(5) + 1
					it, _ = Eval(s.src, q, uint32(n))
					got = drain(it, k)
					if !slices.Equal(got, want[:min(k, len(want))]) {
						t.Fatalf("%s %s first %d: got %v want %v", s.name, queryString(q), k, got, want[:min(k, len(want))])
					}
					// Seek: jump to a random ordinal, then take the rest.
					if n > 0 {
						seek := uint32(r.IntN(n))
						it, _ = Eval(s.src, q, uint32(n))
						it.Seek(seek)
						got = drain(it, -1)
						i, _ := slices.BinarySearch(want, seek)
						if !slices.Equal(got, want[i:]) {
							t.Fatalf("%s %s seek %d: got %d want %d", s.name, queryString(q), seek, len(got), len(want[i:]))
						}
					}
				}
			}
			checkTerms(t, es, ix, mem)
			checkTimeRanges(t, r, es, ix, mem)
		})
	}
}

func head(s []uint32) []uint32 { return s[:min(len(s), 12)] }

// checkTerms compares every term's postings, the summary filter and the
// event-id lookups with the generated entries.
func checkTerms(t *testing.T, es []entry, ix *Index, mem *Mem) {
	t.Helper()
	want := map[Term][]uint32{}
	for _, e := range es {
		for _, tm := range e.terms {
			l := want[tm]
			if len(l) == 0 || l[len(l)-1] != e.ord {
				want[tm] = append(l, e.ord)
			}
		}
	}
	for tm, ords := range want {
		if tm.Field == FieldEventID {
			c, err := ix.EventID(tm.Value)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range ords {
				if _, ok := slices.BinarySearch(c, o); !ok {
					t.Fatalf("EventID(%q) = %v misses %d", tm.Value, c, o)
				}
			}
			if m, _ := mem.EventID(tm.Value); !slices.Equal(m, ords) {
				t.Fatalf("mem EventID(%q) = %v want %v", tm.Value, m, ords)
			}
			continue
		}
		if !ix.Summary().MayContain(tm) {
			t.Fatalf("summary filter misses %v", tm)
		}
		for _, s := range []Source{ix, mem} {
			bm, err := s.Postings(tm)
			if err != nil {
				t.Fatal(err)
			}
			if got := bm.ToArray(); !slices.Equal(got, ords) {
				t.Fatalf("%T Postings(%v) = %d ords, want %d", s, tm, len(got), len(ords))
			}
		}
	}
	// Absent terms and ids.
	fp := 0
	for i := range 200 {
		tm := Term{FieldCorrelation, fmt.Sprintf("nope-%d", i)}
		if ix.Summary().MayContain(tm) {
			fp++
		}
		for _, s := range []Source{ix, mem} {
			bm, err := s.Postings(tm)
			if err != nil || !bm.IsEmpty() {
				t.Fatalf("%T absent term: %v %v", s, bm, err)
			}
		}
		id := fmt.Sprintf("missing-%d", i)
		if c, err := mem.EventID(id); err != nil || c != nil {
			t.Fatalf("mem EventID(absent) = %v %v", c, err)
		}
		if c, err := ix.EventID(id); err != nil || len(c) > 0 {
			t.Fatalf("index EventID(absent) = %v %v (a 48-bit collision is not expected)", c, err)
		}
	}
	if fp > 20 {
		t.Fatalf("summary filter: %d/200 false positives", fp)
	}
	if _, err := ix.Postings(Term{Field(0), "x"}); !errors.Is(err, ErrField) {
		t.Fatalf("bad field: %v", err)
	}
}

func checkTimeRanges(t *testing.T, r *rand.Rand, es []entry, ix *Index, mem *Mem) {
	t.Helper()
	for range 100 {
		q := randomQuery(r, es)
		q.All = nil
		want := brute(es, q)
		for _, s := range []Source{ix, mem} {
			bm, err := s.TimeRange(q.Start, q.End)
			if err != nil {
				t.Fatal(err)
			}
			if got := bm.ToArray(); !slices.Equal(got, want) {
				t.Fatalf("%T TimeRange %s: got %d want %d", s, queryString(q), len(got), len(want))
			}
		}
		if !ix.Summary().MayOverlap(q.Start, q.End) && len(want) > 0 {
			t.Fatalf("MayOverlap false but %d match", len(want))
		}
	}
}

func TestDeterminism(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 50, 3000} {
		es := genWorkload(r, n)
		ref, err := buildIndex(es, nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			order := r.Perm(n)
			// Shuffle term order within events too.
			shuffled := make([]entry, n)
			for i, e := range es {
				ts := slices.Clone(e.terms)
				r.Shuffle(len(ts), func(a, b int) { ts[a], ts[b] = ts[b], ts[a] })
				shuffled[i] = entry{e.ord, e.time, ts}
			}
			got, err := buildIndex(shuffled, order)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, ref) {
				t.Fatalf("n=%d: encoding depends on Add order", n)
			}
		}
		// Encoding twice from the same builder is stable too.
		b := NewBuilder()
		for _, e := range es {
			b.Add(e.ord, e.time, e.terms)
		}
		a1, _ := b.Encode()
		a2, _ := b.Encode()
		if !slices.Equal(a1, ref) || !slices.Equal(a2, ref) {
			t.Fatalf("n=%d: re-encoding differs", n)
		}
	}
}

func TestBuilderErrors(t *testing.T) {
	cases := []struct {
		name string
		add  func(b *Builder)
		want error
	}{
		{"gap", func(b *Builder) { b.Add(0, "t", nil); b.Add(2, "t", nil) }, ErrOrdinals},
		{"dup", func(b *Builder) { b.Add(0, "t", nil); b.Add(0, "t", nil) }, ErrOrdinals},
		{"not from zero", func(b *Builder) { b.Add(1, "t", nil) }, ErrOrdinals},
		{"bad field", func(b *Builder) { b.Add(0, "t", []Term{{Field(9), "x"}}) }, ErrField},
		{"zero field", func(b *Builder) { b.Add(0, "t", []Term{{Field(0), "x"}}) }, ErrField},
	}
	for _, c := range cases {
		b := NewBuilder()
		c.add(b)
		if _, err := b.Encode(); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	m := NewMem()
	m.Add(0, "t", nil)
	m.Add(5, "t", nil)
	if _, err := m.Postings(Term{FieldKind, "x"}); !errors.Is(err, ErrOrdinals) {
		t.Errorf("mem gap: %v", err)
	}
	m = NewMem()
	m.Add(0, "t", []Term{{Field(77), "x"}})
	if _, err := m.TimeRange(nil, nil); !errors.Is(err, ErrField) {
		t.Errorf("mem field: %v", err)
	}
}

func TestFileRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	es := genWorkload(r, 4000)
	data, err := buildIndex(es, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "00000001.idx")
	if err := WriteFile(vfs.OS, path, data); err != nil {
		t.Fatal(err)
	}
	if names, _ := vfs.OS.List(dir); !slices.Equal(names, []string{"00000001.idx"}) {
		t.Fatalf("directory holds %v", names)
	}
	ix, err := Open(vfs.OS, path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ix.secs {
		if i != secSummary && ix.secs[i].len > 0 {
			// Nothing but the summary is loaded yet.
			if ix.dict.v.Load() != nil || ix.times.v.Load() != nil || ix.ids.v.Load() != nil {
				t.Fatal("Open loaded more than the summary")
			}
		}
	}
	mem := buildMem(es)
	for range 50 {
		q := randomQuery(r, es)
		want := brute(es, q)
		it, err := Eval(ix, q, ix.Count())
		if err != nil {
			t.Fatal(err)
		}
		if got := drain(it, -1); !slices.Equal(got, want) {
			t.Fatalf("%s: got %d want %d", queryString(q), len(got), len(want))
		}
	}
	checkTerms(t, es, ix, mem)
	// Sizes add up to the file.
	var total int64
	for f, v := range ix.Bytes() {
		if v < 0 {
			t.Fatalf("Bytes[%v] = %d", f, v)
		}
		total += v
	}
	if total != int64(len(data)) {
		t.Fatalf("Bytes sum %d, file %d", total, len(data))
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	// Loaded sections still work after Close; unloaded ones report ErrClosed.
	if _, err := ix.Postings(es[0].terms[0]); err != nil {
		t.Fatal(err)
	}
	ix2, err := Open(vfs.OS, path)
	if err != nil {
		t.Fatal(err)
	}
	_ = ix2.Close()
	start := es[len(es)/2].time
	if _, err := ix2.TimeRange(&start, &start); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestConcurrentLazyLoad(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	es := genWorkload(r, 3000)
	data, _ := buildIndex(es, nil)
	ix, err := Decode("c", data)
	if err != nil {
		t.Fatal(err)
	}
	qs := make([]Query, 40)
	wants := make([][]uint32, len(qs))
	for i := range qs {
		qs[i] = randomQuery(r, es)
		wants[i] = brute(es, qs[i])
	}
	errc := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := range qs {
				j := (i + g*7) % len(qs)
				it, err := Eval(ix, qs[j], ix.Count())
				if err != nil {
					errc <- err
					return
				}
				if got := drain(it, -1); !slices.Equal(got, wants[j]) {
					errc <- fmt.Errorf("query %d differs", j)
					return
				}
			}
			errc <- nil
		}()
	}
	for range 4 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// TestPostingsOwned: mutating a returned bitmap does not change later
// answers.
func TestPostingsOwned(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	es := genWorkload(r, 20000)
	data, _ := buildIndex(es, nil)
	ix, _ := Decode("o", data)
	mem := buildMem(es)
	// Every kind is probed: the frequent ones are stored as roaring
	// bitmaps, which Postings returns without copying (copy-on-write).
	roaringSeen := 0
	dv, _ := ix.loadDict()
	for _, k := range testKinds {
		tm := Term{FieldKind, k}
		if e, ok, _ := ix.lookup(dv, tm.Field, tm.Value); ok && e.kind == postRoaring {
			roaringSeen++
		}
		for _, s := range []Source{ix, mem} {
			a, _ := s.Postings(tm)
			want := a.ToArray()
			a.Flip(0, 3000)
			a.AddRange(0, 100000)
			var other *roaring.Bitmap = roaring.New()
			other.AddRange(0, 10)
			a.And(other)
			b, _ := s.Postings(tm)
			if !slices.Equal(b.ToArray(), want) {
				t.Fatalf("%T %v: postings shared with the caller", s, tm)
			}
		}
	}
	if roaringSeen == 0 {
		t.Fatal("no roaring-encoded posting list was exercised")
	}
	for _, s := range []Source{ix, mem} {
		tr, _ := s.TimeRange(nil, &es[10].time)
		want := tr.ToArray()
		tr.Clear()
		tr2, _ := s.TimeRange(nil, &es[10].time)
		if !slices.Equal(tr2.ToArray(), want) {
			t.Fatalf("%T: time range shared", s)
		}
	}
}

func TestEmptyQueryAll(t *testing.T) {
	es := genWorkload(rand.New(rand.NewPCG(1, 1)), 100)
	data, _ := buildIndex(es, nil)
	ix, _ := Decode("e", data)
	it, _ := Eval(ix, Query{All: [][]Term{{}, nil}}, 100)
	if got := drain(it, -1); len(got) != 100 || got[99] != 99 {
		t.Fatalf("all: %d", len(got))
	}
	it, _ = Eval(ix, Query{}, 100)
	it.Seek(95)
	if got := drain(it, -1); !slices.Equal(got, []uint32{95, 96, 97, 98, 99}) {
		t.Fatalf("seek all: %v", got)
	}
	var ce *CorruptionError
	if _, err := Decode("x", []byte("short")); !errors.As(err, &ce) || !errors.Is(err, corrupt.ErrCorrupt) {
		t.Fatalf("short: %v", err)
	}
}

// TestMemReserve checks that a reserved Mem indexes exactly as a growing
// one (same encoded index), and that Reserve after the first Add changes
// nothing.
func TestMemReserve(t *testing.T) {
	es := genWorkload(rand.New(rand.NewPCG(5, 6)), 3000)
	build := func(reserve, late int) []byte {
		m := NewMem()
		m.Reserve(reserve)
		for i, e := range es {
			m.Add(uint32(i), e.time, e.terms)
			if i == 10 {
				m.Reserve(late)
			}
		}
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	want := build(0, 0)
	for _, r := range [][2]int{{1, 0}, {len(es), 0}, {10 * len(es), 0}, {0, len(es)}, {-1, -1}} {
		if got := build(r[0], r[1]); !bytes.Equal(got, want) {
			t.Errorf("Reserve(%d), then Reserve(%d) after 11 events: encoded index differs", r[0], r[1])
		}
	}
}
