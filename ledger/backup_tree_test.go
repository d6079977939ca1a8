package ledger_test

import (
	"bytes"
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
)

// treeReadFS records the largest single read of any file named TREE.
type treeReadFS struct {
	vfs.FS
	max atomic.Int64
}

type treeReadFile struct {
	vfs.File
	fs *treeReadFS
}

func (f *treeReadFS) Open(name string) (vfs.File, error) {
	file, err := f.FS.Open(name)
	if err != nil || filepath.Base(name) != "TREE" {
		return file, err
	}
	return &treeReadFile{file, f}, nil
}

func (f *treeReadFile) ReadAt(p []byte, off int64) (int, error) {
	for {
		m := f.fs.max.Load()
		if int64(len(p)) <= m || f.fs.max.CompareAndSwap(m, int64(len(p))) {
			break
		}
	}
	return f.File.ReadAt(p, off)
}

// TestBackupStreamsTree: Backup reads the source's TREE in pieces, not
// whole (at 100M events the file is 400 MB), copies the same chunk hashes,
// and still stops at a damaged frame: the copy holds the chunks before it
// and none after (the copy rebuilds them at its first writable Open).
func TestBackupStreamsTree(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	fsys := &treeReadFS{FS: mem}
	src := openT(t, "/src", smallOpts(fsys))
	fillLedger(t, src, 4000, 50, 23)
	ledger.TreeHashesInMemoryForTest(src) // the tree's load and catch-up are done
	orig, err := mem.ReadFile("/src/TREE")
	if err != nil {
		t.Fatal(err)
	}
	_, chunks := ledger.TreeHashesInMemoryForTest(src)
	if chunks < 200 {
		t.Fatalf("fixture: %d chunks", chunks)
	}
	want := rawLog(t, src, 1)

	fsys.max.Store(0)
	rep, err := src.Backup(ctx, "/bk1")
	if err != nil {
		t.Fatal(err)
	}
	if m := fsys.max.Load(); m == 0 || m >= int64(len(orig)) {
		t.Fatalf("largest read of TREE: %d bytes of %d; want it read in pieces", m, len(orig))
	}
	checkBackup(t, mem, rep, want)
	copied, err := mem.ReadFile("/bk1/TREE")
	if err != nil {
		t.Fatal(err)
	}
	hashAt := func(file []byte, c int64) []byte {
		off, _ := ledger.TreeTestChunkHashOffset(file, c)
		if off < 0 {
			return nil
		}
		return file[off : off+32]
	}
	for c := int64(0); c < chunks; c++ {
		if h := hashAt(copied, c); h == nil || !bytes.Equal(h, hashAt(orig, c)) {
			t.Fatalf("chunk %d: the copy's hash differs from the source's", c)
		}
	}

	// A damaged frame in the middle of the source's TREE.
	c := chunks / 2
	off, frame := ledger.TreeTestChunkHashOffset(orig, c)
	if frame <= 40 {
		t.Fatalf("chunk %d is in the first frame", c)
	}
	bad := bytes.Clone(orig)
	bad[off+3] ^= 0x10
	if err := mem.WriteFile("/src/TREE", bad); err != nil {
		t.Fatal(err)
	}
	rep, err = src.Backup(ctx, "/bk2")
	if err != nil {
		t.Fatal(err)
	}
	copied, err = mem.ReadFile("/bk2/TREE")
	if err != nil {
		t.Fatal(err)
	}
	_, firstBad := ledger.TreeTestChunkHashOffset(orig, c)
	for k := int64(0); k < chunks; k++ {
		_, fk := ledger.TreeTestChunkHashOffset(orig, k)
		h := hashAt(copied, k)
		if fk < firstBad && (h == nil || !bytes.Equal(h, hashAt(orig, k))) {
			t.Fatalf("chunk %d, before the damaged frame, not copied as is", k)
		}
		if fk >= firstBad && h != nil {
			t.Fatalf("chunk %d, in or after the damaged frame, copied", k)
		}
	}
	// The copy is still a whole, verified ledger: the backup's verify
	// passed; a writable open rebuilds the missing chunks.
	checkBackup(t, mem, rep, want)
}
