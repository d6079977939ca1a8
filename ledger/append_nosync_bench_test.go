package ledger_test

import (
	"context"
	"syscall"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

// BenchmarkAppendNoSync measures the CPU cost of the append path without
// fdatasync (SyncNever), where instrumentation overhead is not hidden
// behind the disk: batches of 1 and 100 events on one goroutine.
func BenchmarkAppendNoSync(b *testing.B) {
	for _, size := range []int{1, 100} {
		b.Run(itoa(size), func(b *testing.B) {
			benchAppendNoSync(b, size, nil)
		})
	}
}

func benchAppendNoSync(b *testing.B, size int, opts *ledger.Options) {
	o := ledger.Options{Sync: ledger.SyncNever}
	if opts != nil {
		o = *opts
	}
	l, err := ledger.Open(b.TempDir(), &o)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	g := workload.New(workload.Config{Seed: 1, OutlierRate: -1})
	batches := make([][]ledger.ExperienceEventEnvelope, 64)
	for i := range batches {
		batches[i] = g.Batch(size)
	}
	ctx := context.Background()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bt := batches[i%len(batches)]
		for j := range bt {
			bt[j].EventID = ledger.EventID("n" + itoa(i) + "-" + itoa(j))
		}
		if err := l.AppendEvents(ctx, bt); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// Process CPU time (every goroutine: committer, sealer), which a busy
	// machine disturbs less than wall time.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
}

// cpuTime is the process's user plus system CPU time, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
