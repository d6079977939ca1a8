package index

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/exledger/exledger/vfs"
)

// TestVersion1Compat: a version 1 file (what the previous writer
// produced) opens, verifies and answers every query like the version 2
// file of the same entries, through Decode and through Open with a
// small cache; the two encodings hold the same six sections.
func TestVersion1Compat(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	dir := t.TempDir()
	for _, n := range []int{0, 1, 17, 3000} {
		es := genWorkload(r, n)
		v1, err := buildIndexV(es, nil, 1)
		if err != nil {
			t.Fatal(err)
		}
		v2, err := buildIndex(es, nil)
		if err != nil {
			t.Fatal(err)
		}
		if FileVersion(v1) != 1 || FileVersion(v2) != 2 || FileVersion([]byte("not an index")) != 0 {
			t.Fatalf("FileVersion: %d %d", FileVersion(v1), FileVersion(v2))
		}
		// Same sections, in the same places; v2 adds the chunk checksums.
		a, _ := Decode("v1", v1)
		b, _ := Decode("v2", v2)
		if a == nil || b == nil || a.Version() != 1 || b.Version() != 2 {
			t.Fatalf("n=%d: decode failed", n)
		}
		for s := secSummary; s <= secIDs; s++ {
			if a.secs[s] != b.secs[s] {
				t.Fatalf("n=%d section %d: v1 %+v v2 %+v", n, s, a.secs[s], b.secs[s])
			}
		}
		if !slices.Equal(v1[headerLen:a.secs[secIDs].off+a.secs[secIDs].len], v2[headerLen:b.secs[secIDs].off+b.secs[secIDs].len]) {
			t.Fatalf("n=%d: the sections' bytes differ", n)
		}
		if _, err := NewBuilder().EncodeVersion(3); err == nil {
			t.Fatal("EncodeVersion(3) succeeded")
		}
		path := filepath.Join(dir, fmt.Sprintf("%d.idx", n))
		if err := WriteFile(vfs.OS, path, v1); err != nil {
			t.Fatal(err)
		}
		c := NewCache(4096)
		f, err := OpenCached(vfs.OS, path, c)
		if err != nil {
			t.Fatal(err)
		}
		mem := buildMem(es)
		for _, ix := range []*Index{a, f} {
			if err := ix.Verify(); err != nil {
				t.Fatalf("n=%d: Verify of a version 1 file: %v", n, err)
			}
			for range 40 {
				q := randomQuery(r, es)
				it, err := Eval(ix, q, ix.Count())
				if err != nil {
					t.Fatal(err)
				}
				if got, want := drain(it, -1), brute(es, q); !slices.Equal(got, want) {
					t.Fatalf("n=%d %s: got %d want %d", n, queryString(q), len(got), len(want))
				}
			}
			checkTerms(t, es, ix, mem)
		}
		_ = f.Close()
	}
}

// allTerms returns every distinct dictionary term of es.
func allTerms(es []entry) []Term {
	seen := map[Term]bool{}
	var ts []Term
	for _, e := range es {
		for _, tm := range e.terms {
			if tm.Field != FieldEventID && !seen[tm] {
				seen[tm] = true
				ts = append(ts, tm)
			}
		}
	}
	slices.SortFunc(ts, termKeyCompare)
	return ts
}

// TestChunkFlipsDetectedOnUse: a flipped byte anywhere in the dictionary
// and postings of a version 2 file never yields a wrong answer. Every
// lookup of every term either answers as the undamaged file does or
// reports a CorruptionError; the lookups of the terms whose restart
// block or posting list holds the byte report it; Verify reports it.
func TestChunkFlipsDetectedOnUse(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	es := genWorkload(r, 3000)
	data, _ := buildIndex(es, nil)
	ref, _ := Decode("ref", data)
	terms := allTerms(es)
	want := make([]string, len(terms))
	for i, tm := range terms {
		bm, err := ref.Postings(tm)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = bm.String()
	}
	region := ref.secs[secDict].len + ref.secs[secPostings].len
	if region < 4*chunkSize {
		t.Fatalf("region of %d bytes: too few chunks for the test", region)
	}
	step := int64(13)
	if testing.Short() {
		step = 61
	}
	for off := int64(0); off < region; off += step {
		bad := slices.Clone(data)
		bad[ref.secs[secDict].off+off] ^= 0x20
		ix, err := Decode("flip", bad)
		if err != nil {
			t.Fatalf("offset %d: Decode: %v (the summary is untouched)", off, err)
		}
		caught := 0
		for i, tm := range terms {
			bm, err := ix.Postings(tm)
			switch {
			case err != nil && !isCorruption(err):
				t.Fatalf("offset %d %v: %v", off, tm, err)
			case err != nil:
				caught++
			case bm.String() != want[i]:
				t.Fatalf("offset %d %v: wrong postings returned silently", off, tm)
			}
		}
		if caught == 0 {
			t.Fatalf("offset %d: no lookup of any term reported the damage", off)
		}
		if err := ix.Verify(); !isCorruption(err) {
			t.Fatalf("offset %d: Verify = %v", off, err)
		}
	}
}

