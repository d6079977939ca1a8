package ledgertail_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgertail"
	"github.com/exledger/exledger/workload"
)

// BenchmarkFollowLatency measures commit-to-print latency of the
// cross-process path: a writer appends one event at a time (SyncAlways,
// real disk), and Follow, which only reads files (fsnotify wake-up, then
// an incremental read of the WAL tail), receives it. Reported: the
// median and 99th percentile from the start of AppendEvent to the event's
// arrival (an upper bound of commit-to-print: it includes the commit's
// own write and fdatasync), and the median append latency for reference.
// Modes: fsnotify and, for comparison, 250 ms polling of the same reader.
func BenchmarkFollowLatency(b *testing.B) {
	for _, mode := range []string{"notify", "poll250ms"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			l, err := ledger.Open(dir, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			g := workload.New(workload.Config{Seed: 21, OutlierRate: -1})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := l.AppendEvent(ctx, g.Next()); err != nil {
				b.Fatal(err)
			}
			arrived := make(chan time.Time, 1)
			o := &ledgertail.Options{ForcePoll: mode != "notify"}
			go func() {
				for _, err := range ledgertail.Follow(ctx, dir, ledger.EventQuery{}, 2, o) {
					if err != nil {
						return
					}
					arrived <- time.Now()
				}
			}()
			time.Sleep(50 * time.Millisecond) // the watcher is set up
			evs := g.Batch(1024)
			var lat, app []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e := evs[i%len(evs)]
				e.EventID = ledger.EventID("lat-" + time.Now().Format("150405.000000000"))
				start := time.Now()
				if err := l.AppendEvent(ctx, e); err != nil {
					b.Fatal(err)
				}
				acked := time.Now()
				got := <-arrived
				lat = append(lat, got.Sub(start))
				app = append(app, acked.Sub(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			slices.Sort(app)
			ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
			b.ReportMetric(ms(app[len(app)/2]), "append-p50-ms")
		})
	}
}
