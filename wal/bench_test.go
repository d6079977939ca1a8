package wal

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exledger/exledger/vfs"
)

// Benchmarks run on the real file system (b.TempDir) with SyncAlways.

func benchOpen(b *testing.B) *WAL {
	w, err := Open(Options{FS: vfs.OS, Dir: b.TempDir(), Salt: 1}, 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	return w
}

func benchRecords(n int) [][]byte {
	recs := make([][]byte, n)
	for i := range recs {
		r := make([]byte, 400)
		for j := range r {
			r[j] = byte(i + j)
		}
		recs[i] = r
	}
	return recs
}

// BenchmarkCommitBatch: one committer, batches of 1, 100, 1000 records of
// 400 bytes; one frame and one fdatasync per Commit.
func BenchmarkCommitBatch(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			w := benchOpen(b)
			defer w.Close()
			recs := benchRecords(n)
			ctx := context.Background()
			b.SetBytes(int64(payloadSize(recs)))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := w.Commit(ctx, recs, nil); err != nil {
					b.Fatal(err)
				}
			}
			el := time.Since(start).Seconds()
			b.StopTimer()
			st := w.Stats()
			b.ReportMetric(float64(b.N)/el, "commits/s")
			b.ReportMetric(float64(b.N*n)/el, "events/s")
			b.ReportMetric(float64(st.Syncs)/float64(b.N), "fsyncs/op")
		})
	}
}

// BenchmarkConcurrentCommit: W goroutines each committing single 400-byte
// records; group commit merges them.
func BenchmarkConcurrentCommit(b *testing.B) {
	for _, writers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			w := benchOpen(b)
			defer w.Close()
			ctx := context.Background()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for g := 0; g < writers; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					recs := benchRecords(1)
					for next.Add(1) <= int64(b.N) {
						if _, err := w.Commit(ctx, recs, nil); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(start).Seconds()
			b.StopTimer()
			st := w.Stats()
			b.ReportMetric(float64(b.N)/el, "events/s")
			b.ReportMetric(float64(st.Syncs)/float64(b.N), "fsyncs/op")
			b.ReportMetric(float64(b.N)/float64(max(st.Syncs, 1)), "events/fsync")
		})
	}
}
