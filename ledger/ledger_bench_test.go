package ledger_test

import (
	"context"
	"sync"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

// BenchmarkAppendBatch measures durable appends (default options: SyncAlways,
// real disk) at several batch sizes. Events per second is reported.
func BenchmarkAppendBatch(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(itoa(size), func(b *testing.B) {
			l, err := ledger.Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			g := workload.New(workload.Config{Seed: 1})
			batches := make([][]ledger.ExperienceEventEnvelope, 64)
			for i := range batches {
				batches[i] = g.Batch(size)
			}
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bt := batches[i%len(batches)]
				// Unique ids: re-appending identical events would be idempotent no-ops.
				for j := range bt {
					bt[j].EventID = ledger.EventID("e" + itoa(i) + "-" + itoa(j))
				}
				if err := l.AppendEvents(ctx, bt); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			m := l.Metrics()
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(m.Fsyncs)/float64(b.N), "fsyncs/op")
		})
	}
}

// BenchmarkAppendConcurrent64 runs 64 goroutines appending single events
// with the default durable policy (group commit).
func BenchmarkAppendConcurrent64(b *testing.B) {
	l, err := ledger.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const P = 64
	evs := workload.New(workload.Config{Seed: 2}).Batch(4096)
	ctx := context.Background()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := (b.N + P - 1) / P
	for p := 0; p < P; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				e := evs[(p*per+i)%len(evs)]
				e.EventID = ledger.EventID("c" + itoa(p) + "-" + itoa(i))
				if err := l.AppendEvent(ctx, e); err != nil {
					b.Error(err)
					return
				}
			}
		}(p)
	}
	wg.Wait()
	b.StopTimer()
	m := l.Metrics()
	b.ReportMetric(float64(per*P)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(per*P)/float64(max(m.Fsyncs, 1)), "events/fsync")
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}
