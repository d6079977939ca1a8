package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/exledger/exledger/internal/corrupt"
)

// rawUnorderedBlock builds an unordered raw (uncompressed) block holding
// one record per seq, in the order given, with a valid checksum.
func rawUnorderedBlock(seqs []uint64) []byte {
	var payload []byte
	prev := seqs[0]
	for _, s := range seqs {
		payload = binary.AppendVarint(payload, int64(s-prev))
		rec := []byte(fmt.Sprintf("record of seq %d", s))
		payload = binary.AppendUvarint(payload, uint64(len(rec)))
		payload = append(payload, rec...)
		prev = s
	}
	return craftBlock(blockHeader{
		codec: codecRaw, flags: flagUnordered, ulen: uint64(len(payload)), slen: uint32(len(payload)),
		count: uint32(len(seqs)), firstSeq: seqs[0],
	}, payload)
}

// seqMapFooter returns a footer whose seq map places the seqs first ..
// first+len(blocks)-1 in blocks[o] (a width-2 map).
func seqMapFooter(blocks []uint16) *footer {
	ft := &footer{width: 2, bmap: make([]byte, 2*len(blocks))}
	for o, b := range blocks {
		binary.LittleEndian.PutUint16(ft.bmap[2*o:], b)
	}
	return ft
}

// TestBlockPosTable checks the decode of an unordered block for a bulk
// read (blockCheck.pos: record positions written to the read's table, no
// sorted index) against the decode for the cache (Block.order): the same
// records and seqs, every position right whatever the table held before,
// and the same corruption refused by both (a seq stored twice, by a zero
// or a negative step; a seq the seq map places in another block or
// outside the segment), also when decoding into recycled blocks of the
// other kind.
func TestBlockPosTable(t *testing.T) {
	const first = 100
	// Seqs 100..109: 100-104 and 106-108 in block 0; 105 and 109 in block 1.
	ft := seqMapFooter([]uint16{0, 0, 0, 0, 0, 1, 0, 0, 0, 1})
	cases := []struct {
		name string
		seqs []uint64
		want string // corruption reason expected; "" = valid
	}{
		{"ascending", []uint64{100, 101, 102, 103, 104, 106, 107, 108}, ""},
		{"clustered", []uint64{103, 100, 107, 101, 108, 102, 106, 104}, ""},
		{"descending", []uint64{108, 107, 106, 104, 103, 102, 101, 100}, ""},
		{"single", []uint64{104}, ""},
		{"twice-zero-step", []uint64{100, 101, 101, 102}, "seq 101 stored twice"},
		{"twice-back", []uint64{103, 100, 107, 100, 108}, "seq 100 stored twice"},
		{"twice-first", []uint64{107, 101, 107}, "seq 107 stored twice"},
		{"other-block", []uint64{100, 105, 101}, "seq 105 does not belong to this block"},
		{"after-segment", []uint64{107, 110}, "seq 110 does not belong to this block"},
		{"before-segment", []uint64{100, 99}, "seq 99 does not belong to this block"},
	}
	for _, tc := range cases {
		raw := rawUnorderedBlock(tc.seqs)
		for _, mode := range []string{"order", "pos", "pos-recycled", "order-recycled"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				c := blockCheck{file: "f", index: 0, unordered: true, seqMap: ft, first: first, last: first + 9}
				var pos []uint32
				if strings.HasPrefix(mode, "pos") {
					// Stale entries, as a reused table holds: each seq's
					// entry names the record of the duplicate cases.
					pos = make([]uint32, 10)
					for i := range pos {
						pos[i] = uint32(i % 3)
					}
					c.pos = pos
				}
				var reuse *Block
				switch mode {
				case "pos-recycled": // a block decoded for the cache before
					if reuse, _ = decodeBlock(rawUnorderedBlock([]uint64{102, 100, 101, 103, 104, 106, 107, 108}), &blockCheck{unordered: true}); reuse == nil {
						t.Fatal("fixture block")
					}
				case "order-recycled": // a block decoded for a bulk read before
					pc := c
					pc.pos = make([]uint32, 10)
					if reuse, _ = decodeBlockInto(rawUnorderedBlock([]uint64{102, 100, 101, 103, 104, 106, 107, 108}), &pc, nil); reuse == nil || reuse.order != nil {
						t.Fatal("fixture block")
					}
				}
				b, err := decodeBlockInto(raw, &c, reuse)
				if tc.want != "" {
					var ce *corrupt.CorruptionError
					if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
						t.Fatalf("got %v, want corruption %q", err, tc.want)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if b.Len() != len(tc.seqs) {
					t.Fatalf("%d records, want %d", b.Len(), len(tc.seqs))
				}
				if (b.order == nil) != (pos != nil) {
					t.Fatalf("order %v with a position table %v", b.order, pos != nil)
				}
				for j, s := range tc.seqs {
					rec := b.Record(j)
					if rec.Seq != s || string(rec.Data) != fmt.Sprintf("record of seq %d", s) {
						t.Fatalf("record %d: seq %d %q, want seq %d", j, rec.Seq, rec.Data, s)
					}
					if pos != nil && pos[s-first] != uint32(j) {
						t.Fatalf("pos[%d] = %d, want %d", s-first, pos[s-first], j)
					}
					if k, ok := b.find(s); !ok || k != j {
						t.Fatalf("find(%d) = %d, %v; want %d", s, k, ok, j)
					}
				}
				if _, ok := b.find(105); ok {
					t.Fatal("find(105) found a seq the block does not hold")
				}
			})
		}
	}
	// A table too short for the segment's seqs is refused, not indexed
	// out of range.
	c := blockCheck{file: "f", unordered: true, seqMap: ft, first: first, last: first + 9, pos: make([]uint32, 5)}
	if _, err := decodeBlock(rawUnorderedBlock([]uint64{100, 106}), &c); !errors.Is(err, corrupt.ErrCorrupt) {
		t.Fatalf("short table: %v", err)
	}
}

