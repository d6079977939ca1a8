package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

type demoQueryJSON struct {
	Name       string  `json:"name"`
	Query      string  `json:"query"`
	Results    int     `json:"results"`
	FirstMs    float64 `json:"first_ms"`
	RepeatMs   float64 `json:"repeat_ms"`
	CLIExample string  `json:"cli"`
}

type demoJSON struct {
	Dir           string          `json:"dir"`
	Kept          bool            `json:"kept"`
	Events        uint64          `json:"events"`
	Writers       int             `json:"writers"`
	BatchSize     int             `json:"batch_size"`
	WriteSeconds  float64         `json:"write_seconds"`
	EventsPerSec  float64         `json:"events_per_second"`
	WALBatches    uint64          `json:"wal_batches"`
	Fsyncs        uint64          `json:"fsyncs"`
	Segments      int             `json:"segments"`
	DiskBytes     int64           `json:"disk_bytes"`
	SegmentBytes  int64           `json:"segment_and_index_bytes"`
	WALBytes      int64           `json:"wal_and_other_bytes"`
	BytesPerEvent float64         `json:"bytes_per_event"`
	RawPerEvent   float64         `json:"canonical_bytes_per_event"`
	Compression   float64         `json:"compression_ratio"`
	Queries       []demoQueryJSON `json:"queries"`
	VerifySeconds float64         `json:"verify_seconds"`
	Head          ledger.Digest   `json:"head"`
	TotalSeconds  float64         `json:"total_seconds"`
}

// demoSample is what the generator remembers to query afterwards.
type demoSample struct {
	midID       ledger.EventID
	from, to    ledger.Timestamp
	traceLink   ledger.TraceLinkID
	tenant      ledger.TenantID
	correlation ledger.CorrelationID
}

