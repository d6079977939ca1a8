package segment

import (
	"errors"
	"fmt"
	"testing"

	"github.com/exledger/exledger/internal/corrupt"
)

// TestOpenLazy: readers opened with OpenLazy and a FooterCache far smaller
// than their footers answer exactly as eager ones (checkSegment: Info,
// Meta, Verify, Get, Locate, Block, Scan ...), the cache stays within its
// bound, and footers are parsed again after eviction.
func TestOpenLazy(t *testing.T) {
	m := newMemFS()
	start := [32]byte{4, 5, 6}
	type seg struct {
		path string
		recs []Record
		meta []byte
	}
	var segs []seg
	for i, unordered := range []bool{false, true, false, true} {
		recs := genRecords(uint64(10+i), 1+uint64(i)*10_000, 300)
		if unordered {
			recs = clusterShuffle(recs)
		}
		p := fmt.Sprintf("seg/%d", i)
		meta := []byte(p)
		writeSegment(t, m, p, Options{BlockSize: MinBlockSize, Unordered: unordered}, start, recs, meta)
		segs = append(segs, seg{p, recs, meta})
	}
	for _, capacity := range []int64{1, 1 << 30} {
		fc := NewFooterCache(capacity)
		cache := NewCache(1 << 20)
		var rs []*Reader
		for _, s := range segs {
			r, err := OpenLazy(m, s.path, cache, fc)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			eager, err := Open(m, s.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.Info() != eager.Info() {
				t.Fatalf("lazy info %+v, eager %+v", r.Info(), eager.Info())
			}
			eager.Close()
			if r.foot.Load() != nil {
				t.Fatal("OpenLazy parsed the block table")
			}
			rs = append(rs, r)
		}
		for round := range 2 {
			for i, s := range segs {
				checkSegment(t, rs[i], s.recs, start, s.meta)
				if st := fc.Stats(); st.Bytes > st.Capacity {
					t.Fatalf("round %d: footer cache holds %d bytes, capacity %d", round, st.Bytes, st.Capacity)
				}
			}
		}
		st := fc.Stats()
		if capacity == 1 && st.Loads <= int64(len(segs)) {
			t.Fatalf("capacity 1: %d footer loads for %d segments: nothing reloaded", st.Loads, len(segs))
		}
		if capacity > 1 && st.Loads != int64(len(segs)) {
			t.Fatalf("ample capacity: %d footer loads for %d segments, want one each", st.Loads, len(segs))
		}
	}
}

// TestOpenLazyFooterChanged: a footer damaged after OpenLazy verified it is
// reported as corruption when it is parsed, never used.
func TestOpenLazyFooterChanged(t *testing.T) {
	m := newMemFS()
	recs := genRecords(31, 1, 400)
	info := writeSegment(t, m, "seg/x", Options{BlockSize: MinBlockSize}, [32]byte{}, recs, nil)
	fc := NewFooterCache(1)
	r, err := OpenLazy(m, "seg/x", NewCache(1<<20), fc)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Get(recs[10].Seq); err != nil {
		t.Fatal(err)
	}
	b := m.get("seg/x")
	b[r.fOff+int64(40)] ^= 0x01 // inside the footer
	m.put("seg/x", b)
	_, err = r.Get(recs[10].Seq)
	if !errors.Is(err, corrupt.ErrCorrupt) {
		t.Fatalf("Get after the footer changed: %v, want corruption", err)
	}
	if err := r.Scan(info.FirstSeq, func(Record) bool { return true }); !errors.Is(err, corrupt.ErrCorrupt) {
		t.Fatalf("Scan after the footer changed: %v, want corruption", err)
	}
}

// TestOpenLazySeqMapApart: an unordered segment's seq map is held beside
// the footers only while the FooterCache has room for it; otherwise every
// use reads it again and checks it against the checksum taken when the
// footer was checked, and a map changed since is reported as corruption.
func TestOpenLazySeqMapApart(t *testing.T) {
	m := newMemFS()
	start := [32]byte{7}
	var paths []string
	var all [][]Record
	for i := range 3 {
		recs := clusterShuffle(genRecords(uint64(40+i), 1+uint64(i)*10_000, 500))
		p := fmt.Sprintf("seg/%d", i)
		writeSegment(t, m, p, Options{BlockSize: MinBlockSize, Unordered: true}, start, recs, []byte(p))
		paths = append(paths, p)
		all = append(all, recs)
	}
	open := func(fc *FooterCache) []*Reader {
		var rs []*Reader
		for _, p := range paths {
			r, err := OpenLazy(m, p, NewCache(1<<20), fc)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			rs = append(rs, r)
		}
		return rs
	}
	// Ample room: footers and maps held, each footer parsed once.
	fc := NewFooterCache(1 << 30)
	rs := open(fc)
	var maps int64
	for i, r := range rs {
		checkSegment(t, r, all[i], start, []byte(paths[i]))
		if r.smap.Load() == nil {
			t.Fatalf("segment %d: seq map not held with ample room", i)
		}
		maps += int64(r.mapLen)
	}
	st := fc.Stats()
	if st.Loads != int64(len(paths)) || st.Footers != 2*len(paths) {
		t.Fatalf("ample room: %+v, want %d loads and %d entries", st, len(paths), 2*len(paths))
	}
	// Room for the footers only: no map is held, every footer still is.
	fc = NewFooterCache(st.Bytes - maps)
	rs = open(fc)
	for _, r := range rs {
		r.Meta() // loads the footer (and offers its map while there is room)
	}
	for round := range 2 {
		for i, r := range rs {
			checkSegment(t, r, all[i], start, []byte(paths[i]))
			if r.smap.Load() != nil {
				t.Fatalf("round %d, segment %d: seq map held without room", round, i)
			}
		}
	}
	if st := fc.Stats(); st.Loads != int64(len(paths)) || st.Footers != len(paths) || st.Bytes > st.Capacity {
		t.Fatalf("room for the footers: %+v, want %d loads, as many footers", st, len(paths))
	}
	// The map changed in the file after the footer was checked.
	r := rs[1]
	b := m.get(paths[1])
	b[r.mapOff+int64(r.mapLen)/2] ^= 0x01
	m.put(paths[1], b)
	if _, err := r.Get(all[1][0].Seq); !errors.Is(err, corrupt.ErrCorrupt) {
		t.Fatalf("Get after the seq map changed: %v, want corruption", err)
	}
	if err := r.Scan(r.Info().FirstSeq, func(Record) bool { return true }); !errors.Is(err, corrupt.ErrCorrupt) {
		t.Fatalf("Scan after the seq map changed: %v, want corruption", err)
	}
	if _, err := r.CountBlocks([]uint64{all[1][0].Seq}, 0); !errors.Is(err, corrupt.ErrCorrupt) {
		t.Fatalf("CountBlocks after the seq map changed: %v, want corruption", err)
	}
}

// TestCountBlocks: the distinct blocks holding a set of seqs, as Locate
// gives them, with the count's stop.
func TestCountBlocks(t *testing.T) {
	m := newMemFS()
	for _, unordered := range []bool{false, true} {
		recs := genRecords(77, 1, 400)
		if unordered {
			recs = clusterShuffle(recs)
		}
		writeSegment(t, m, "s", Options{BlockSize: MinBlockSize, Unordered: unordered}, [32]byte{}, recs, nil)
		r, err := OpenLazy(m, "s", nil, NewFooterCache(1))
		if err != nil {
			t.Fatal(err)
		}
		var seqs []uint64
		want := map[int]bool{}
		for s := uint64(1); s <= 400; s += 7 {
			seqs = append(seqs, s)
			bi, ok := r.Locate(s)
			if !ok {
				t.Fatalf("Locate(%d) failed", s)
			}
			want[bi] = true
		}
		seqs = append(seqs, 401, 10_000) // outside: ignored
		if n, err := r.CountBlocks(seqs, 0); err != nil || n != len(want) {
			t.Fatalf("unordered %v: CountBlocks %d, %v; want %d", unordered, n, err, len(want))
		}
		if len(want) < 3 {
			t.Fatalf("unordered %v: only %d blocks", unordered, len(want))
		}
		if n, err := r.CountBlocks(seqs, 2); err != nil || n != 2 {
			t.Fatalf("unordered %v: CountBlocks with stop 2: %d, %v", unordered, n, err)
		}
		r.Close()
	}
}
