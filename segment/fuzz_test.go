package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/exledger/exledger/internal/corrupt"
)

// fuzzSeeds returns small valid segments (ordered, unordered, with a raw
// block) to seed both fuzz targets.
func fuzzSeeds(t testing.TB) map[string][]byte {
	seeds := map[string][]byte{}
	recs := genRecords(61, 10, 12)
	for i := range recs {
		recs[i].Data = recs[i].Data[:60+i*9]
	}
	for _, unordered := range []bool{false, true} {
		m := newMemFS()
		in := recs
		if unordered {
			in = clusterShuffle(recs)
		}
		writeSegment(t, m, "s", Options{BlockSize: MinBlockSize, Unordered: unordered}, [32]byte{3}, in, []byte("m"))
		seeds[fmt.Sprintf("segment-unordered-%v", unordered)] = m.get("s")
	}
	m := newMemFS()
	writeSegment(t, m, "s", Options{}, [32]byte{}, []Record{{Seq: 1, Data: []byte("tiny")}, {Seq: 2, Data: nil}}, nil)
	seeds["segment-raw-block"] = m.get("s")
	return seeds
}

// firstBlock cuts the first block out of a segment.
func firstBlock(seg []byte) []byte {
	r, err := openReaderAt("f", bytesFile{bytes.NewReader(seg)}, int64(len(seg)), nil)
	if err != nil {
		return nil
	}
	bi := r.BlockInfo(0)
	return seg[bi.Offset : bi.Offset+int64(bi.Length)]
}

func FuzzBlockDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		if b := firstBlock(s); b != nil {
			f.Add(b)
		}
	}
	f.Add(craftBlock(blockHeader{codec: codecZstd, ulen: 1 << 20, slen: uint32(len(zstdFrameFCS(1 << 40))), count: 1}, zstdFrameFCS(1<<40)))
	f.Fuzz(func(t *testing.T, data []byte) {
		try := func(b []byte) {
			for _, unordered := range []bool{false, true} {
				blk, err := decodeBlock(b, &blockCheck{file: "fuzz", unordered: unordered})
				if err != nil {
					if !errors.Is(err, corrupt.ErrCorrupt) {
						t.Fatalf("non-corruption error: %v", err)
					}
					continue
				}
				h, _ := parseBlockHeader(b, &blockCheck{unordered: unordered})
				if blk.Len() != int(h.count) || uint64(len(blk.data)) != h.ulen {
					t.Fatalf("decoded %d records / %d bytes, header %d / %d", blk.Len(), len(blk.data), h.count, h.ulen)
				}
				seen := map[uint64]bool{}
				for j := 0; j < blk.Len(); j++ {
					rec := blk.Record(j)
					if seen[rec.Seq] {
						t.Fatalf("seq %d twice", rec.Seq)
					}
					seen[rec.Seq] = true
					if k, ok := blk.find(rec.Seq); !ok || k != j {
						t.Fatalf("find(%d) = %d, %v; want %d", rec.Seq, k, ok, j)
					}
				}
			}
		}
		try(data)
		// Fix the checksum so the fuzzer reaches decompression and framing.
		if len(data) >= minBlockLen {
			b := bytes.Clone(data)
			n := len(b) - blockChecksumLen
			binary.LittleEndian.PutUint64(b[n:], xxhash.Sum64(b[:n]))
			try(b)
		}
	})
}

func FuzzSegmentOpen(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := openReaderAt("fuzz", bytesFile{bytes.NewReader(data)}, int64(len(data)), NewCache(1<<20))
		if err != nil {
			if !errors.Is(err, corrupt.ErrCorrupt) {
				t.Fatalf("Open: non-corruption error %v", err)
			}
			return
		}
		in := r.Info()
		verr := r.Verify()
		if verr != nil && !errors.Is(verr, corrupt.ErrCorrupt) {
			t.Fatalf("Verify: non-corruption error %v", verr)
		}
		var n uint64
		next := in.FirstSeq
		serr := r.Scan(0, func(rec Record) bool {
			if rec.Seq != next {
				t.Fatalf("Scan out of order: %d, want %d", rec.Seq, next)
			}
			next++
			n++
			return true
		})
		if serr != nil && !errors.Is(serr, corrupt.ErrCorrupt) {
			t.Fatalf("Scan: non-corruption error %v", serr)
		}
		if verr == nil && (serr != nil || n != in.Count) {
			t.Fatalf("Verify passed but Scan gave %d of %d records, %v", n, in.Count, serr)
		}
		if _, err := r.Get(in.LastSeq); err != nil && !errors.Is(err, corrupt.ErrCorrupt) {
			t.Fatalf("Get: %v", err)
		}
		r.Close()
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/* when SEGMENT_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("SEGMENT_WRITE_SEEDS") == "" {
		t.Skip("set SEGMENT_WRITE_SEEDS=1 to regenerate the seed corpus")
	}
	write := func(target, name string, b []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, s := range fuzzSeeds(t) {
		write("FuzzSegmentOpen", name, s)
		write("FuzzBlockDecode", "block-of-"+name, firstBlock(s))
	}
	write("FuzzBlockDecode", "bomb-fcs-2p40", craftBlock(blockHeader{codec: codecZstd, ulen: 1 << 20, slen: uint32(len(zstdFrameFCS(1 << 40))), count: 1}, zstdFrameFCS(1<<40)))
	write("FuzzBlockDecode", "bomb-ulen-2p62", craftBlock(blockHeader{codec: codecZstd, ulen: 1 << 62, slen: 100, count: 1}, make([]byte, 100)))
}