func newDemoCmd(a *app) *cobra.Command {
	var (
		events  int
		keep    bool
		batch   int
		writers int
		seed    int64
	)
	cmd := &cobra.Command{
		Use:   "demo [DIR]",
		Short: "Write, query and verify a realistic Converge workload (start here)",
		Long: `demo generates a realistic, deterministic Converge workload (default 1M
events) and appends it with the default durable policy (every batch is
fsynced before it is acknowledged) from a few concurrent writers, so group
commit merges their batches into shared fsyncs. It then reports the write
rate, the bytes per event and the segments, runs example queries with their
latencies, verifies the hash chain, and shows how to explore further.

Without DIR it uses a temporary directory, removed at the end unless --keep.
A DIR must be missing or empty; it is kept.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("demo takes at most one DIR (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			if events <= 0 || batch <= 0 || writers <= 0 {
				return usagef("--events, --batch and --writers must be positive")
			}
			dir, temp := "", false
			if len(args) == 1 {
				dir = args[0]
				if names, err := os.ReadDir(dir); err == nil && len(names) > 0 {
					return fmt.Errorf("demo: %s is not empty; give a new or empty directory", dir)
				} else if err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			} else {
				d, err := os.MkdirTemp("", "ledgerctl-demo-")
				if err != nil {
					return err
				}
				dir, temp = d, true
				if !keep {
					defer os.RemoveAll(dir)
				}
			}
			return runDemo(cmd.Context(), a, dir, temp && !keep, events, batch, writers, seed)
		}),
	}
	f := cmd.Flags()
	f.IntVar(&events, "events", 1_000_000, "number of events to generate")
	f.BoolVar(&keep, "keep", false, "keep the temporary ledger directory")
	f.IntVar(&batch, "batch", 1000, "events per AppendEvents batch")
	f.IntVar(&writers, "writers", 4, "concurrent appenders")
	f.Int64Var(&seed, "seed", 1, "workload seed (the same seed gives the same events)")
	return cmd
}

func runDemo(ctx context.Context, a *app, dir string, removed bool, n, batch, writers int, seed int64) error {
	start := time.Now()
	w := a.stdout
	l, err := openWrite(dir, true)
	if err != nil {
		return err
	}
	defer l.Close()
	if !a.json() {
		fmt.Fprintf(w, "exledger demo: %s Converge events -> %s\n", count(n), dir)
		fmt.Fprintf(w, "  %d concurrent writers, batches of %d, durable (each batch fsynced before it is acknowledged), GOMAXPROCS=%d\n\n",
			writers, batch, runtime.GOMAXPROCS(0))
	}

	// Generate on one goroutine, append from several: concurrent batches
	// share WAL writes and fsyncs (group commit).
	g := workload.New(workload.Config{Seed: seed})
	tenants, corrs := g.Tenants(), g.Correlations()
	// The least popular tenant and a correlation from the long tail keep
	// the example queries selective.
	s := demoSample{tenant: tenants[len(tenants)-1], correlation: corrs[len(corrs)*3/4]}
	bar := a.newProgress(int64(n), "writing", false)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []ledger.ExperienceEventEnvelope, writers*2)
	var written atomic.Uint64
	var firstErr error
	var errOnce sync.Once
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				if err := l.AppendEvents(ctx, b); err != nil {
					fail(err)
					return
				}
				written.Add(uint64(len(b)))
				bar.add(len(b))
			}
		}()
	}
	writeStart := time.Now()
	mid, toIdx := n/2, min(n/2+1000, n-1)
gen:
	for i := 0; i < n; {
		b := make([]ledger.ExperienceEventEnvelope, min(batch, n-i))
		for j := range b {
			e := g.Next()
			switch i + j {
			case mid:
				s.midID, s.from = e.EventID, e.OccurredAt
			case toIdx:
				s.to = e.OccurredAt
			}
			if rt, ok := e.Event.(*ledger.ReplayTraceRecorded); ok && i+j <= mid {
				s.traceLink = rt.TraceLinkID
			}
			b[j] = e
		}
		i += len(b)
		select {
		case batches <- b:
		case <-ctx.Done():
			break gen
		}
	}
	close(batches)
	wg.Wait()
	writeTook := time.Since(writeStart)
	bar.done()
	if firstErr != nil {
		return fmt.Errorf("demo: append: %w", firstErr)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.to < s.from {
		s.from, s.to = s.to, s.from
	}
	m := l.Metrics()

	// Seal the tail so the numbers show compressed segments.
	if err := l.Flush(); err != nil {
		return fmt.Errorf("demo: flush: %w", err)
	}
	st, err := l.Stat(ctx, false)
	if err != nil {
		return err
	}
	disk, err := diskUsage(dir)
	if err != nil {
		return err
	}
	out := demoJSON{
		Dir: dir, Kept: !removed, Events: written.Load(), Writers: writers, BatchSize: batch,
		WriteSeconds: writeTook.Seconds(), EventsPerSec: float64(written.Load()) / writeTook.Seconds(),
		WALBatches: m.Batches, Fsyncs: m.Fsyncs, Segments: len(st.Segments), DiskBytes: disk,
		SegmentBytes: st.DataBytes + st.IndexBytes, WALBytes: disk - st.DataBytes - st.IndexBytes,
		BytesPerEvent: float64(st.DataBytes+st.IndexBytes) / float64(n), RawPerEvent: float64(st.RawBytes+st.MemBytes) / float64(n),
	}
	if st.DataBytes > 0 {
		out.Compression = float64(st.RawBytes) / float64(st.DataBytes)
	}
	if !a.json() {
		fmt.Fprintf(w, "write   %s events in %s: %s events/s, %.1f MB/s of canonical events\n",
			count(out.Events), dur(writeTook), count(int64(out.EventsPerSec)), float64(m.BytesWritten)/writeTook.Seconds()/1e6)
		fmt.Fprintf(w, "        %s appends -> %s WAL writes, %s fsyncs (group commit: %.1f batches per fsync)\n",
			count(m.Appends), count(m.Batches), count(m.Fsyncs), float64(m.Appends)/float64(max(m.Fsyncs, 1)))
		fmt.Fprintf(w, "disk    %s + indexes: %s = %.0f bytes/event (canonical msgpack %.0f B/event, zstd %.2fx)\n",
			plural(out.Segments, "segment"), size(out.SegmentBytes), out.BytesPerEvent, out.RawPerEvent, out.Compression)
		fmt.Fprintf(w, "        WAL and metadata: %s (write-ahead log files, removed once a seal covers them)\n\n", size(out.WALBytes))
	}

	// Example queries, each run twice: cold (first touch of its blocks)
	// and warm (decompressed blocks cached).
	kind := ledger.KindGateDecisionRecorded
	from, to := s.from, s.to
	queries := []struct {
		name, desc, cli string
		run             func() (int, error)
	}{
		{"tenant+kind", fmt.Sprintf("tenant=%s kind=%s", s.tenant, kind),
			fmt.Sprintf("ledgerctl query %s --tenant %s --kind %s", dir, s.tenant, kind),
			func() (int, error) {
				r, err := l.QueryEvents(ctx, ledger.EventQuery{TenantID: &s.tenant, Kinds: []ledger.ExperienceEventKind{kind}})
				return len(r), err
			}},
		{"time range", fmt.Sprintf("%s..%s", from, to),
			fmt.Sprintf("ledgerctl query %s --from %s --to %s", dir, from, to),
			func() (int, error) {
				r, err := l.QueryEvents(ctx, ledger.EventQuery{TimeRange: &ledger.TimeRange{Start: &from, End: &to}})
				return len(r), err
			}},
		{"trace link", string(s.traceLink),
			fmt.Sprintf("ledgerctl trace %s %s", dir, s.traceLink),
			func() (int, error) {
				tr, err := l.GetTraceLink(ctx, s.traceLink)
				if tr == nil {
					return 0, err
				}
				return 1, err
			}},
		{"correlation", string(s.correlation),
			fmt.Sprintf("ledgerctl query %s --correlation %s", dir, s.correlation),
			func() (int, error) {
				r, err := l.QueryEvents(ctx, ledger.EventQuery{CorrelationID: &s.correlation})
				return len(r), err
			}},
		{"get by id", string(s.midID),
			fmt.Sprintf("ledgerctl get %s %s", dir, s.midID),
			func() (int, error) {
				_, err := l.Get(ctx, s.midID)
				if err != nil {
					return 0, err
				}
				return 1, nil
			}},
	}
	if !a.json() {
		fmt.Fprintf(w, "queries (first run / repeated):\n")
	}
	for _, q := range queries {
		t0 := time.Now()
		k, err := q.run()
		first := time.Since(t0)
		if err != nil {
			return fmt.Errorf("demo: %s query: %w", q.name, err)
		}
		t0 = time.Now()
		if _, err := q.run(); err != nil {
			return fmt.Errorf("demo: %s query: %w", q.name, err)
		}
		again := time.Since(t0)
		out.Queries = append(out.Queries, demoQueryJSON{Name: q.name, Query: q.desc, Results: k,
			FirstMs: float64(first) / 1e6, RepeatMs: float64(again) / 1e6, CLIExample: q.cli})
		if !a.json() {
			fmt.Fprintf(w, "  %-12s %-58s %8s results  %9s / %s\n", q.name, q.desc, count(k), dur(first), dur(again))
		}
	}

	vbar := a.newProgress(int64(n), "verifying", false)
	t0 := time.Now()
	rep, err := l.Verify(ctx, vbar.set)
	vbar.done()
	if err != nil {
		return err
	}
	out.VerifySeconds = time.Since(t0).Seconds()
	out.Head = rep.Head
	if err := l.Close(); err != nil {
		return err
	}
	out.TotalSeconds = time.Since(start).Seconds()
	if a.json() {
		return a.printJSON(out)
	}
	fmt.Fprintf(w, "\nverify  %s in %s: checksums, indexes and hash chain OK in %s\n",
		plural(rep.Events, "event"), plural(rep.Segments, "segment"), dur(time.Since(t0)))
	fmt.Fprintf(w, "head    seq %d hash %s\n", rep.Head.Seq, rep.Head.HashHex)
	fmt.Fprintf(w, "total   %s\n\n", dur(time.Since(start)))
	if removed {
		fmt.Fprintf(w, "The ledger was in a temporary directory and has been removed.\n")
		fmt.Fprintf(w, "Keep one to explore it: ledgerctl demo --keep   (or: ledgerctl demo ./my-ledger)\n")
		return nil
	}
	fmt.Fprintf(w, "Explore it:\n")
	for _, c := range []string{
		"ledgerctl stat " + dir,
		out.Queries[0].CLIExample + " --limit 3",
		out.Queries[2].CLIExample,
		out.Queries[4].CLIExample,
		"ledgerctl digest " + dir + " -o json > head.json",
		"ledgerctl verify " + dir + " --digest head.json",
		"ledgerctl export " + dir + " --out events.jsonl",
		"ledgerctl tail " + dir + " -f",
		"ledgerctl compact " + dir,
	} {
		fmt.Fprintf(w, "  %s\n", c)
	}
	return nil
}
