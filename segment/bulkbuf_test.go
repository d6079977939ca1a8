package segment

import (
	"bytes"
	"sync/atomic"
	"testing"
)

// countingFile counts the reads of a segment file.
type countingFile struct {
	*bytes.Reader
	reads atomic.Int64
}

func (f *countingFile) ReadAt(p []byte, off int64) (int, error) {
	f.reads.Add(1)
	return f.Reader.ReadAt(p, off)
}

func (f *countingFile) Close() error { return nil }

// TestBulkSpanReads: a bulk read of a clustered segment reads its blocks
// in spans of adjacent blocks, not one read per block (whose strided
// order defeats the kernel's readahead), and returns the same records,
// with blocks in the cache, through sparse candidate sets and with any
// number of workers.
func TestBulkSpanReads(t *testing.T) {
	recs := genRecords(23, 50, 6000)
	m := newMemFS()
	writeSegment(t, m, "u", Options{BlockSize: 4 << 10, Unordered: true}, [32]byte{}, clusterShuffle(recs), nil)
	raw := m.get("u")
	for _, cached := range []int{-1, 3} {
		for _, workers := range []int{0, 1, 2, 3} {
			f := &countingFile{Reader: bytes.NewReader(raw)}
			r, err := openReaderAt("u", f, int64(len(raw)), NewCache(64<<20))
			if err != nil {
				t.Fatal(err)
			}
			nb := r.NumBlocks()
			if nb < 40 {
				t.Fatalf("fixture: %d blocks", nb)
			}
			if cached >= 0 {
				if _, err := r.Block(cached); err != nil {
					t.Fatal(err)
				}
			}
			before := f.reads.Load()
			i := 0
			err = r.ScanBulk(0, ^uint64(0), workers, func(rc Record) bool {
				if rc.Seq != recs[i].Seq || !bytes.Equal(rc.Data, recs[i].Data) {
					t.Fatalf("cached %d workers %d: record %d: seq %d, want %d", cached, workers, i, rc.Seq, recs[i].Seq)
				}
				i++
				return true
			})
			if err != nil || i != len(recs) {
				t.Fatalf("cached %d workers %d: %d records, %v", cached, workers, i, err)
			}
			// The whole segment is one window: its blocks (but the
			// cached one) are adjacent, so at most 2 spans (3 with
			// the cached block splitting one).
			if reads := f.reads.Load() - before; reads > 3 {
				t.Fatalf("cached %d workers %d: %d reads for %d blocks", cached, workers, reads, nb)
			}
			// Every 4th seq: still every block, spans again; the
			// records are those asked for.
			var seqs []uint64
			for _, rc := range recs {
				if rc.Seq%4 == 0 {
					seqs = append(seqs, rc.Seq)
				}
			}
			k := 0
			if err := r.ScanBulkSeqs(seqs, workers, func(rc Record) bool {
				if rc.Seq != seqs[k] || !bytes.Equal(rc.Data, recs[rc.Seq-50].Data) {
					t.Fatalf("seqs: record %d: seq %d, want %d", k, rc.Seq, seqs[k])
				}
				k++
				return true
			}); err != nil || k != len(seqs) {
				t.Fatalf("seqs: %d records, %v", k, err)
			}
			r.Close()
		}
	}
}

