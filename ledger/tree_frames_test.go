package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

// treeFrameTestHashFrame is the head of a valid hash frame after fileChunks
// chunks, of count chunks.
func treeFrameTestHead(first, count int64) []byte {
	return appendTreeFrameHead(nil, first, count, tlog.StoredHashCount(first+count)-tlog.StoredHashCount(first))
}

// treeFrameTestLeavesHead is the head of a leaves frame of n hashes from
// seq first.
func treeFrameTestLeavesHead(first uint64, n int) []byte {
	return treeLeavesFrame(first, make([]tlog.Hash, n))[:treeFrameHead]
}

// TestTreeFrameHead: the shared frame-head parser accepts the heads the
// writers write (at the bounds of every count) and rejects every field
// that does not check out, one at a time.
func TestTreeFrameHead(t *testing.T) {
	set32 := func(b []byte, at int, v uint32) []byte {
		b = bytes.Clone(b)
		binary.LittleEndian.PutUint32(b[at:], v)
		return b
	}
	set64 := func(b []byte, at int, v uint64) []byte {
		b = bytes.Clone(b)
		binary.LittleEndian.PutUint64(b[at:], v)
		return b
	}
	const fc = 5 // chunks before the frame
	hf := treeFrameTestHead(fc, 3)
	lf := treeFrameTestLeavesHead(fc*treeChunk+1, 7)
	nh := func(first, count int64) uint32 {
		return uint32(tlog.StoredHashCount(first+count) - tlog.StoredHashCount(first))
	}
	accept := []struct {
		name string
		head []byte
		want treeFrameInfo
	}{
		{"hash frame", hf, treeFrameInfo{first: fc, count: 3, nh: int64(nh(fc, 3))}},
		{"one chunk", treeFrameTestHead(fc, 1), treeFrameInfo{first: fc, count: 1, nh: int64(nh(fc, 1))}},
		{"largest frame", treeFrameTestHead(fc, maxTreeFrameChunks), treeFrameInfo{first: fc, count: maxTreeFrameChunks, nh: int64(nh(fc, maxTreeFrameChunks))}},
		{"leaves frame", lf, treeFrameInfo{leaves: true, first: fc*treeChunk + 1, nh: 7}},
		{"leaves of chunk 0", treeFrameTestLeavesHead(1, 1), treeFrameInfo{leaves: true, first: 1, nh: 1}},
		{"leaves of an earlier chunk", treeFrameTestLeavesHead(2*treeChunk+1, treeChunk-1), treeFrameInfo{leaves: true, first: 2*treeChunk + 1, nh: treeChunk - 1}},
	}
	for _, c := range accept {
		got, ok := parseTreeFrameHead(c.head, fc)
		if !ok || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, ok, c.want)
		}
	}
	reject := []struct {
		name string
		head []byte
	}{
		{"short head", hf[:treeFrameHead-1]},
		{"magic", append([]byte("EXTG"), hf[4:]...)},
		{"magic case", append([]byte("extf"), hf[4:]...)},
		{"reserved", set32(hf, 4, 1)},
		{"reserved high bit", set32(hf, 4, 1<<31)},
		{"first chunk before", set64(hf, 8, fc-1)},
		{"first chunk after", set64(hf, 8, fc+1)},
		{"first chunk negative", set64(hf, 8, 1<<63|fc)},
		{"chunk count 0", set32(set32(hf, 16, 0), 20, 0)},
		{"chunk count too large", set32(set32(hf, 16, maxTreeFrameChunks+1), 20, nh(fc, maxTreeFrameChunks+1))},
		{"chunk count max uint32", set32(hf, 16, 1<<32-1)},
		{"hash count one short", set32(hf, 20, nh(fc, 3)-1)},
		{"hash count one over", set32(hf, 20, nh(fc, 3)+1)},
		{"hash count huge", set32(hf, 20, 1<<32-1)},
		{"hash count of another first", set32(hf, 20, nh(fc+1, 3)+7)},
		{"leaves reserved", set32(lf, 4, 2)},
		{"leaves first seq 0", set64(lf, 8, 0)},
		{"leaves first seq not a chunk's first", set64(lf, 8, fc*treeChunk+2)},
		{"leaves first seq of a later chunk", set64(lf, 8, (fc+1)*treeChunk+1)},
		{"leaves first seq wraps", set64(lf, 8, 1<<64-treeChunk+1)},
		{"leaves count 0", set32(lf, 16, 0)},
		{"leaves count a whole chunk", set32(lf, 16, treeChunk)},
		{"leaves count huge", set32(lf, 16, 1<<32-1)},
		{"leaves trailing word", set32(lf, 20, 1)},
	}
	for _, c := range reject {
		if got, ok := parseTreeFrameHead(c.head, fc); ok {
			t.Errorf("%s: accepted as %+v", c.name, got)
		}
	}
}

