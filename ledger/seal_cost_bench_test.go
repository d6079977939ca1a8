package ledger_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

// BenchmarkSealRecords isolates the part of a seal that depends on the
// layout: one frozen memtable of 60k workload events (~40 MB) is written
// as a segment in log order and clustered, alternating, in one process,
// by the sealer's own code (writeSealRecords with sealOne's writer
// options: framing, the chain, compression, the footer; for the
// clustered layout also the cluster order and the chain checkpoints).
// The index, the Merkle tree and the manifest, the same in both layouts,
// are left out. It reports the process's CPU (getrusage: the compressor
// goroutines and the chain's goroutine included) per event of each
// layout, their ratio, and the CPU of computing the cluster order alone.
// In a -cpuprofile, the samples of each layout's writes carry the label
// layout=log or layout=clustered (pprof -tagfocus).
//
//	go test -run '^$' -bench 'SealRecords' -benchtime 20x ./ledger/
func BenchmarkSealRecords(b *testing.B) {
	ctx := context.Background()
	evs := workload.New(workload.Config{Seed: 42}).Batch(60_000)
	dir := b.TempDir()
	l, err := ledger.Open(filepath.Join(dir, "l"), &ledger.Options{Sync: ledger.SyncNever, SegmentBytes: 1 << 30, SegmentAge: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for j := 0; j < len(evs); j += 1000 {
		if err := l.AppendEvents(ctx, evs[j:j+1000]); err != nil {
			b.Fatal(err)
		}
	}
	n, write, order := ledger.SealRecordsForBench(l)
	if n != len(evs) {
		b.Fatalf("memtable holds %d events, want %d", n, len(evs))
	}
	layouts := []ledger.SealLayout{ledger.SealLayoutLog, ledger.SealLayoutClustered}
	cpu := make([]int64, len(layouts))
	seal := func(i int) {
		path := filepath.Join(dir, "seg")
		runtime.GC()
		c0 := cpuTime()
		var err error
		// The label (inherited by the writer's compressor goroutines and
		// the chain's) splits a -cpuprofile by layout.
		pprof.Do(context.Background(), pprof.Labels("layout", layouts[i].String()), func(context.Context) {
			err = write(path, layouts[i])
		})
		if err != nil {
			b.Fatal(err)
		}
		cpu[i] += cpuTime() - c0
		if err := os.Remove(path); err != nil {
			b.Fatal(err)
		}
	}
	seal(0) // warm the encoders and buffers
	seal(1)
	clear(cpu)
	var orderCPU int64
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		for k := range layouts {
			seal((k + it) % len(layouts))
		}
		runtime.GC()
		c0 := cpuTime()
		if err := order(); err != nil {
			b.Fatal(err)
		}
		orderCPU += cpuTime() - c0
	}
	b.StopTimer()
	per := func(c int64) float64 { return float64(c) / float64(b.N) / float64(n) }
	for i, lay := range layouts {
		b.ReportMetric(per(cpu[i]), lay.String()+"-cpu-ns/event")
	}
	b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "clustered/log")
	b.ReportMetric(per(orderCPU), "order-cpu-ns/event")
}

// BenchmarkColdAppendLayouts is BenchmarkColdAppend100k (issue 17's
// shape: Open, 100 × AppendEvents of 1000 ~1 KB events, Close with its
// seal) with each seal layout, alternating in one process. It reports
// each layout's events/s up to the last acknowledged append (wall) and
// the process's CPU per event including Close's seal (getrusage; on 2
// cores the background seal's CPU is taken from the appends).
//
//	go test -run '^$' -bench 'ColdAppendLayouts' -benchtime 6x ./ledger/
func BenchmarkColdAppendLayouts(b *testing.B) {
	const n, batch = 100_000, 1000
	evs := coldEvents(n, 17)
	ctx := context.Background()
	layouts := []ledger.SealLayout{ledger.SealLayoutLog, ledger.SealLayoutClustered}
	acked := make([]time.Duration, len(layouts))
	cpu := make([]int64, len(layouts))
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		for k := range layouts {
			i := (k + it) % len(layouts)
			dir := b.TempDir()
			runtime.GC()
			c0, t0 := cpuTime(), time.Now()
			// Labelled as in BenchmarkSealRecords (the ledger's goroutines,
			// started by Open, inherit the label).
			pprof.Do(ctx, pprof.Labels("layout", layouts[i].String()), func(ctx context.Context) {
				l, err := ledger.Open(dir, &ledger.Options{SealLayout: layouts[i]})
				if err != nil {
					b.Fatal(err)
				}
				for j := 0; j < n; j += batch {
					if err := l.AppendEvents(ctx, evs[j:j+batch]); err != nil {
						b.Fatal(err)
					}
				}
				acked[i] += time.Since(t0)
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
			})
			cpu[i] += cpuTime() - c0
		}
	}
	b.StopTimer()
	for i, lay := range layouts {
		b.ReportMetric(float64(n)*float64(b.N)/acked[i].Seconds(), lay.String()+"-events/s")
		b.ReportMetric(float64(cpu[i])/float64(b.N)/n, lay.String()+"-cpu-ns/event")
	}
	b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "clustered/log-cpu")
}