// TestBulkBuffersReuse: one BulkBuffers carried from read to read, over
// segments of different sizes and both held read kinds, gives the same
// records as fresh buffers; its blocks are reused (a second read of a
// segment adds no block to those it holds), and records stay unchanged
// until hold even though the next read reuses their blocks.
func TestBulkBuffersReuse(t *testing.T) {
	m := newMemFS()
	a := genRecords(31, 50, 3000)
	b := genRecords(37, 10_000, 7000)
	writeSegment(t, m, "a", Options{BlockSize: 4 << 10, Unordered: true}, [32]byte{}, clusterShuffle(a), nil)
	writeSegment(t, m, "b", Options{BlockSize: 8 << 10, Unordered: true}, [32]byte{}, clusterShuffle(b), nil)
	ra, err := Open(m, "a", NewCache(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := Open(m, "b", NewCache(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	var bb BulkBuffers
	read := func(r *Reader, recs []Record, seqs []uint64) {
		t.Helper()
		bySeq := map[uint64][]byte{}
		for _, rc := range recs {
			bySeq[rc.Seq] = rc.Data
		}
		var held []Record
		n := 0
		fn := func(rc Record) bool {
			if !bytes.Equal(rc.Data, bySeq[rc.Seq]) {
				t.Fatalf("%s: seq %d: wrong record", r.Path(), rc.Seq)
			}
			held = append(held, rc)
			n++
			return true
		}
		hold := func() {
			for _, rc := range held {
				if !bytes.Equal(rc.Data, bySeq[rc.Seq]) {
					t.Fatalf("%s: seq %d changed before hold", r.Path(), rc.Seq)
				}
			}
			held = held[:0]
		}
		want := len(recs)
		if seqs != nil {
			err = r.ScanBulkSeqsHeldWith(&bb, seqs, 2, fn, hold)
			want = len(seqs)
		} else {
			err = r.ScanBulkHeldWith(&bb, 0, ^uint64(0), 2, fn, hold)
		}
		if err != nil || n != want {
			t.Fatalf("%s: %d records of %d, %v", r.Path(), n, want, err)
		}
	}
	read(ra, a, nil)
	read(rb, b, nil)
	held := len(bb.free)
	if held == 0 {
		t.Fatal("no block kept for reuse")
	}
	read(rb, b, nil)
	read(ra, a, nil)
	var odd []uint64
	for _, rc := range b {
		if rc.Seq%2 == 1 {
			odd = append(odd, rc.Seq)
		}
	}
	read(rb, b, odd)
	if len(bb.free) != held {
		t.Fatalf("blocks kept: %d after the first reads, %d after more of the same", held, len(bb.free))
	}
}

// failFirstBig fails the first read larger than 64 KiB (a prefetch) once
// armed.
type failFirstBig struct {
	countingFile
	armed, failed atomic.Bool
}

func (f *failFirstBig) ReadAt(p []byte, off int64) (int, error) {
	if f.armed.Load() && len(p) > 64<<10 && f.failed.CompareAndSwap(false, true) {
		return 0, errInjected
	}
	return f.countingFile.ReadAt(p, off)
}

// TestBulkPrefetch: a prefetched segment's bulk read reads nothing more
// from the file and returns the same records; a prefetch of another
// segment is left for its own read; a failed prefetch only makes the read
// read the file itself.
func TestBulkPrefetch(t *testing.T) {
	recs := genRecords(41, 50, 5000)
	m := newMemFS()
	writeSegment(t, m, "u", Options{BlockSize: 4 << 10, Unordered: true}, [32]byte{}, clusterShuffle(recs), nil)
	raw := m.get("u")
	open := func(f readerAtCloser) *Reader {
		r, err := openReaderAt("u", f, int64(len(raw)), NewCache(64<<20))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	check := func(r *Reader, bb *BulkBuffers) {
		t.Helper()
		i := 0
		err := r.ScanBulkHeldWith(bb, 0, ^uint64(0), 2, func(rc Record) bool {
			if rc.Seq != recs[i].Seq || !bytes.Equal(rc.Data, recs[i].Data) {
				t.Fatalf("record %d: seq %d, want %d", i, rc.Seq, recs[i].Seq)
			}
			i++
			return true
		}, func() {})
		if err != nil || i != len(recs) {
			t.Fatalf("%d records, %v", i, err)
		}
	}
	f1 := &countingFile{Reader: bytes.NewReader(raw)}
	f2 := &countingFile{Reader: bytes.NewReader(raw)}
	r1, r2 := open(f1), open(f2)
	var bb BulkBuffers
	before := f1.reads.Load()
	bb.Prefetch(r1)
	check(r1, &bb)
	if got := f1.reads.Load() - before; got != 1 {
		t.Fatalf("prefetched read: %d file reads, want the prefetch's 1", got)
	}
	// r1 again, no prefetch: it reads the file itself (in spans).
	before = f1.reads.Load()
	check(r1, &bb)
	if got := f1.reads.Load() - before; got < 1 || got > 3 {
		t.Fatalf("plain read: %d file reads", got)
	}
	// A prefetch of r2 is not taken by a read of r1.
	before = f2.reads.Load()
	bb.Prefetch(r2)
	check(r1, &bb)
	check(r2, &bb)
	if got := f2.reads.Load() - before; got != 1 {
		t.Fatalf("r2 after its prefetch: %d reads, want the prefetch's 1", got)
	}
	// The prefetch of the segment about to be read survives the start
	// of the next one's (the scan's order: read s after prefetching the
	// one after s).
	before1, before2 := f1.reads.Load(), f2.reads.Load()
	bb.Prefetch(r1)
	bb.Prefetch(r2)
	check(r1, &bb)
	check(r2, &bb)
	if f1.reads.Load()-before1 != 1 || f2.reads.Load()-before2 != 1 {
		t.Fatalf("two prefetches: %d and %d reads, want 1 each", f1.reads.Load()-before1, f2.reads.Load()-before2)
	}
	bb.Prefetch(r2)
	bb.DropPrefetch()
	if len(bb.pending) != 0 || len(bb.spare) == 0 {
		t.Fatalf("prefetch not dropped: %d pending, %d spare", len(bb.pending), len(bb.spare))
	}
	// A failed prefetch: the read reads the blocks itself.
	ff := &failFirstBig{countingFile: countingFile{Reader: bytes.NewReader(raw)}}
	r3 := open(ff)
	ff.armed.Store(true)
	bb.Prefetch(r3)
	check(r3, &bb)
	if !ff.failed.Load() || ff.reads.Load() == 0 {
		t.Fatalf("failed prefetch: failed %v, %d reads", ff.failed.Load(), ff.reads.Load())
	}
}
