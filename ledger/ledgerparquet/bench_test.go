package ledgerparquet_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgerparquet"
	"github.com/exledger/exledger/workload"
)

// benchLedger returns a sealed ledger of n workload events (seed 42, the
// default mix with its rare 64 KB outliers), built once and cached under
// $EXLEDGER_BENCH_CACHE or the system temp dir.
func benchLedger(b *testing.B, n int) string {
	b.Helper()
	root := os.Getenv("EXLEDGER_BENCH_CACHE")
	if root == "" {
		root = filepath.Join(os.TempDir(), "exledger-bench-cache")
	}
	dir := filepath.Join(root, "parquet-seed42-n"+strconv.Itoa(n))
	if l, err := ledger.Open(dir, &ledger.Options{ReadOnly: true}); err == nil {
		ok := l.LastSeq() == uint64(n)
		l.Close()
		if ok {
			return dir
		}
	}
	os.RemoveAll(dir)
	l, err := ledger.Open(dir, &ledger.Options{Sync: ledger.SyncNever})
	if err != nil {
		b.Fatal(err)
	}
	g := workload.New(workload.Config{Seed: 42})
	for done := 0; done < n; done += 1000 {
		if err := l.AppendEvents(context.Background(), g.Batch(min(1000, n-done))); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil { // seals the tail
		b.Fatal(err)
	}
	return dir
}

// cpuTime returns the process's user+system CPU time so far (every
// goroutine's): unlike wall time it is barely moved by other processes'
// load.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countWriter counts the bytes written through it and discards them.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// BenchmarkExport exports the same ledger to JSON lines (ledger.ExportJSONL,
// what 'ledgerctl export' runs) and to Parquet (ledgerparquet.Export),
// alternating in every iteration so both see the same machine state, and
// reports each one's events/s, their ratio, their CPU time per event
// (user+system, all goroutines), and bytes per event of both
// outputs and of the ledger itself (sealed segment files + index files).
// The outputs go to a counting io.Writer: the figures are the exporters'
// CPU cost, not a disk's.
//
//	EXLEDGER_PARQUET_BENCH_N=1000000 go test -run '^$' -bench 'Export$' -benchtime 3x ./ledger/ledgerparquet/
//
// $EXLEDGER_PARQUET_BENCH_COMPRESSION=snappy (or none, zstd-frames-1m,
// zstd-frames-512k) measures another codec than the default zstd.
func BenchmarkExport(b *testing.B) {
	l, n := openBenchLedger(b)
	defer l.Close()
	st, err := l.Stat(context.Background(), false)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var jsonlDur, parquetDur, jsonlCPU, parquetCPU time.Duration
	var jsonlBytes, parquetBytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var jw, pw countWriter
		c0, t0 := cpuTime(b), time.Now()
		if k, err := ledger.ExportJSONL(ctx, l, ledger.EventQuery{}, &jw); err != nil || k != uint64(n) {
			b.Fatalf("jsonl: %d events, %v", k, err)
		}
		c1, t1 := cpuTime(b), time.Now()
		if k, err := ledgerparquet.Export(ctx, l, ledger.EventQuery{}, &pw, benchOptions(b)); err != nil || k != uint64(n) {
			b.Fatalf("parquet: %d events, %v", k, err)
		}
		c2, t2 := cpuTime(b), time.Now()
		jsonlDur += t1.Sub(t0)
		parquetDur += t2.Sub(t1)
		jsonlCPU += c1 - c0
		parquetCPU += c2 - c1
		jsonlBytes, parquetBytes = jw.n, pw.n
	}
	b.StopTimer()
	events := float64(n) * float64(b.N)
	jr := events / jsonlDur.Seconds()
	pr := events / parquetDur.Seconds()
	b.ReportMetric(jr, "jsonl-events/s")
	b.ReportMetric(pr, "parquet-events/s")
	b.ReportMetric(pr/jr, "parquet/jsonl-speed")
	b.ReportMetric(float64(jsonlCPU.Microseconds())/events, "jsonl-cpu-µs/event")
	b.ReportMetric(float64(parquetCPU.Microseconds())/events, "parquet-cpu-µs/event")
	b.ReportMetric(float64(jsonlBytes)/float64(n), "jsonl-B/event")
	b.ReportMetric(float64(parquetBytes)/float64(n), "parquet-B/event")
	b.ReportMetric(float64(st.DataBytes)/float64(n), "ledger-data-B/event")
	b.ReportMetric(float64(st.DataBytes+st.IndexBytes)/float64(n), "ledger-total-B/event")
	b.ReportMetric(0, "ns/op")
}

// openBenchLedger opens, read-only, the cached benchmark ledger of
// EXLEDGER_PARQUET_BENCH_N events (200,000 when unset) and returns it with
// its event count.
func openBenchLedger(b *testing.B) (*ledger.Ledger, int) {
	n := 200_000
	if s := os.Getenv("EXLEDGER_PARQUET_BENCH_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		n = v
	}
	l, err := ledger.Open(benchLedger(b, n), &ledger.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	return l, n
}

// benchOptions are the export options of the benchmarks: the defaults,
// with the codec named by $EXLEDGER_PARQUET_BENCH_COMPRESSION (zstd,
// snappy, none; see ParseCompression; or zstd-frames-1m, zstd-frames-512k:
// see framedZstd) when set.
func benchOptions(b *testing.B) ledgerparquet.Options {
	name := os.Getenv("EXLEDGER_PARQUET_BENCH_COMPRESSION")
	if c, ok := framedCodecs[name]; ok {
		return ledgerparquet.Options{Compression: c}
	}
	c, err := ledgerparquet.ParseCompression(name)
	if err != nil {
		b.Fatal(err)
	}
	return ledgerparquet.Options{Compression: c}
}

// BenchmarkExportParquetOnly runs the Parquet export alone (for CPU
// profiles of the exporter; BenchmarkExport compares it with JSON lines):
//
//	go test -run '^$' -bench ExportParquetOnly -benchtime 3x -cpuprofile cpu.prof ./ledger/ledgerparquet/
func BenchmarkExportParquetOnly(b *testing.B) {
	l, n := openBenchLedger(b)
	defer l.Close()
	b.ResetTimer()
	c0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		var pw countWriter
		if _, err := ledgerparquet.Export(context.Background(), l, ledger.EventQuery{}, &pw, benchOptions(b)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime(b)-c0).Microseconds())/float64(n*b.N), "cpu-µs/event")
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkExportJSONLOnly runs the JSON lines export alone, the
// counterpart of BenchmarkExportParquetOnly (for profiles and instruction
// counts of the two exporters run separately).
func BenchmarkExportJSONLOnly(b *testing.B) {
	l, n := openBenchLedger(b)
	defer l.Close()
	b.ResetTimer()
	c0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		var jw countWriter
		if _, err := ledger.ExportJSONL(context.Background(), l, ledger.EventQuery{}, &jw); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime(b)-c0).Microseconds())/float64(n*b.N), "cpu-µs/event")
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}
