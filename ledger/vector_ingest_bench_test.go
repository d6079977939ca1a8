package ledger

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"time"
)

// BenchmarkVectorIngestSealed: the whole CPU cost of ingesting vectors:
// 100,000 events with 384-d vectors appended in batches of 1,000
// (SyncAlways; VB_NOSYNC=1 for SyncNever), then Flush, so that every
// segment and vector file is written; the background indexer is off, so
// the process CPU (user+system, every goroutine) from the first append to
// Flush's return is the append path plus the seals and nothing else. That
// is steadier under other load than BenchmarkVectorIngest's CPU until the
// last acknowledgement, which counts whatever part of the seals and index
// builds happened to run by then. acked-vectors/s and acked-cpu-µs/vector
// stop the clocks when the last append returned (what vecbench's ingest
// figure measures).
func BenchmarkVectorIngestSealed(b *testing.B) {
	const dim, n, batch = 384, 100_000, 1000
	r := rand.New(rand.NewPCG(3, 3))
	base := make([]float32, 1000*dim)
	for i := range base {
		base[i] = float32(r.NormFloat64())
	}
	evs := make([]VectorEvent, n)
	for i := range evs {
		t := TenantID(fmt.Sprintf("t%d", i%8))
		evs[i] = VectorEvent{
			Envelope: ExperienceEventEnvelope{
				EventID: EventID(fmt.Sprintf("e%07d", i)), OccurredAt: "2026-01-01T00:00:00Z", TenantID: &t,
				Event: &FactPromoted{ProposalID: "p-1", FactID: FactID(fmt.Sprintf("fact-%d", i)), PromotedBy: "test", Reason: "r"},
			},
			Vector: base[(i%1000)*dim : (i%1000+1)*dim],
		}
	}
	ctx := context.Background()
	var cpu, wall, acked, ackedCPU float64
	for b.Loop() {
		b.StopTimer()
		o := &Options{EmbeddingDim: dim, VectorIndex: VectorIndexOptions{manual: true}}
		if os.Getenv("VB_NOSYNC") != "" {
			o.Sync = SyncNever
		}
		l, err := Open(b.TempDir(), o)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		c0, t0 := processCPU(), time.Now()
		for lo := 0; lo < n; lo += batch {
			if err := l.AppendVectorEvents(ctx, evs[lo:lo+batch]); err != nil {
				b.Fatal(err)
			}
		}
		acked += time.Since(t0).Seconds()
		ackedCPU += float64(processCPU()-c0) / 1e9
		if err := l.Flush(); err != nil {
			b.Fatal(err)
		}
		wall += time.Since(t0).Seconds()
		cpu += float64(processCPU()-c0) / 1e9
		b.StopTimer()
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(cpu*1e6/float64(b.N*n), "cpu-µs/vector")
	b.ReportMetric(float64(b.N*n)/wall, "sealed-vectors/s")
	b.ReportMetric(float64(b.N*n)/acked, "acked-vectors/s")
	b.ReportMetric(ackedCPU*1e6/float64(b.N*n), "acked-cpu-µs/vector")
}

// processCPU is the process's user plus system CPU time, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
