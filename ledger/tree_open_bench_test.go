package ledger_test

import (
	"os"
	"testing"

	"github.com/exledger/exledger/ledger"
)

// BenchmarkOpenTree opens the ledger in EXLEDGER_BENCH_TREE_DIR read-only
// and waits until its TREE is loaded (Open loads it in the background),
// then closes it: B/op includes the TREE reader's buffers (a frame read
// whole before treeFileReader; at most 1 MiB since). Skipped without the
// variable. docs/benchmarks.md §16 has the ledger it was run on (a 10M
// ledger whose TREE was rebuilt at Open: one frame of 625,000 chunks).
func BenchmarkOpenTree(b *testing.B) {
	dir := os.Getenv("EXLEDGER_BENCH_TREE_DIR")
	if dir == "" {
		b.Skip("EXLEDGER_BENCH_TREE_DIR not set")
	}
	b.ReportAllocs()
	for b.Loop() {
		l, err := ledger.Open(dir, &ledger.Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, chunks := ledger.TreeHashesInMemoryForTest(l); chunks == 0 {
			b.Fatal("no tree loaded")
		}
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
