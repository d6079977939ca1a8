package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"

	"github.com/exledger/exledger/internal/corrupt"
)

// craftBlock builds a block with a valid checksum around any header and
// payload, as an attacker who knows the format could.
func craftBlock(h blockHeader, payload []byte) []byte {
	b := appendBlockHeader(nil, &h)
	b = append(b, payload...)
	return binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b))
}

// zstdFrameFCS returns a zstd frame header claiming fcs bytes of content,
// followed by one small raw block.
func zstdFrameFCS(fcs uint64) []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd}
	b = append(b, 3<<6|1<<5) // FCS field 8 bytes, single segment
	b = binary.LittleEndian.AppendUint64(b, fcs)
	// raw block, last, 16 bytes
	bh := uint32(16)<<3 | 0<<1 | 1
	b = append(b, byte(bh), byte(bh>>8), byte(bh>>16))
	return append(b, make([]byte, 16)...)
}

// zstdRLEBomb returns a frame with no content size made of n RLE blocks of
// 128 KiB each: 4 bytes of input expand to 128 KiB.
func zstdRLEBomb(n int) []byte { return zstdRLEBombFCS(n, 0) }

// zstdRLEBombFCS is zstdRLEBomb whose header claims fcs bytes (0: no
// content size field).
func zstdRLEBombFCS(n int, fcs uint64) []byte {
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3} // no FCS, window 128 KiB
	if fcs > 0 {
		b[4] = 3 << 6 // 8-byte FCS, window descriptor present
		b = binary.LittleEndian.AppendUint64(b, fcs)
	}
	for i := 0; i < n; i++ {
		last := uint32(0)
		if i == n-1 {
			last = 1
		}
		bh := uint32(128<<10)<<3 | 1<<1 | last
		b = append(b, byte(bh), byte(bh>>8), byte(bh>>16), 'A')
	}
	return b
}

func allocDuring(f func()) uint64 {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	f()
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}

func TestDecompressionBombs(t *testing.T) {
	// Warm the shared decoder so its one-time setup is not measured.
	warm := genRecords(1, 1, 200)
	m := newMemFS()
	writeSegment(t, m, "w", Options{}, [32]byte{}, warm, nil)
	r, err := Open(m, "w", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(); err != nil {
		t.Fatal(err)
	}

	rle := zstdRLEBomb(8192) // would expand to 1 GiB
	rleFCS := zstdRLEBombFCS(8192, 1<<20)
	rleSmall := zstdRLEBomb(3) // 18 bytes expanding to 384 KiB
	cases := []struct {
		name     string
		block    []byte
		maxAlloc uint64
	}{
		{"header-ulen-2^32", craftBlock(blockHeader{codec: codecZstd, ulen: 1 << 32, slen: 100, count: 1}, make([]byte, 100)), 16 << 10},
		{"header-ulen-2^62", craftBlock(blockHeader{codec: codecZstd, ulen: 1 << 62, slen: 100, count: 1}, make([]byte, 100)), 16 << 10},
		{"header-count-2^32-1", craftBlock(blockHeader{codec: codecRaw, ulen: 100, slen: 100, count: 1<<32 - 1}, make([]byte, 100)), 16 << 10},
		{"raw-ulen-mismatch", craftBlock(blockHeader{codec: codecRaw, ulen: MaxBlockBytes, slen: 10, count: 1}, make([]byte, 10)), 16 << 10},
		{"frame-fcs-2^40", craftBlock(blockHeader{codec: codecZstd, ulen: 1 << 20, slen: uint32(len(zstdFrameFCS(1 << 40))), count: 1}, zstdFrameFCS(1<<40)), 16 << 10},
		{"frame-fcs-2^40-max-ulen", craftBlock(blockHeader{codec: codecZstd, ulen: MaxBlockBytes, slen: uint32(len(zstdFrameFCS(1 << 40))), count: 1}, zstdFrameFCS(1<<40)), 16 << 10},
		{"rle-bomb-no-fcs", craftBlock(blockHeader{codec: codecZstd, ulen: 1 << 20, slen: uint32(len(rle)), count: 1}, rle), 16 << 10},
		{"rle-bomb-lying-fcs", craftBlock(blockHeader{codec: codecZstd, ulen: 1 << 20, slen: uint32(len(rleFCS)), count: 1}, rleFCS), 3 << 20},
		{"rle-bomb-small-no-fcs", craftBlock(blockHeader{codec: codecZstd, ulen: 200, slen: uint32(len(rleSmall)), count: 1}, rleSmall), 512 << 10},
	}
	var worst uint64
	for _, tc := range cases {
		var derr error
		alloc := allocDuring(func() {
			_, derr = decodeBlock(tc.block, &blockCheck{file: "bomb"})
		})
		if !errors.Is(derr, corrupt.ErrCorrupt) {
			t.Errorf("%s: decode = %v, want corruption", tc.name, derr)
		}
		if alloc > tc.maxAlloc {
			t.Errorf("%s: allocated %d bytes, bound %d", tc.name, alloc, tc.maxAlloc)
		}
		worst = max(worst, alloc)
		t.Logf("%s: %v (allocated %d B)", tc.name, derr, alloc)
	}
	fmt.Printf("RELIABILITY test=segment-bombs cases=%d rejected=%d max_alloc=%dKiB\n", len(cases), len(cases), worst>>10)

	// Sanity: the RLE frame really is a bomb for an unguarded decoder
	// (bounded here at 8 MiB so the test stays cheap).
	d, _ := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(8<<20))
	defer d.Close()
	if _, err := d.DecodeAll(zstdRLEBomb(8192), nil); !errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		t.Logf("unguarded decoder: %v", err)
	}
}

