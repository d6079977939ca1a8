package segment

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

// checkSegment asserts that every read path of r agrees with recs (which
// may be in any order) and that the stored chain values equal an
// independent computation.
func checkSegment(t *testing.T, r *Reader, recs []Record, start [32]byte, meta []byte) {
	t.Helper()
	sorted := append([]Record(nil), recs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Seq < sorted[j].Seq })
	chain := refChain(start, sorted)
	in := r.Info()
	first, last := sorted[0].Seq, sorted[len(sorted)-1].Seq
	var raw int64
	var minT, maxT string
	for _, rc := range recs {
		raw += int64(len(rc.Data))
		mergeTime(&minT, &maxT, rc.Time)
	}
	if in.FirstSeq != first || in.LastSeq != last || in.Count != uint64(len(recs)) || in.RawBytes != raw ||
		in.MinTime != minT || in.MaxTime != maxT || in.ChainStart != start || in.ChainEnd != chain[len(chain)-1] ||
		in.Blocks != r.NumBlocks() {
		t.Fatalf("info %+v does not match input (first %d last %d n %d raw %d)", in, first, last, len(recs), raw)
	}
	if !bytes.Equal(r.Meta(), meta) {
		t.Fatalf("meta %q, want %q", r.Meta(), meta)
	}
	if err := r.Verify(); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// Get and Locate for every record.
	for i, rc := range sorted {
		g, err := r.Get(rc.Seq)
		if err != nil || g.Seq != rc.Seq || !bytes.Equal(g.Data, rc.Data) {
			t.Fatalf("Get(%d) = %d %q, %v", rc.Seq, g.Seq, g.Data, err)
		}
		bi, ok := r.Locate(rc.Seq)
		if !ok {
			t.Fatalf("Locate(%d) not found", rc.Seq)
		}
		b, err := r.Block(bi)
		if err != nil {
			t.Fatal(err)
		}
		j, ok := b.find(rc.Seq)
		if !ok || b.Record(j).Seq != rc.Seq {
			t.Fatalf("block %d does not hold %d", bi, rc.Seq)
		}
		if !in.Unordered {
			info := r.BlockInfo(bi)
			if rc.Seq < info.FirstSeq || rc.Seq-info.FirstSeq >= uint64(info.Count) {
				t.Fatalf("Locate(%d)=%d whose range is %d+%d", rc.Seq, bi, info.FirstSeq, info.Count)
			}
			if rc.Seq-info.FirstSeq == uint64(info.Count)-1 && info.ChainEnd != chain[i] {
				t.Fatalf("block %d chain end differs from the reference", bi)
			}
		}
	}
	for _, s := range []uint64{first - 1, last + 1} {
		if s >= first && s <= last { // wrapped
			continue
		}
		if _, err := r.Get(s); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(%d) outside: %v", s, err)
		}
		if _, ok := r.Locate(s); ok {
			t.Fatalf("Locate(%d) outside found", s)
		}
	}
	// Checkpoints equal the reference chain.
	for _, cp := range r.Checkpoints() {
		if cp.Hash != chain[cp.Seq-first] {
			t.Fatalf("checkpoint at %d differs from the reference", cp.Seq)
		}
	}
	// Scan from several starting points.
	for _, from := range []uint64{0, first, first + uint64(len(recs))/3, last, last + 1} {
		var got []uint64
		err := r.Scan(from, func(rec Record) bool {
			want := sorted[rec.Seq-first]
			if !bytes.Equal(rec.Data, want.Data) {
				t.Fatalf("Scan: seq %d data differs", rec.Seq)
			}
			got = append(got, rec.Seq)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		wantN := 0
		if from <= last {
			wantN = int(last - max(from, first) + 1)
		}
		if len(got) != wantN {
			t.Fatalf("Scan(%d) gave %d records, want %d", from, len(got), wantN)
		}
		for k := 1; k < len(got); k++ {
			if got[k] != got[k-1]+1 {
				t.Fatalf("Scan(%d) not in seq order at %d", from, k)
			}
		}
	}
	// Scan stops when fn returns false.
	n := 0
	if err := r.Scan(first, func(Record) bool { n++; return n < 3 }); err != nil || n != min(3, len(recs)) {
		t.Fatalf("Scan early stop: n=%d err=%v", n, err)
	}
	// GetMany on every third seq.
	var want []uint64
	for o := 0; o < len(sorted); o += 3 {
		want = append(want, first+uint64(o))
	}
	k := 0
	err := r.GetMany(want, func(rec Record) bool {
		if rec.Seq != want[k] || !bytes.Equal(rec.Data, sorted[rec.Seq-first].Data) {
			t.Fatalf("GetMany item %d: seq %d", k, rec.Seq)
		}
		k++
		return true
	})
	if err != nil || k != len(want) {
		t.Fatalf("GetMany: %d of %d, %v", k, len(want), err)
	}
}

func TestRoundTrip(t *testing.T) {
	many := 3000
	if testing.Short() {
		many = 800
	}
	rng := rand.New(rand.NewPCG(7, 7))
	random := make([]Record, 300) // incompressible: raw blocks
	for i := range random {
		d := make([]byte, 50+rng.IntN(400))
		for j := range d {
			d[j] = byte(rng.Uint32())
		}
		random[i] = Record{Seq: 1 + uint64(i), Data: d}
	}
	empties := []Record{{Seq: 9, Data: nil}, {Seq: 10, Data: []byte{}}, {Seq: 11, Data: []byte("x"), Time: "2025"}}
	cases := []struct {
		name string
		recs []Record
	}{
		{"one", genRecords(1, 42, 1)},
		{"small", genRecords(2, 1000, 17)},
		{"many", genRecords(3, 1<<40, many)},
		{"incompressible", random},
		{"empty-data", empties},
		{"seq-zero", genRecords(4, 0, 5)},
		{"seq-max", genRecords(5, ^uint64(0)-9, 10)},
	}
	for _, bs := range []int{0, MinBlockSize, 16 << 10, 32 << 10, 64 << 10, 128 << 10} {
		for _, tc := range cases {
			for _, unordered := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/bs=%d/unordered=%v", tc.name, bs, unordered), func(t *testing.T) {
					recs := tc.recs
					if unordered {
						recs = clusterShuffle(recs)
					}
					m := newMemFS()
					start := [32]byte{1, 2, 3}
					meta := []byte("meta:" + tc.name)
					info := writeSegment(t, m, "seg/x", Options{BlockSize: bs, Unordered: unordered}, start, recs, meta)
					if _, err := m.Stat("seg/x.tmp"); err == nil {
						t.Fatal("temp file left behind")
					}
					r, err := Open(m, "seg/x", NewCache(1<<20))
					if err != nil {
						t.Fatal(err)
					}
					defer r.Close()
					if r.Info() != info {
						t.Fatalf("Open info %+v != Finish info %+v", r.Info(), info)
					}
					if sz, _ := m.Stat("seg/x"); sz != info.FileBytes {
						t.Fatalf("FileBytes %d, file %d", info.FileBytes, sz)
					}
					checkSegment(t, r, recs, start, meta)
				})
			}
		}
	}
}