// TestChunkedLookupReadsLittle: a term lookup in a version 2 file opened
// with a cache reads the dictionary's head and a few chunks, not the
// sections; the cache then holds only those.
func TestChunkedLookupReadsLittle(t *testing.T) {
	r := rand.New(rand.NewPCG(35, 36))
	es := genWorkload(r, 20000)
	data, _ := buildIndex(es, nil)
	path := filepath.Join(t.TempDir(), "x.idx")
	if err := WriteFile(vfs.OS, path, data); err != nil {
		t.Fatal(err)
	}
	c := NewCache(64 << 20)
	ix, err := OpenCached(vfs.OS, path, c)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	region := ix.secs[secDict].len + ix.secs[secPostings].len
	terms := allTerms(es)
	mem := buildMem(es)
	tm := terms[len(terms)/2]
	got, err := ix.Postings(tm)
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := mem.Postings(tm); !got.Equals(w) {
		t.Fatal("wrong postings")
	}
	nr := (int64(ix.summary.Terms) + dictRestart - 1) / dictRestart
	held := c.Stats().Bytes
	// The head, plus a chunk per binary-search step and the list's.
	limit := 8 + 12*nr + chunkSize*(int64(bitsLen(uint64(nr)))+3)
	t.Logf("region %d bytes (%d chunks), head %d, held after one lookup %d", region, (region+chunkSize-1)/chunkSize, 8+12*nr, held)
	if held > limit || held >= region/2 {
		t.Fatalf("one lookup left %d bytes in the cache (limit %d, region %d)", held, limit, region)
	}
	if ix.post.v.Load() != nil {
		t.Fatal("the postings section was loaded whole")
	}
	// The same lookup again reads nothing new.
	loads := c.Stats().Loads
	if _, err := ix.Postings(tm); err != nil {
		t.Fatal(err)
	}
	if c.Stats().Loads != loads {
		t.Fatalf("a repeated lookup loaded %d more entries", c.Stats().Loads-loads)
	}
	// Every term answers right through the chunks.
	checkTerms(t, es, ix, mem)
}

func bitsLen(x uint64) int {
	n := 0
	for ; x > 0; x >>= 1 {
		n++
	}
	return n
}

// TestWholeRegionAfterManyMisses: when lookups of one file have read a
// quarter of its chunks one by one, the next miss reads the dictionary
// and postings whole and keeps every chunk, so that looking up every
// term of a file costs about as many reads as a quarter of its chunks,
// not one or more per chunk; the answers stay right.
func TestWholeRegionAfterManyMisses(t *testing.T) {
	r := rand.New(rand.NewPCG(37, 38))
	es := genWorkload(r, 20000)
	data, _ := buildIndex(es, nil)
	path := filepath.Join(t.TempDir(), "x.idx")
	if err := WriteFile(vfs.OS, path, data); err != nil {
		t.Fatal(err)
	}
	fs := vfs.NewFault(vfs.OS)
	ix, err := OpenCached(fs, path, NewCache(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	nchunks := (ix.secs[secDict].len + ix.secs[secPostings].len + chunkSize - 1) / chunkSize
	before := fs.Count(vfs.OpRead)
	checkTerms(t, es, ix, buildMem(es))
	reads := int64(fs.Count(vfs.OpRead) - before)
	t.Logf("%d chunks; looking up every term took %d reads", nchunks, reads)
	if reads > nchunks/2 { // chunk by chunk it takes about one read per chunk
		t.Fatalf("%d reads for %d chunks: the region was not read whole", reads, nchunks)
	}
	ct, _ := ix.loadChunks()
	for i := range ct.slots {
		if ct.slots[i].b.Load() == nil {
			t.Fatalf("chunk %d of %d not held after the whole read", i, len(ct.slots))
		}
	}
}

// TestEvictedChunksDoNotReadWhole: the same lookup repeated through a
// cache that holds nothing reads its few chunks again each time and
// never the whole region (re-reads are not new chunks).
func TestEvictedChunksDoNotReadWhole(t *testing.T) {
	r := rand.New(rand.NewPCG(39, 40))
	es := genWorkload(r, 20000)
	data, _ := buildIndex(es, nil)
	path := filepath.Join(t.TempDir(), "x.idx")
	if err := WriteFile(vfs.OS, path, data); err != nil {
		t.Fatal(err)
	}
	ix, err := OpenCached(vfs.OS, path, NewCache(1))
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	terms := allTerms(es)
	tm := terms[len(terms)/3]
	want, _ := buildMem(es).Postings(tm)
	for range 200 {
		got, err := ix.Postings(tm)
		if err != nil || !got.Equals(want) {
			t.Fatalf("Postings: %v", err)
		}
	}
	ct, _ := ix.loadChunks()
	if ct.whole.Load() {
		t.Fatalf("200 repeats of one lookup read the whole region (%d distinct chunks of %d)", ct.distinct.Load(), len(ct.slots))
	}
}
