package segment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/exledger/exledger/internal/corrupt"
)

type bytesFile struct{ *bytes.Reader }

func (bytesFile) Close() error { return nil }

// smallSegment returns the bytes of a sealed segment of a few KiB with
// several blocks, and its records in seq order.
func smallSegment(t *testing.T, unordered bool) ([]byte, []Record) {
	t.Helper()
	recs := genRecords(21, 500, 24)
	for i := range recs {
		recs[i].Data = recs[i].Data[:100+i*7]
	}
	in := recs
	if unordered {
		in = clusterShuffle(recs)
	}
	m := newMemFS()
	writeSegment(t, m, "s", Options{BlockSize: MinBlockSize, Unordered: unordered}, [32]byte{7}, in, []byte("meta-section"))
	return m.get("s"), recs
}

// outcome opens b and reads everything. It reports whether corruption was
// detected, and fails the test on a non-corruption error, a panic, or wrong
// data returned without an error. Past Open only block bytes can be
// damaged, and Scan and Verify both read every block, so once Open passes
// Scan must fail; with alsoVerify (or when Scan passed) Verify must agree.
func outcome(t *testing.T, b []byte, recs []Record, what string, alsoVerify bool) bool {
	t.Helper()
	r, err := openReaderAt("f", bytesFile{bytes.NewReader(b)}, int64(len(b)), nil)
	if err != nil {
		if !errors.Is(err, corrupt.ErrCorrupt) {
			t.Fatalf("%s: Open: non-corruption error %v", what, err)
		}
		var ce *CorruptionError
		if !errors.As(err, &ce) || ce.File != "f" || ce.Offset < 0 || ce.Offset > int64(len(b)) {
			t.Fatalf("%s: bad corruption error %#v", what, err)
		}
		return true
	}
	scanErr := r.Scan(0, func(rec Record) bool {
		o := rec.Seq - recs[0].Seq // recs are given in seq order
		if o >= uint64(len(recs)) || !bytes.Equal(recs[o].Data, rec.Data) {
			t.Fatalf("%s: Scan returned wrong data for seq %d", what, rec.Seq)
		}
		return true
	})
	if scanErr != nil && !errors.Is(scanErr, corrupt.ErrCorrupt) {
		t.Fatalf("%s: Scan: non-corruption error %v", what, scanErr)
	}
	if alsoVerify || scanErr == nil {
		verr := r.Verify()
		if verr != nil && !errors.Is(verr, corrupt.ErrCorrupt) {
			t.Fatalf("%s: Verify: non-corruption error %v", what, verr)
		}
		if (scanErr == nil) != (verr == nil) {
			t.Fatalf("%s: Scan error %v but Verify error %v", what, scanErr, verr)
		}
	}
	return scanErr != nil
}

func TestBitFlips(t *testing.T) {
	for _, unordered := range []bool{false, true} {
		t.Run(fmt.Sprintf("unordered=%v", unordered), func(t *testing.T) {
			seg, recs := smallSegment(t, unordered)
			if outcome(t, seg, recs, "pristine", true) {
				t.Fatal("pristine segment reported corrupt")
			}
			flips, detected := 0, 0
			step := 1
			if testing.Short() {
				step = 3
			}
			buf := make([]byte, len(seg))
			for bit := 0; bit < len(seg)*8; bit += step {
				copy(buf, seg)
				buf[bit/8] ^= 1 << (bit % 8)
				flips++
				if outcome(t, buf, recs, fmt.Sprintf("flip bit %d", bit), bit%8 == 0) {
					detected++
				}
			}
			fmt.Printf("RELIABILITY test=segment-bitflip unordered=%v bytes=%d flips=%d detected=%d undetected=%d\n", unordered, len(seg), flips, detected, flips-detected)
			if detected != flips {
				t.Fatalf("%d of %d flips undetected", flips-detected, flips)
			}
		})
	}
}

func TestTruncation(t *testing.T) {
	for _, unordered := range []bool{false, true} {
		seg, _ := smallSegment(t, unordered)
		detected := 0
		for n := 0; n < len(seg); n++ {
			_, err := openReaderAt("f", bytesFile{bytes.NewReader(seg[:n])}, int64(n), nil)
			if errors.Is(err, corrupt.ErrCorrupt) {
				detected++
			} else {
				t.Errorf("truncated to %d of %d: Open = %v", n, len(seg), err)
			}
		}
		// Appended garbage moves the trailer: detected too.
		for _, extra := range [][]byte{{0}, make([]byte, 512), []byte("EXLEDGSG")} {
			b := append(bytes.Clone(seg), extra...)
			if _, err := openReaderAt("f", bytesFile{bytes.NewReader(b)}, int64(len(b)), nil); !errors.Is(err, corrupt.ErrCorrupt) {
				t.Errorf("%d appended bytes: Open = %v", len(extra), err)
			}
		}
		fmt.Printf("RELIABILITY test=segment-truncate unordered=%v offsets=%d detected=%d undetected=%d\n", unordered, len(seg), detected, len(seg)-detected)
	}
}

func TestZeroSectors(t *testing.T) {
	for _, unordered := range []bool{false, true} {
		seg, recs := smallSegment(t, unordered)
		sectors, detected := 0, 0
		for off := 0; off < len(seg); off += 512 {
			b := bytes.Clone(seg)
			end := min(off+512, len(b))
			clear(b[off:end])
			if bytes.Equal(b, seg) {
				continue
			}
			sectors++
			if outcome(t, b, recs, fmt.Sprintf("zero sector at %d", off), true) {
				detected++
			}
		}
		fmt.Printf("RELIABILITY test=segment-zero-sector unordered=%v sectors=%d detected=%d undetected=%d\n", unordered, sectors, detected, sectors-detected)
		if detected != sectors {
			t.Fatalf("%d of %d zeroed sectors undetected", sectors-detected, sectors)
		}
	}
}

// TestCorruptionOffsets checks that a damaged block is reported at that
// block's offset, through Get, and that other blocks stay readable.
func TestCorruptionOffsets(t *testing.T) {
	seg, recs := smallSegment(t, false)
	r0, err := openReaderAt("f", bytesFile{bytes.NewReader(seg)}, int64(len(seg)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r0.NumBlocks() < 3 {
		t.Fatalf("want >= 3 blocks, have %d", r0.NumBlocks())
	}
	bi := r0.BlockInfo(1)
	b := bytes.Clone(seg)
	b[bi.Offset+int64(bi.Length)/2] ^= 0x10
	r, err := openReaderAt("f", bytesFile{bytes.NewReader(b)}, int64(len(b)), NewCache(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Get(bi.FirstSeq)
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Offset < bi.Offset || ce.Offset >= bi.Offset+int64(bi.Length) {
		t.Fatalf("Get in damaged block: %v", err)
	}
	if g, err := r.Get(recs[0].Seq); err != nil || !bytes.Equal(g.Data, recs[0].Data) {
		t.Fatalf("Get in intact block 0: %v", err)
	}
	if err := r.Verify(); !errors.As(err, &ce) || ce.Offset < bi.Offset || ce.Offset >= bi.Offset+int64(bi.Length) {
		t.Fatalf("Verify: %v", err)
	}
}

// A file that changes under an open reader (short read) is an I/O error,
// not a panic.
func TestShortRead(t *testing.T) {
	seg, _ := smallSegment(t, false)
	r, err := openReaderAt("f", bytesFile{bytes.NewReader(seg)}, int64(len(seg)), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.f = bytesFile{bytes.NewReader(seg[:100])}
	if _, err := r.Block(1); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short read: %v", err)
	}
}