// TestScanBulkLayouts reads the same records from a clustered and a
// log-order segment through every bulk read and checks that each gives
// exactly the records written, in seq order, for whole and partial
// ranges, with early stops, on 1 and 3 workers and in small windows, with
// one BulkBuffers reused from read to read and segment to segment (as the
// ledger's full scan does); then that a damaged block is reported as
// corruption at that block by each read of the clustered segment, and
// that the buffers still serve correct reads afterwards.
func TestScanBulkLayouts(t *testing.T) {
	recs := genRecords(23, 1000, 3000)
	m := newMemFS()
	writeSegment(t, m, "clustered", Options{BlockSize: 4 << 10, Unordered: true}, [32]byte{}, clusterShuffle(recs), nil)
	writeSegment(t, m, "log", Options{BlockSize: 4 << 10}, [32]byte{}, recs, nil)
	readers := map[string]*Reader{}
	for _, name := range []string{"clustered", "log"} {
		r, err := Open(m, name, NewCache(1<<20))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		readers[name] = r
	}
	if !readers["clustered"].Info().Unordered || readers["clustered"].NumBlocks() < 20 {
		t.Fatalf("fixture: %+v", readers["clustered"].Info())
	}
	var bb BulkBuffers
	defer bb.DropPrefetch()
	// read runs one bulk read of [from, to] on r, as the named method.
	read := func(method string, r *Reader, from, to uint64, workers int, fn func(Record) bool) error {
		switch method {
		case "ScanBulk":
			return r.ScanBulk(from, to, workers, fn)
		case "ScanBulkHeldWith":
			if !r.Info().Unordered {
				return r.ScanBulk(from, to, workers, fn)
			}
			return r.ScanBulkHeldWith(&bb, from, to, workers, fn, func() {})
		case "ScanBulkSeqs":
			var seqs []uint64
			for s := max(from, recs[0].Seq); s <= min(to, recs[len(recs)-1].Seq); s++ {
				seqs = append(seqs, s)
			}
			return r.ScanBulkSeqs(seqs, workers, fn)
		}
		t.Fatalf("unknown method %s", method)
		return nil
	}
	saved := bulkWindow
	defer func() { bulkWindow = saved }()
	cases := []struct {
		from, to uint64
		stopAt   int // stop after this many records (0: never)
	}{
		{0, ^uint64(0), 0},
		{1000, 3999, 0},
		{1777, 2500, 0},
		{3999, ^uint64(0), 0},
		{0, ^uint64(0), 1},
		{1200, ^uint64(0), 700},
	}
	for _, window := range []int64{saved, 16 << 10} {
		bulkWindow = window
		for _, method := range []string{"ScanBulk", "ScanBulkHeldWith", "ScanBulkSeqs"} {
			for _, tc := range cases {
				for _, workers := range []int{1, 3} {
					var got [2][]Record
					for k, name := range []string{"clustered", "log"} {
						err := read(method, readers[name], tc.from, tc.to, workers, func(rc Record) bool {
							got[k] = append(got[k], Record{Seq: rc.Seq, Data: bytes.Clone(rc.Data)})
							return tc.stopAt == 0 || len(got[k]) < tc.stopAt
						})
						if err != nil {
							t.Fatalf("%s %s [%d, %d]: %v", method, name, tc.from, tc.to, err)
						}
					}
					var want []Record
					for _, rc := range recs {
						if rc.Seq >= tc.from && rc.Seq <= tc.to && (tc.stopAt == 0 || len(want) < tc.stopAt) {
							want = append(want, rc)
						}
					}
					for k, name := range []string{"clustered", "log"} {
						if len(got[k]) != len(want) {
							t.Fatalf("window %d %s %s [%d, %d] stop %d, %d workers: %d records, want %d",
								window, method, name, tc.from, tc.to, tc.stopAt, workers, len(got[k]), len(want))
						}
						for i := range want {
							if got[k][i].Seq != want[i].Seq || !bytes.Equal(got[k][i].Data, want[i].Data) {
								t.Fatalf("%s %s [%d, %d]: record %d is seq %d, want %d", method, name, tc.from, tc.to, i, got[k][i].Seq, want[i].Seq)
							}
						}
					}
				}
			}
		}
	}
	bulkWindow = saved

	// Damage one block of the clustered segment (a flipped bit in its
	// stored bytes): every bulk read reports corruption at that block.
	cr := readers["clustered"]
	bi := cr.BlockInfo(cr.NumBlocks() / 2)
	img := m.get("clustered")
	img[bi.Offset+int64(bi.Length)/2] ^= 0x10
	m.put("damaged", img)
	dr, err := Open(m, "damaged", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	for _, method := range []string{"ScanBulk", "ScanBulkHeldWith", "ScanBulkSeqs"} {
		for _, workers := range []int{1, 3} {
			n := 0
			err := read(method, dr, 0, ^uint64(0), workers, func(Record) bool { n++; return true })
			var ce *corrupt.CorruptionError
			if !errors.As(err, &ce) || ce.Offset < bi.Offset || ce.Offset >= bi.Offset+int64(bi.Length) {
				t.Fatalf("%s on %d workers: want corruption inside [%d, %d), got %v after %d records", method, workers, bi.Offset, bi.Offset+int64(bi.Length), err, n)
			}
		}
	}
	// The buffers the failed reads used still give a healthy segment's
	// records exactly.
	i := 0
	if err := cr.ScanBulkHeldWith(&bb, 0, ^uint64(0), 3, func(rc Record) bool {
		if rc.Seq != recs[i].Seq || !bytes.Equal(rc.Data, recs[i].Data) {
			t.Fatalf("after a failed read: record %d is seq %d, want %d", i, rc.Seq, recs[i].Seq)
		}
		i++
		return true
	}, func() {}); err != nil || i != len(recs) {
		t.Fatalf("after a failed read: %d records, %v", i, err)
	}
}