// TestFooterBombs rewrites footer counts to huge values with valid
// checksums: Open must reject them before allocating.
func TestFooterBombs(t *testing.T) {
	for _, unordered := range []bool{false, true} {
		seg, _ := smallSegment(t, unordered)
		toff := len(seg) - trailerLen
		foff := int(binary.LittleEndian.Uint64(seg[toff:]))
		mutate := func(name string, f func(footer []byte)) {
			b := bytes.Clone(seg)
			footer := b[foff:toff]
			f(footer)
			binary.LittleEndian.PutUint64(footer[len(footer)-8:], xxhash.Sum64(footer[:len(footer)-8]))
			var err error
			alloc := allocDuring(func() {
				_, err = openReaderAt("f", bytesFile{bytes.NewReader(b)}, int64(len(b)), nil)
			})
			if !errors.Is(err, corrupt.ErrCorrupt) {
				t.Errorf("%s: Open = %v", name, err)
			}
			if alloc > 64<<10 {
				t.Errorf("%s: allocated %d bytes", name, alloc)
			}
		}
		mutate("blocks-2^32-1", func(f []byte) { binary.LittleEndian.PutUint32(f[8:], 1<<32-1) })
		mutate("count-2^63", func(f []byte) {
			binary.LittleEndian.PutUint64(f[28:], 1<<63)
			binary.LittleEndian.PutUint64(f[20:], binary.LittleEndian.Uint64(f[12:])+1<<63-1)
		})
		mutate("meta-len", func(f []byte) {
			binary.LittleEndian.PutUint32(f[len(f)-8-4-len("meta-section"):], 1<<31)
		})
		// Trailer claiming a 1 GiB footer in a small file.
		b := bytes.Clone(seg)
		binary.LittleEndian.PutUint32(b[toff+8:], MaxFooterBytes)
		binary.LittleEndian.PutUint64(b[toff+16:], xxhash.Sum64(b[toff:toff+16]))
		if _, err := openReaderAt("f", bytesFile{bytes.NewReader(b)}, int64(len(b)), nil); !errors.Is(err, corrupt.ErrCorrupt) {
			t.Errorf("huge footer length: %v", err)
		}
	}
}
