package ledger

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/exledger/exledger/vfs"
)

const treeCopyTestID = "00112233445566778899aabbccddeeff"

// treeCopyTestFile builds a TREE file of random stored hashes with frames
// of the given chunk counts and, with leavesAfter >= 0, a leaves frame for
// chunk leavesChunk after the frame numbered leavesAfter. It returns the
// file, the offset of each frame, and all stored hashes.
func treeCopyTestFile(t *testing.T, counts []int64, leavesAfter int, leavesChunk int64) ([]byte, []int, []tlog.Hash) {
	t.Helper()
	r := rand.New(rand.NewPCG(11, 12))
	file, err := treeHeader(treeCopyTestID)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int
	var all []tlog.Hash
	var c int64
	for i, n := range counts {
		hs := make([]tlog.Hash, tlog.StoredHashCount(c+n)-tlog.StoredHashCount(c))
		for j := range hs {
			for k := range hs[j] {
				hs[j][k] = byte(r.Uint32())
			}
		}
		offs = append(offs, len(file))
		file = append(file, treeFrame(c, n, hs)...)
		all = append(all, hs...)
		c += n
		if i == leavesAfter {
			lv := make([]tlog.Hash, 5)
			for j := range lv {
				lv[j][0] = byte(j + 1)
			}
			offs = append(offs, len(file))
			file = append(file, treeLeavesFrame(uint64(leavesChunk)*treeChunk+1, lv)...)
		}
	}
	return file, offs, all
}

// maxReadFile records the largest ReadAt and, with corruptAt >= 0, flips
// the byte at that offset from the second read covering it on.
type maxReadFile struct {
	vfs.File
	max       int
	corruptAt int64
	reads     int
}

func (f *maxReadFile) ReadAt(p []byte, off int64) (int, error) {
	f.max = max(f.max, len(p))
	n, err := f.File.ReadAt(p, off)
	if f.corruptAt >= off && f.corruptAt < off+int64(n) {
		if f.reads++; f.reads >= 2 {
			p[f.corruptAt-off] ^= 1
		}
	}
	return n, err
}

type treeCopyResult struct {
	chunks   int64
	hashes   []tlog.Hash
	tail     []tlog.Hash
	tailFrom uint64
	file     []byte
	maxRead  int
}

// runTreeCopy copies file with copyTreeFile and reads the copy back with
// scanTree (Open's reader); rerr is copyTreeFile's read error.
func runTreeCopy(t *testing.T, file []byte, limit int64, corruptAt int64) (treeCopyResult, error) {
	t.Helper()
	fsys := vfs.NewMem()
	fsys.MkdirAll("/d")
	if err := fsys.WriteFile("/d/TREE", file); err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Open("/d/TREE")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := &maxReadFile{File: f, corruptAt: corruptAt}
	var out bytes.Buffer
	chunks, rerr, werr := copyTreeFile(in, int64(len(file)), "/d/TREE", treeCopyTestID, limit, &out)
	if werr != nil {
		t.Fatal(werr)
	}
	res := treeCopyResult{chunks: chunks, file: out.Bytes(), maxRead: in.max}
	if rerr != nil {
		return res, rerr
	}
	res.hashes, res.tail, res.tailFrom = scanTreeAll(t, res.file, limit)
	return res, nil
}

