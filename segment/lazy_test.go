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
