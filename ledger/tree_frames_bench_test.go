package ledger

import (
	"encoding/binary"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/exledger/exledger/vfs"
)

// BenchmarkTreeScanFrame: Open's scan of a TREE file of one frame of
// maxTreeFrameChunks chunks (64 MiB, the largest a catch-up at Open
// writes), from memory. B/op is the scan's memory.
func BenchmarkTreeScanFrame(b *testing.B) {
	const chunks = maxTreeFrameChunks
	hs := make([]tlog.Hash, tlog.StoredHashCount(chunks))
	for i := range hs {
		binary.LittleEndian.PutUint64(hs[i][:], uint64(i)*0x9e3779b97f4a7c15)
	}
	file, err := treeHeader(treeCopyTestID)
	if err != nil {
		b.Fatal(err)
	}
	file = append(file, treeFrame(0, chunks, hs)...)
	hs = nil
	fsys := vfs.NewMem()
	fsys.MkdirAll("/s")
	if err := fsys.WriteFile("/s/TREE", file); err != nil {
		b.Fatal(err)
	}
	f, err := fsys.Open("/s/TREE")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		var t merkle
		s, err := scanTree(f, int64(len(file)), "/s/TREE", treeCopyTestID, 1<<62, func(c int64, hs []tlog.Hash) error {
			t.loadHashes(c, hs)
			return nil
		})
		if err != nil || s.chunks != chunks {
			b.Fatal(s.chunks, err)
		}
	}
}
