package wal

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/exledger/exledger/vfs"
)

// Benchmarks run on the real file system (b.TempDir) with SyncAlways.

func benchOpen(b *testing.B, buffered bool) *WAL {
	w, err := Open(Options{FS: vfs.OS, Dir: b.TempDir(), Salt: 1, BufferedWrites: buffered}, 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	return w
}

func benchRecords(n int) [][]byte { return benchRecordsOf(n, 400) }

func benchRecordsOf(n, size int) [][]byte {
	recs := make([][]byte, n)
	for i := range recs {
		r := make([]byte, size)
		for j := range r {
			r[j] = byte(i + j)
		}
		recs[i] = r
	}
	return recs
}

// ioModes are the write paths a benchmark compares (Options.BufferedWrites).
var ioModes = []struct {
	name     string
	buffered bool
}{{"direct", false}, {"buffered", true}}

// BenchmarkCommitBatch: one committer, batches of 1, 100, 1000 records of
// 400 bytes and 1000 of 1,100 bytes (the ledger's coldappend shape); one
// frame and one fdatasync per Commit; direct and buffered writes
// (compare with benchstat -col /io). cpu-us/op is the process's user and
// system CPU per Commit.
func BenchmarkCommitBatch(b *testing.B) {
	for _, c := range []struct{ n, size int }{{1, 400}, {100, 400}, {1000, 400}, {1000, 1100}} {
		for _, io := range ioModes {
			b.Run(fmt.Sprintf("records=%dx%d/io=%s", c.n, c.size, io.name), func(b *testing.B) {
				benchCommitBatch(b, c.n, c.size, io.buffered)
			})
		}
	}
}

func benchCommitBatch(b *testing.B, n, size int, buffered bool) {
	w := benchOpen(b, buffered)
	defer w.Close()
	recs := benchRecordsOf(n, size)
	ctx := context.Background()
	b.SetBytes(int64(payloadSize(recs)))
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), procCPU()
	for i := 0; i < b.N; i++ {
		if _, err := w.Commit(ctx, recs, nil); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start).Seconds()
	b.StopTimer()
	st := w.Stats()
	if st.DirectWrites == buffered {
		b.Fatalf("direct writes %v with BufferedWrites %v (%s)", st.DirectWrites, buffered, st.DirectFallback)
	}
	b.ReportMetric(float64(procCPU()-cpu0)/1e3/float64(b.N), "cpu-us/op")
	b.ReportMetric(float64(b.N)/el, "commits/s")
	b.ReportMetric(float64(b.N*n)/el, "events/s")
	b.ReportMetric(float64(st.Syncs)/float64(b.N), "fsyncs/op")
}

// BenchmarkConcurrentCommit: W goroutines each committing single 400-byte
// records; group commit merges them.
func BenchmarkConcurrentCommit(b *testing.B) {
	for _, writers := range []int{1, 16, 64} {
		for _, io := range ioModes {
			b.Run(fmt.Sprintf("writers=%d/io=%s", writers, io.name), func(b *testing.B) {
				benchConcurrent(b, writers, io.buffered)
			})
		}
	}
}

func benchConcurrent(b *testing.B, writers int, buffered bool) {
	w := benchOpen(b, buffered)
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
}

// BenchmarkLargeCommitsRecycled: one committer writing 1.7 MB frames (a
// 1,000 x 384-d vector batch of the ledger), checkpointing two files
// behind the active one as the ledger's seals do, with and without
// RecycleFiles, under SyncAlways and SyncNever. Files of 16 MiB, so that
// a run of a few hundred commits reaches the steady state in which every
// new file can be a recycled one. Run with -benchtime=200x or more; the
// first files of a run are created either way.
func BenchmarkLargeCommitsRecycled(b *testing.B) {
	const frame, fileSize = 1_700_000, 16 << 20
	rec := make([]byte, frame)
	for i := range rec {
		rec[i] = byte(i * 7)
	}
	recs := [][]byte{rec}
	perFile := fileSize / frame
	for _, policy := range []SyncPolicy{SyncAlways, SyncNever} {
		for _, recycle := range []int{0, 2} {
			b.Run(fmt.Sprintf("sync=%s/recycle=%d", policy, recycle), func(b *testing.B) {
				w, err := Open(Options{FS: vfs.OS, Dir: b.TempDir(), Salt: 1, FileSize: fileSize, Sync: policy, RecycleFiles: recycle}, 1, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				ctx := context.Background()
				b.SetBytes(frame)
				b.ResetTimer()
				sys0 := sysCPU()
				for i := 0; i < b.N; i++ {
					seq, err := w.Commit(ctx, recs, nil)
					if err != nil {
						b.Fatal(err)
					}
					if lag := uint64(2*perFile + 1); seq > lag && i%perFile == 0 {
						if err := w.Checkpoint(seq - lag); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.StopTimer()
				st := w.Stats()
				b.ReportMetric(float64(sysCPU()-sys0)/1e6/float64(b.N), "sys-cpu-ms/op")
				b.ReportMetric(float64(st.Recycled), "recycled-files")
				b.ReportMetric(float64(st.Recycled)/float64(max(b.N/perFile, 1)), "recycled/rotation")
			})
		}
	}
}

// procCPU is the process's user and system CPU time, in nanoseconds.
func procCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// sysCPU is the process's system CPU time, in nanoseconds.
func sysCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Stime.Nano()
}