// treeFrameTestFile is a TREE file of treeCopyTestID: hash frames of the
// given chunk counts (random hashes), a leaves frame after frame leavesAfter
// (for the chunk the frames before it complete). ends[i] is the end of the
// i-th frame (leaves frame included), chunks[i] the chunks of the frames up
// to it, hashes all stored hashes in order.
type treeFrameTestFile struct {
	b      []byte
	ends   []int
	chunks []int64
	leaves []bool
	hashes []tlog.Hash
}

func makeTreeFrameTestFile(t *testing.T, counts []int64, leavesAfter int) treeFrameTestFile {
	t.Helper()
	file, _, all := treeCopyTestFile(t, counts, leavesAfter, 0)
	var f treeFrameTestFile
	f.b, f.hashes = file, all
	var c int64
	for i, n := range counts {
		c += n
		f.chunks = append(f.chunks, c)
		f.leaves = append(f.leaves, false)
		if i == leavesAfter {
			f.chunks = append(f.chunks, c)
			f.leaves = append(f.leaves, true)
		}
	}
	off := treeHeaderLen
	for range f.chunks {
		nh := int(binary.LittleEndian.Uint32(file[off+20:]))
		if string(file[off:off+4]) == treeLeavesMagic {
			nh = int(binary.LittleEndian.Uint32(file[off+16:]))
		}
		off += treeFrameHead + 32*nh + 8
		f.ends = append(f.ends, off)
	}
	if off != len(file) {
		t.Fatalf("fixture: frames end at %d of %d", off, len(file))
	}
	return f
}

// treeFrameTestScan runs scanTree and copyTreeFile over file and checks
// that they agree: the valid part both take, its chunks and hashes, the
// leaves frame. It returns scanTree's result and error.
func treeFrameTestScan(t *testing.T, file []byte) (treeScan, []tlog.Hash, error) {
	t.Helper()
	fsys := vfs.NewMem()
	fsys.MkdirAll("/s")
	if err := fsys.WriteFile("/s/TREE", file); err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Open("/s/TREE")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var hs []tlog.Hash
	next := int64(0)
	s, serr := scanTree(f, int64(len(file)), "/s/TREE", treeCopyTestID, 1<<62, func(c int64, h []tlog.Hash) error {
		if c != next {
			return fmt.Errorf("chunk %d after %d", c, next-1)
		}
		if int64(len(h)) != tlog.StoredHashCount(c+1)-tlog.StoredHashCount(c) {
			return fmt.Errorf("chunk %d: %d hashes", c, len(h))
		}
		next++
		hs = append(hs, h...)
		return nil
	})
	var out bytes.Buffer
	chunks, rerr, werr := copyTreeFile(f, int64(len(file)), "/s/TREE", treeCopyTestID, 1<<62, &out)
	if werr != nil {
		t.Fatal(werr)
	}
	if (serr == nil) != (rerr == nil) {
		t.Fatalf("scanTree: %v; copyTreeFile: %v", serr, rerr)
	}
	if serr != nil {
		return s, nil, serr
	}
	if chunks != s.chunks || s.chunks != s.fileChunks || int64(len(hs)) != tlog.StoredHashCount(s.chunks) {
		t.Fatalf("scanTree: %d chunks (%d hashes), copyTreeFile %d", s.chunks, len(hs), chunks)
	}
	copied, ctail, cfrom := scanTreeAll(t, out.Bytes(), 1<<62)
	if !slicesEqualHash(copied, hs) {
		t.Fatal("the copy's hashes differ from the scan's")
	}
	// The copy keeps the leaves frame when it still applies (always
	// here: the limit cuts nothing).
	if !slicesEqualHash(ctail, s.tail) || cfrom != s.tailFrom {
		t.Fatalf("leaves frame: copy %d from %d, scan %d from %d", len(ctail), cfrom, len(s.tail), s.tailFrom)
	}
	return s, hs, nil
}