// scanTreeAll reads a TREE file as Open does, up to limit chunks.
func scanTreeAll(t *testing.T, file []byte, limit int64) (hashes, tail []tlog.Hash, tailFrom uint64) {
	t.Helper()
	fsys := vfs.NewMem()
	fsys.MkdirAll("/s")
	fsys.WriteFile("/s/TREE", file)
	f, err := fsys.Open("/s/TREE")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := scanTree(f, int64(len(file)), "/s/TREE", treeCopyTestID, limit, func(c int64, hs []tlog.Hash) error {
		hashes = append(hashes, hs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.good != int64(len(file)) {
		t.Fatalf("copy: valid part %d of %d bytes", s.good, len(file))
	}
	if s.chunks != s.fileChunks {
		t.Fatalf("copy holds %d chunks past the limit", s.fileChunks-s.chunks)
	}
	if int64(len(hashes)) != tlog.StoredHashCount(s.chunks) {
		t.Fatalf("copy: %d hashes for %d chunks", len(hashes), s.chunks)
	}
	return hashes, s.tail, s.tailFrom
}

// TestCopyTreeFile: the backup's copy of TREE is read in bounded pieces
// (frames larger than one read included) and holds exactly what Open
// would load from the source cut to the limit, the leaves frame included
// when it still applies; a damaged frame anywhere (a hash, a checksum, a
// head, a cut file) ends the copy before it, as Open's reader ends the
// valid part there; a frame that changes between its check and its copy
// is an error.
func TestCopyTreeFile(t *testing.T) {
	// Frames of 3, 40,000 (2.5 MB: read in pieces), 7, 20,000 and 5
	// chunks; a leaves frame for chunk 10 after the third frame.
	counts := []int64{3, 40000, 7, 20000, 5}
	file, offs, all := treeCopyTestFile(t, counts, 2, 10)
	total := int64(0)
	for _, n := range counts {
		total += n
	}
	frameOf := func(i int) int { // offset of hash frame i (skipping the leaves frame)
		if i > 2 {
			return offs[i+1]
		}
		return offs[i]
	}
	for _, limit := range []int64{total, total + 100, 40010, 40003, 11, 10, 3, 0} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			got, err := runTreeCopy(t, file, limit, -1)
			if err != nil {
				t.Fatal(err)
			}
			want := min(limit, total)
			if got.chunks != want || !slicesEqualHash(got.hashes, all[:tlog.StoredHashCount(want)]) {
				t.Fatalf("copy: %d chunks (%d hashes), want %d", got.chunks, len(got.hashes), want)
			}
			if got.maxRead > treeCopyRead {
				t.Fatalf("largest read %d bytes, bound %d", got.maxRead, treeCopyRead)
			}
			// The leaves frame of chunk 10 (seq 161) applies when the
			// copy holds chunks 0..9 at least.
			if keep := want >= 10; keep != (got.tail != nil) || (keep && (got.tailFrom != 161 || len(got.tail) != 5)) {
				t.Fatalf("leaves frame: %d hashes from %d, want kept=%v", len(got.tail), got.tailFrom, keep)
			}
		})
	}

	// Damage: the copy ends before the damaged frame.
	for _, c := range []struct {
		name   string
		at     int // byte to flip
		chunks int64
		tail   bool
	}{
		{"hash in the first frame", frameOf(0) + treeFrameHead + 5, 0, false},
		{"hash deep in the large frame", frameOf(1) + treeFrameHead + 2<<20 + 7, 3, false},
		{"checksum of the large frame", frameOf(2) - 3, 3, false},
		{"head of the third frame", frameOf(2) + 9, 40003, false},
		{"leaves frame", offs[3] + treeFrameHead + 1, 40010, false},
		{"hash in the fourth frame", frameOf(3) + treeFrameHead + 100, 40010, true},
		{"checksum of the last frame", len(file) - 1, 60010, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := bytes.Clone(file)
			bad[c.at] ^= 0x40
			got, err := runTreeCopy(t, bad, total, -1)
			if err != nil {
				t.Fatal(err)
			}
			if got.chunks != c.chunks || !slicesEqualHash(got.hashes, all[:tlog.StoredHashCount(c.chunks)]) {
				t.Fatalf("copy of a file damaged at %d: %d chunks, want %d", c.at, got.chunks, c.chunks)
			}
			if (got.tail != nil) != c.tail {
				t.Fatalf("leaves frame kept: %v, want %v", got.tail != nil, c.tail)
			}
		})
	}
	t.Run("cut file", func(t *testing.T) {
		got, err := runTreeCopy(t, file[:frameOf(1)+1<<20+3], total, -1)
		if err != nil || got.chunks != 3 {
			t.Fatalf("copy of a cut file: %d chunks, %v; want 3", got.chunks, err)
		}
	})
	t.Run("header of another ledger", func(t *testing.T) {
		bad := bytes.Clone(file)
		bad[20] ^= 1
		if _, err := runTreeCopy(t, bad, total, -1); err == nil {
			t.Fatal("a header of another ledger was copied")
		}
	})
	t.Run("large frame changed between its reads", func(t *testing.T) {
		if _, err := runTreeCopy(t, file, total, int64(frameOf(1)+treeFrameHead+(1<<20)+64)); err == nil {
			t.Fatal("a frame that changed between its check and its copy was copied")
		}
	})
}

func slicesEqualHash(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