// clusterShuffle reorders records by a (tenant, kind)-like key derived
// from their bytes, as compaction does, keeping seq order inside a key.
func clusterShuffle(recs []Record) []Record {
	out := append([]Record(nil), recs...)
	key := func(r Record) int {
		if len(r.Data) == 0 {
			return 0
		}
		return int(r.Data[len(r.Data)/2]) % 5
	}
	sort.SliceStable(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	return out
}

func TestBlockBoundaries(t *testing.T) {
	// Each record is 1 (delta) + 2 (uvarint 253) + 253 = 256 bytes, so four
	// fill a 1 KiB block exactly.
	mk := func(seq uint64, n int) Record { return Record{Seq: seq, Data: bytes.Repeat([]byte{byte(seq)}, n)} }
	t.Run("exact-fill", func(t *testing.T) {
		var recs []Record
		for i := 0; i < 9; i++ {
			recs = append(recs, mk(uint64(i+1), 253))
		}
		m := newMemFS()
		writeSegment(t, m, "s", Options{BlockSize: 1024}, [32]byte{}, recs, nil)
		r, err := Open(m, "s", nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.NumBlocks() != 3 || r.BlockInfo(0).Count != 4 || r.BlockInfo(1).Count != 4 || r.BlockInfo(2).Count != 1 {
			t.Fatalf("blocks %d, counts %d %d", r.NumBlocks(), r.BlockInfo(0).Count, r.BlockInfo(1).Count)
		}
		checkSegment(t, r, recs, [32]byte{}, nil)
	})
	t.Run("oversized-record-alone", func(t *testing.T) {
		recs := []Record{mk(1, 100), mk(2, 100), mk(3, 5000), mk(4, 100), mk(5, 3*1024)}
		m := newMemFS()
		writeSegment(t, m, "s", Options{BlockSize: 1024}, [32]byte{}, recs, nil)
		r, err := Open(m, "s", nil)
		if err != nil {
			t.Fatal(err)
		}
		var counts []uint32
		for i := 0; i < r.NumBlocks(); i++ {
			counts = append(counts, r.BlockInfo(i).Count)
		}
		if fmt.Sprint(counts) != "[2 1 1 1]" {
			t.Fatalf("block counts %v, want [2 1 1 1]", counts)
		}
		checkSegment(t, r, recs, [32]byte{}, nil)
	})
	t.Run("max-record", func(t *testing.T) {
		if testing.Short() {
			t.Skip("16 MiB record")
		}
		recs := []Record{mk(1, 10), mk(2, MaxRecordBytes), mk(3, 10)}
		m := newMemFS()
		writeSegment(t, m, "s", Options{}, [32]byte{}, recs, nil)
		r, err := Open(m, "s", nil)
		if err != nil {
			t.Fatal(err)
		}
		checkSegment(t, r, recs, [32]byte{}, nil)
	})
}

func TestWriterErrors(t *testing.T) {
	m := newMemFS()
	newW := func(opts Options) *Writer {
		w, err := NewWriter(m, "e", opts, [32]byte{})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	for _, o := range []Options{{BlockSize: 100}, {BlockSize: MaxBlockBytes + 1}, {Level: 99}, {Level: -1}} {
		if _, err := NewWriter(m, "e", o, [32]byte{}); !errors.Is(err, ErrBadOptions) {
			t.Fatalf("options %+v: %v", o, err)
		}
	}
	w := newW(Options{})
	if _, err := w.Finish(nil); !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty Finish: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Stat("e.tmp"); err == nil {
		t.Fatal("Abort left the temp file")
	}
	if _, err := m.Stat("e"); err == nil {
		t.Fatal("file at path after Abort")
	}

	w = newW(Options{})
	if err := w.Append(Record{Seq: 5}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []uint64{5, 4, 7} {
		if err := w.Append(Record{Seq: s}); !errors.Is(err, ErrSeq) {
			t.Fatalf("seq %d after 5: %v", s, err)
		}
	}
	if err := w.Append(Record{Seq: 6, Time: string(make([]byte, 65))}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("long time: %v", err)
	}
	if err := w.Append(Record{Seq: 6, Data: make([]byte, MaxRecordBytes+1)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("huge record: %v", err)
	}
	if _, err := w.Finish(make([]byte, MaxMetaBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("huge meta: %v", err)
	}
	if _, err := w.Finish([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(Record{Seq: 6}); !errors.Is(err, ErrFinished) {
		t.Fatalf("Append after Finish: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort after Finish: %v", err)
	}
	if _, err := m.Stat("e"); err != nil {
		t.Fatal("Abort after Finish removed the segment")
	}

	// SetChain on an ordered writer.
	w = newW(Options{})
	w.Append(Record{Seq: 1})
	w.SetChain([32]byte{}, nil)
	if _, err := w.Finish(nil); !errors.Is(err, ErrChain) {
		t.Fatalf("SetChain on ordered: %v", err)
	}
	w.Abort()

	// Unordered: missing SetChain, gaps, duplicates, bad checkpoints.
	recs := genRecords(9, 10, 20)
	ch := refChain([32]byte{}, recs)
	good := []Checkpoint{{Seq: 29, Hash: ch[19]}}
	uCases := []struct {
		name string
		seqs []uint64
		cps  []Checkpoint
		set  bool
		want error
	}{
		{"no-setchain", nil, nil, false, ErrChain},
		{"gap", []uint64{10, 11, 13}, good, true, ErrSeq},
		{"dup", []uint64{10, 11, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 29}, good, true, ErrSeq},
		{"cp-not-last", nil, []Checkpoint{{Seq: 28}}, true, ErrChain},
		{"cp-descending", nil, []Checkpoint{{Seq: 20}, {Seq: 15}, {Seq: 29}}, true, ErrChain},
		{"cp-outside", nil, []Checkpoint{{Seq: 9}, {Seq: 29}}, true, ErrChain},
		{"cp-empty", nil, []Checkpoint{}, true, ErrChain},
	}
	for _, tc := range uCases {
		w := newW(Options{Unordered: true})
		seqs := tc.seqs
		if seqs == nil {
			for i := 29; i >= 10; i-- {
				seqs = append(seqs, uint64(i))
			}
		}
		for _, s := range seqs {
			if err := w.Append(Record{Seq: s, Data: recs[s-10].Data}); err != nil {
				t.Fatal(err)
			}
		}
		if tc.set {
			w.SetChain([32]byte{}, tc.cps)
		}
		if _, err := w.Finish(nil); !errors.Is(err, tc.want) {
			t.Fatalf("%s: Finish = %v, want %v", tc.name, err, tc.want)
		}
		w.Abort()
	}

	// Wrong checkpoint hashes seal fine but fail Verify as corruption.
	w = newW(Options{Unordered: true})
	for i := 19; i >= 0; i-- {
		w.Append(recs[i])
	}
	bad := ch[19]
	bad[0] ^= 1
	w.SetChain([32]byte{}, []Checkpoint{{Seq: 15, Hash: ch[5]}, {Seq: 29, Hash: bad}})
	if _, err := w.Finish(nil); err != nil {
		t.Fatal(err)
	}
	r, err := Open(m, "e", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(); !errors.Is(err, corrupt.ErrCorrupt) {
		t.Fatalf("Verify with a wrong checkpoint: %v", err)
	}
	r.Close()
	if _, err := r.Get(10); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if err := r.Verify(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Verify after Close: %v", err)
	}
}

func TestChainNext(t *testing.T) {
	recs := genRecords(11, 1, 50)
	ref := refChain([32]byte{9}, recs)
	h := [32]byte{9}
	for i, r := range recs {
		h = ChainNext(h, r.Data)
		if h != ref[i] {
			t.Fatalf("ChainNext differs at %d", i)
		}
	}
	// Order matters: swapping two records changes the end value.
	recs[3], recs[4] = recs[4], recs[3]
	if refChain([32]byte{9}, recs)[49] == ref[49] {
		t.Fatal("chain insensitive to order")
	}
}

func TestLevelsAndOS(t *testing.T) {
	dir := t.TempDir()
	recs := genRecords(12, 1, 400)
	var sizes []int64
	for _, lvl := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression} {
		var bytesByEntropy [2]int64
		for i, entropy := range []bool{false, true} {
			p := fmt.Sprintf("%s/seg-%d-%v", dir, lvl, entropy)
			info := writeSegment(t, vfs.OS, p, Options{Level: lvl, EntropyLiterals: entropy}, [32]byte{}, recs, nil)
			r, err := Open(vfs.OS, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkSegment(t, r, recs, [32]byte{}, nil)
			r.Close()
			sizes = append(sizes, info.FileBytes)
			bytesByEntropy[i] = info.FileBytes
			if info.FileBytes*2 > info.RawBytes {
				t.Fatalf("level %d, entropy %v: %d bytes for %d raw: not compressed", lvl, entropy, info.FileBytes, info.RawBytes)
			}
		}
		// Huffman-coded literals must take effect (and make the file smaller).
		if bytesByEntropy[1] >= bytesByEntropy[0] {
			t.Errorf("level %d: %d bytes with entropy-coded literals, %d without", lvl, bytesByEntropy[1], bytesByEntropy[0])
		}
	}
	t.Logf("file bytes by level (raw literals, entropy-coded): %v", sizes)
}
