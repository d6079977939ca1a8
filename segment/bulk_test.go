package segment

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/exledger/exledger/internal/corrupt"
)

// TestGetManyBulk checks the cache-bypassing read against the records
// written: every subset shape (all, sparse, one per block, across blocks of
// very different sizes so recycled buffers must grow), that it leaves the
// cache as it found it, and that it uses a block that is already cached.
func TestGetManyBulk(t *testing.T) {
	recs := genRecords(7, 100, 3000)
	// A few outsized records make some blocks much larger than the rest,
	// so a recycled Block must be regrown.
	for _, i := range []int{5, 1200, 2999} {
		recs[i].Data = bytes.Repeat(recs[i].Data, 300)
	}
	m := newMemFS()
	writeSegment(t, m, "s", Options{BlockSize: 16 << 10}, [32]byte{}, recs, nil)
	cache := NewCache(64 << 20)
	r, err := Open(m, "s", cache)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	bySeq := map[uint64][]byte{}
	for _, rc := range recs {
		bySeq[rc.Seq] = rc.Data
	}
	shapes := map[string][]uint64{}
	for _, rc := range recs {
		shapes["all"] = append(shapes["all"], rc.Seq)
		if rc.Seq%7 == 0 {
			shapes["sparse"] = append(shapes["sparse"], rc.Seq)
		}
	}
	for i := 0; i < r.NumBlocks(); i++ {
		shapes["first-of-block"] = append(shapes["first-of-block"], r.BlockInfo(i).FirstSeq)
	}
	shapes["one"] = []uint64{1234}
	for name, seqs := range shapes {
		t.Run(name, func(t *testing.T) {
			before := cache.Size()
			var got []uint64
			err := r.GetManyBulk(seqs, func(rc Record) bool {
				if !bytes.Equal(rc.Data, bySeq[rc.Seq]) {
					t.Fatalf("seq %d: wrong bytes", rc.Seq)
				}
				got = append(got, rc.Seq)
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(seqs) {
				t.Fatalf("got %d records, want %d", len(got), len(seqs))
			}
			for i := range got {
				if got[i] != seqs[i] {
					t.Fatalf("record %d: seq %d, want %d", i, got[i], seqs[i])
				}
			}
			if cache.Size() != before {
				t.Fatalf("bulk read changed the cache: %d -> %d bytes", before, cache.Size())
			}
		})
	}
	// A cached block is served from the cache (a hit, no file read).
	if _, err := r.Block(3); err != nil {
		t.Fatal(err)
	}
	h0, _ := cache.Stats()
	if err := r.GetManyBulk([]uint64{r.BlockInfo(3).FirstSeq}, func(Record) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if h1, _ := cache.Stats(); h1 != h0+1 {
		t.Fatalf("cache hits %d -> %d, want one hit", h0, h1)
	}
	// Early stop and a seq outside the segment.
	n := 0
	if err := r.GetManyBulk(shapes["all"], func(Record) bool { n++; return n < 10 }); err != nil || n != 10 {
		t.Fatalf("early stop: n=%d err=%v", n, err)
	}
	if err := r.GetManyBulk([]uint64{99}, func(Record) bool { return true }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("seq outside: %v", err)
	}
}

// TestBulkReadCorruption: a damaged block is reported as corruption by the
// bulk read and by Scan, and the recycled buffers do not leak a damaged
// block's bytes into a later, healthy read.
func TestBulkReadCorruption(t *testing.T) {
	recs := genRecords(9, 1, 800)
	m := newMemFS()
	writeSegment(t, m, "s", Options{BlockSize: 8 << 10}, [32]byte{}, recs, nil)
	r0, err := Open(m, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	bi := r0.BlockInfo(2)
	r0.Close()
	img := m.get("s")
	img[bi.Offset+int64(bi.Length)/2] ^= 0x40
	m.put("s", img)
	r, err := Open(m, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	all := make([]uint64, len(recs))
	for i := range recs {
		all[i] = recs[i].Seq
	}
	for name, read := range map[string]func() error{
		"bulk": func() error { return r.GetManyBulk(all, func(Record) bool { return true }) },
		"scan": func() error { return r.Scan(0, func(Record) bool { return true }) },
	} {
		var ce *corrupt.CorruptionError
		if err := read(); !errors.As(err, &ce) || ce.Offset < bi.Offset || ce.Offset >= bi.Offset+int64(bi.Length) {
			t.Fatalf("%s: want corruption inside block 2 [%d,%d), got %v", name, bi.Offset, bi.Offset+int64(bi.Length), err)
		}
	}
	// The healthy blocks still read correctly afterwards.
	healthy := []uint64{recs[0].Seq, recs[len(recs)-1].Seq}
	i := 0
	if err := r.GetManyBulk(healthy, func(rc Record) bool {
		want := recs[0].Data
		if i == 1 {
			want = recs[len(recs)-1].Data
		}
		if !bytes.Equal(rc.Data, want) {
			t.Fatalf("seq %d: wrong bytes after a corrupt read", rc.Seq)
		}
		i++
		return true
	}); err != nil || i != 2 {
		t.Fatalf("healthy read: %d records, %v", i, err)
	}
}

// TestScanBulkUnordered checks ScanBulk on a clustered segment against the
// records written: seq order from every kind of start, early stop, worker
// counts, a partly cached segment, and that it leaves the cache as it
// found it; on an ordered segment it is Scan.
func TestScanBulkUnordered(t *testing.T) {
	recs := genRecords(11, 50, 4000)
	m := newMemFS()
	writeSegment(t, m, "u", Options{BlockSize: 4 << 10, Unordered: true}, [32]byte{}, clusterShuffle(recs), nil)
	writeSegment(t, m, "o", Options{BlockSize: 4 << 10}, [32]byte{}, recs, nil)
	for _, name := range []string{"u", "o"} {
		cache := NewCache(64 << 20)
		r, err := Open(m, name, cache)
		if err != nil {
			t.Fatal(err)
		}
		if name == "u" && (!r.Info().Unordered || r.NumBlocks() < 20) {
			t.Fatalf("fixture: unordered %v, %d blocks", r.Info().Unordered, r.NumBlocks())
		}
		if _, err := r.Block(3); err != nil { // one block cached
			t.Fatal(err)
		}
		for _, from := range []uint64{0, 50, 51, 1234, 4049, 4050} {
			for _, workers := range []int{0, 1, 3} {
				before := cache.Size()
				i := max(int(from), 50) - 50
				stop := i + 1500 // an early stop on some starts
				err := r.ScanBulk(from, ^uint64(0), workers, func(rc Record) bool {
					if rc.Seq != recs[i].Seq || !bytes.Equal(rc.Data, recs[i].Data) {
						t.Fatalf("%s from %d: got seq %d, want %d", name, from, rc.Seq, recs[i].Seq)
					}
					i++
					return from != 1234 || i < stop
				})
				if err != nil {
					t.Fatal(err)
				}
				if want := len(recs); from == 1234 {
					if i != stop {
						t.Fatalf("%s from 1234: stopped at %d, want %d", name, i, stop)
					}
				} else if i != want {
					t.Fatalf("%s from %d: ended at %d, want %d", name, from, i, want)
				}
				if cache.Size() != before {
					t.Fatalf("%s: cache %d -> %d bytes", name, before, cache.Size())
				}
			}
		}
		// A bounded range visits exactly its seqs.
		var got []uint64
		if err := r.ScanBulk(700, 2100, 2, func(rc Record) bool {
			got = append(got, rc.Seq)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1401 || got[0] != 700 || got[len(got)-1] != 2100 {
			t.Fatalf("%s [700, 2100]: %d records, %d..%d", name, len(got), got[0], got[len(got)-1])
		}
		r.Close()
	}
}

// TestScanBulkSeqs checks the candidate-set bulk read of an unordered
// segment (and its ordered fallback) against the records written: sparse,
// contiguous, single and empty seq lists, in one window and in many
// (a tiny window budget), with and without workers; the cache is left as
// it was, an early stop stops, and bad seq lists are refused.
func TestScanBulkSeqs(t *testing.T) {
	recs := genRecords(13, 50, 4000)
	bySeq := map[uint64][]byte{}
	for _, rc := range recs {
		bySeq[rc.Seq] = rc.Data
	}
	m := newMemFS()
	writeSegment(t, m, "u", Options{BlockSize: 4 << 10, Unordered: true}, [32]byte{}, clusterShuffle(recs), nil)
	writeSegment(t, m, "o", Options{BlockSize: 4 << 10}, [32]byte{}, recs, nil)
	shapes := map[string][]uint64{"one": {1234}, "empty": nil}
	for _, rc := range recs {
		if rc.Seq%7 == 3 {
			shapes["sparse"] = append(shapes["sparse"], rc.Seq)
		}
		if rc.Seq >= 700 && rc.Seq <= 2100 {
			shapes["range"] = append(shapes["range"], rc.Seq)
		}
	}
	defer func(w int64) { bulkWindow = w }(bulkWindow)
	for _, name := range []string{"u", "o"} {
		cache := NewCache(64 << 20)
		r, err := Open(m, name, cache)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Block(3); err != nil { // one block cached
			t.Fatal(err)
		}
		for _, window := range []int64{bulkBudget, 8 << 10} {
			bulkWindow = window
			for shape, seqs := range shapes {
				for _, workers := range []int{0, 2} {
					before := cache.Size()
					i := 0
					err := r.ScanBulkSeqs(seqs, workers, func(rc Record) bool {
						if i >= len(seqs) || rc.Seq != seqs[i] || !bytes.Equal(rc.Data, bySeq[rc.Seq]) {
							t.Fatalf("%s %s window %d: record %d has seq %d", name, shape, window, i, rc.Seq)
						}
						i++
						return true
					})
					if err != nil || i != len(seqs) {
						t.Fatalf("%s %s window %d: %d of %d records, %v", name, shape, window, i, len(seqs), err)
					}
					if cache.Size() != before {
						t.Fatalf("%s: cache %d -> %d bytes", name, before, cache.Size())
					}
				}
			}
			n := 0
			if err := r.ScanBulkSeqs(shapes["range"], 2, func(Record) bool { n++; return n < 300 }); err != nil || n != 300 {
				t.Fatalf("%s early stop: n=%d err=%v", name, n, err)
			}
		}
		if err := r.ScanBulkSeqs([]uint64{49}, 0, func(Record) bool { return true }); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: seq outside the segment: %v", name, err)
		}
		if name == "u" {
			if err := r.ScanBulkSeqs([]uint64{60, 55}, 0, func(Record) bool { return true }); err == nil {
				t.Fatal("descending seqs accepted")
			}
		}
		r.Close()
	}
}

// TestScanBulkHeld: records of a held bulk read stay valid and unchanged
// after fn returns, until hold is called; hold runs before every window's
// blocks are recycled (a later window, or another read reusing the
// recycled blocks, never overwrites a record not yet released), and once
// more at the end, also after an early stop; ordered segments are refused.
func TestScanBulkHeld(t *testing.T) {
	recs := genRecords(17, 50, 4000)
	bySeq := map[uint64][]byte{}
	for _, rc := range recs {
		bySeq[rc.Seq] = rc.Data
	}
	m := newMemFS()
	writeSegment(t, m, "u", Options{BlockSize: 4 << 10, Unordered: true}, [32]byte{}, clusterShuffle(recs), nil)
	writeSegment(t, m, "o", Options{BlockSize: 4 << 10}, [32]byte{}, recs, nil)
	defer func(w int64) { bulkWindow = w }(bulkWindow)
	r, err := Open(m, "u", NewCache(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, rc := range recs {
		if rc.Seq%3 != 0 {
			seqs = append(seqs, rc.Seq)
		}
	}
	for _, window := range []int64{bulkBudget, 8 << 10} {
		bulkWindow = window
		for _, workers := range []int{0, 2} {
			for _, stopAt := range []int{-1, 777} {
				var held []Record
				holds, n := 0, 0
				check := func() {
					for _, rc := range held {
						if !bytes.Equal(rc.Data, bySeq[rc.Seq]) {
							t.Fatalf("window %d workers %d: seq %d changed before hold", window, workers, rc.Seq)
						}
					}
				}
				fn := func(rc Record) bool {
					held = append(held, rc)
					n++
					// Another read recycling blocks meanwhile must
					// not touch the held ones.
					if n%500 == 0 {
						if err := r.ScanBulk(r.Info().FirstSeq, r.Info().FirstSeq+300, workers, func(Record) bool { return true }); err != nil {
							t.Fatal(err)
						}
						check()
					}
					return n != stopAt
				}
				hold := func() {
					check()
					held = held[:0]
					holds++
				}
				if stopAt < 0 {
					err = r.ScanBulkHeld(0, math.MaxUint64, workers, fn, hold)
				} else {
					err = r.ScanBulkSeqsHeld(seqs, workers, fn, hold)
				}
				if err != nil {
					t.Fatal(err)
				}
				want := len(recs)
				if stopAt > 0 {
					want = stopAt
				}
				if n != want || len(held) != 0 || holds == 0 {
					t.Fatalf("window %d workers %d stop %d: %d records, %d not released, %d holds", window, workers, stopAt, n, len(held), holds)
				}
				if window < bulkBudget && stopAt < 0 && holds < 3 {
					t.Fatalf("small windows: only %d holds", holds)
				}
			}
		}
	}
	o, err := Open(m, "o", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.ScanBulkHeld(0, math.MaxUint64, 0, func(Record) bool { return true }, func() {}); err == nil {
		t.Fatal("held read of an ordered segment accepted")
	}
	if err := o.ScanBulkSeqsHeld([]uint64{60}, 0, func(Record) bool { return true }, func() {}); err == nil {
		t.Fatal("held seqs read of an ordered segment accepted")
	}
}