// TestTreeFileTruncatedEverywhere: a TREE file cut at every offset is read
// by Open's scan and Backup's copy alike: a cut inside the header is a
// corrupt error, a cut anywhere else keeps exactly the frames wholly
// before it. A file with a frame larger than one read is cut at the
// offsets around its pieces.
func TestTreeFileTruncatedEverywhere(t *testing.T) {
	check := func(t *testing.T, f treeFrameTestFile, m int) {
		t.Helper()
		s, hs, err := treeFrameTestScan(t, f.b[:m])
		if m < treeHeaderLen {
			if !errors.Is(err, corrupt.ErrCorrupt) {
				t.Fatalf("cut at %d (in the header): %v", m, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("cut at %d: %v", m, err)
		}
		good, chunks, tail := int64(treeHeaderLen), int64(0), false
		for i, e := range f.ends {
			if e <= m {
				good, chunks = int64(e), f.chunks[i]
				tail = tail || f.leaves[i]
			}
		}
		if s.good != good || s.chunks != chunks || (s.tail != nil) != tail {
			t.Fatalf("cut at %d: valid %d bytes, %d chunks, tail %v; want %d, %d, %v", m, s.good, s.chunks, s.tail != nil, good, chunks, tail)
		}
		if !slicesEqualHash(hs, f.hashes[:tlog.StoredHashCount(chunks)]) {
			t.Fatalf("cut at %d: hashes differ", m)
		}
	}
	t.Run("small frames", func(t *testing.T) {
		f := makeTreeFrameTestFile(t, []int64{3, 1, 9, 16, 2}, 2)
		for m := 0; m <= len(f.b); m++ {
			check(t, f, m)
		}
	})
	t.Run("large frame", func(t *testing.T) {
		// 40,000 chunks: 2.5 MB of hashes, read in 3 pieces.
		f := makeTreeFrameTestFile(t, []int64{3, 40000, 5}, 0)
		start := f.ends[1] // the large frame's offset (after the leaves frame)
		var cuts []int
		for _, at := range []int{0, treeFrameHead, treeFrameHead + treeReadMax, treeFrameHead + 2*treeReadMax, f.ends[2] - start - 8, f.ends[2] - start} {
			for _, d := range []int{-33, -32, -31, -9, -8, -7, -1, 0, 1, 7, 8, 9, 31, 32, 33} {
				if m := start + at + d; m <= len(f.b) {
					cuts = append(cuts, m)
				}
			}
		}
		cuts = append(cuts, len(f.b)-1, len(f.b))
		for _, m := range cuts {
			check(t, f, m)
		}
	})
}

// TestTreeFileRejectedFrames: a frame whose head, size or checksum does
// not check out ends the valid part for Open's scan and Backup's copy
// alike, however good the frames after it are, and a header that does
// not match is a corrupt error for both.
func TestTreeFileRejectedFrames(t *testing.T) {
	f := makeTreeFrameTestFile(t, []int64{3, 7, 40000, 4, 6}, 1)
	// Frame 2 is the leaves frame (after frame 1), frame 3 the large one.
	for fi := range f.ends {
		start := treeHeaderLen
		if fi > 0 {
			start = f.ends[fi-1]
		}
		fixSum := func(b []byte) {
			e := f.ends[fi]
			binary.LittleEndian.PutUint64(b[e-8:], xxhash.Sum64(b[start:e-8]))
		}
		edits := []struct {
			name string
			edit func(b []byte)
		}{
			{"magic", func(b []byte) { b[start] ^= 1; fixSum(b) }},
			{"reserved", func(b []byte) { b[start+5] = 1; fixSum(b) }},
			{"first", func(b []byte) { b[start+8]++; fixSum(b) }},
			{"count", func(b []byte) { b[start+16]++; fixSum(b) }},
			{"hash count", func(b []byte) { b[start+20]++; fixSum(b) }},
			{"trailing word", func(b []byte) { b[start+23] = 1; fixSum(b) }},
			{"hash", func(b []byte) { b[start+treeFrameHead+3] ^= 0x80 }},
			{"last hash byte", func(b []byte) { b[f.ends[fi]-9] ^= 1 }},
			{"checksum", func(b []byte) { b[f.ends[fi]-1] ^= 1 }},
		}
		for _, e := range edits {
			t.Run(fmt.Sprintf("frame %d %s", fi, e.name), func(t *testing.T) {
				bad := bytes.Clone(f.b)
				e.edit(bad)
				s, _, err := treeFrameTestScan(t, bad)
				if err != nil {
					t.Fatal(err)
				}
				wantGood, wantChunks := int64(start), int64(0)
				if fi > 0 {
					wantChunks = f.chunks[fi-1]
				}
				if s.good != wantGood || s.chunks != wantChunks {
					t.Fatalf("valid part %d bytes, %d chunks; want %d, %d", s.good, s.chunks, wantGood, wantChunks)
				}
			})
		}
	}
	for _, at := range []int{0, 7, 8, 12, 16, 31, 32, 39} {
		bad := bytes.Clone(f.b)
		bad[at] ^= 4
		if _, _, err := treeFrameTestScan(t, bad); !errors.Is(err, corrupt.ErrCorrupt) {
			t.Fatalf("header byte %d altered: %v", at, err)
		}
	}
	// A header of the right ledger with its checksum fixed, but another
	// version or chunk level.
	for _, at := range []int{8, 12} {
		bad := bytes.Clone(f.b)
		bad[at]++
		binary.LittleEndian.PutUint64(bad[32:], xxhash.Sum64(bad[:32]))
		if _, _, err := treeFrameTestScan(t, bad); !errors.Is(err, corrupt.ErrCorrupt) {
			t.Fatalf("header field at %d altered: %v", at, err)
		}
	}
}

// treeScanAlloc returns the bytes scanTree allocates reading file.
func treeScanAlloc(t testing.TB, file []byte) (uint64, treeScan) {
	fsys := vfs.NewMem()
	fsys.MkdirAll("/s")
	if err := fsys.WriteFile("/s/TREE", file); err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Open("/s/TREE")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	s, err := scanTree(f, int64(len(file)), "/s/TREE", treeCopyTestID, 1<<62, func(int64, []tlog.Hash) error { return nil })
	runtime.ReadMemStats(&m1)
	if err != nil {
		t.Fatal(err)
	}
	return m1.TotalAlloc - m0.TotalAlloc, s
}

// TestTreeScanMemoryBounded: Open's scan of a TREE file holding a frame of
// 2^18 chunks (16 MiB, as a catch-up at Open writes) allocates at most two
// reads' worth (it read the frame whole: 16 MiB); a head claiming the
// largest frame in a short file allocates nothing for it.
func TestTreeScanMemoryBounded(t *testing.T) {
	const chunks = 1 << 18
	hs := make([]tlog.Hash, tlog.StoredHashCount(chunks))
	for i := range hs {
		binary.LittleEndian.PutUint64(hs[i][:], uint64(i)*0x9e3779b97f4a7c15)
	}
	file, err := treeHeader(treeCopyTestID)
	if err != nil {
		t.Fatal(err)
	}
	file = append(file, treeFrame(0, chunks, hs)...)
	hs = nil
	alloc, s := treeScanAlloc(t, file)
	if s.chunks != chunks || s.good != int64(len(file)) {
		t.Fatalf("scan: %d chunks, %d of %d bytes", s.chunks, s.good, len(file))
	}
	if alloc > 2*treeReadMax {
		t.Fatalf("scan of a %d-byte frame allocated %d bytes (bound %d)", len(file)-treeHeaderLen, alloc, 2*treeReadMax)
	}
	t.Logf("scan of a %d-byte frame: %d bytes allocated", len(file)-treeHeaderLen, alloc)

	short := append(file[:treeHeaderLen:treeHeaderLen], treeFrameTestHead(0, maxTreeFrameChunks)...)
	short = append(short, make([]byte, 4096)...)
	alloc, s = treeScanAlloc(t, short)
	if s.chunks != 0 || s.good != treeHeaderLen {
		t.Fatalf("a frame past the file's end was read: %+v", s)
	}
	if alloc > 64<<10 {
		t.Fatalf("a head claiming %d chunks in a %d-byte file: %d bytes allocated", maxTreeFrameChunks, len(short), alloc)
	}
}

// FuzzTreeFile: the TREE reader (Open's scan and Backup's copy) never
// panics on any file, never allocates more than the file justifies, and
// both take the same valid part, with the same hashes and leaves frame
// (the copy read back as Open reads it).
func FuzzTreeFile(f *testing.F) {
	hdr, _ := treeHeader(treeCopyTestID)
	f.Add(hdr)
	f.Add(hdr[:20])
	f.Add(append(bytes.Clone(hdr), treeFrameTestHead(0, maxTreeFrameChunks)...))
	f.Add(append(bytes.Clone(hdr), treeFrameTestLeavesHead(1, 3)...))
	for _, c := range []struct {
		counts []int64
		leaves uint64 // first seq of a leaves frame after the first frame (0: none)
	}{{[]int64{1}, 0}, {[]int64{3, 1, 9}, 17}, {[]int64{2, 30}, 1}, {[]int64{16, 16, 1}, 33}} {
		file := bytes.Clone(hdr)
		var first int64
		for i, n := range c.counts {
			hs := make([]tlog.Hash, tlog.StoredHashCount(first+n)-tlog.StoredHashCount(first))
			for j := range hs {
				hs[j][0], hs[j][31] = byte(i), byte(j)
			}
			file = append(file, treeFrame(first, n, hs)...)
			first += n
			if i == 0 && c.leaves != 0 {
				file = append(file, treeLeavesFrame(c.leaves, make([]tlog.Hash, 3))...)
			}
		}
		f.Add(file)
		f.Add(file[:len(file)-1])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		s, hs, err := treeFrameTestScan(t, b)
		runtime.ReadMemStats(&m1)
		if err != nil {
			if !errors.Is(err, corrupt.ErrCorrupt) {
				t.Fatalf("non-corruption error %v", err)
			}
			return
		}
		// Two scans, the copy and its re-read, the hashes kept: a few
		// times the input, plus fixed costs.
		if a := m1.TotalAlloc - m0.TotalAlloc; a > 16*uint64(len(b))+256<<10 {
			t.Fatalf("%d bytes allocated for a %d-byte file", a, len(b))
		}
		if 32*len(hs) > len(b) {
			t.Fatalf("%d hashes from %d bytes", len(hs), len(b))
		}
		if s.good > int64(len(b)) {
			t.Fatalf("valid part %d of %d bytes", s.good, len(b))
		}
	})
}
