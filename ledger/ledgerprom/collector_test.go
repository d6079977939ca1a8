package ledgerprom_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgerprom"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// known does a known amount of work on a fresh ledger: 5 appends of 20
// events, a seal, 3 queries with different plans, and one compaction.
func known(t *testing.T) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(t.TempDir(), &ledger.Options{Sync: ledger.SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx := context.Background()
	g := workload.New(workload.Config{Seed: 7, OutlierRate: -1})
	for i := 0; i < 5; i++ {
		if err := l.AppendEvents(ctx, g.Batch(20)); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	ten := g.Tenants()[0]
	start := ledger.Timestamp("2026-01-01T00:00:00Z")
	for _, q := range []ledger.EventQuery{{TenantID: &ten}, {TimeRange: &ledger.TimeRange{Start: &start}}, {}} {
		if _, err := l.QueryEvents(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Compact(ctx, ledger.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestCollectorValues(t *testing.T) {
	l := known(t)
	c := ledgerprom.NewCollector(l)
	want := `
# HELP exledger_appends_total AppendEvent/AppendEvents calls that succeeded.
# TYPE exledger_appends_total counter
exledger_appends_total 5
# HELP exledger_events_committed_total Events committed.
# TYPE exledger_events_committed_total counter
exledger_events_committed_total 100
# HELP exledger_seals_total Segments sealed by this process.
# TYPE exledger_seals_total counter
exledger_seals_total 2
# HELP exledger_compactions_total Successful Compact calls.
# TYPE exledger_compactions_total counter
exledger_compactions_total 1
# HELP exledger_segments Sealed segments.
# TYPE exledger_segments gauge
exledger_segments 1
# HELP exledger_sealed_events Events in sealed segments.
# TYPE exledger_sealed_events gauge
exledger_sealed_events 100
# HELP exledger_last_sequence Highest committed sequence number (0: empty).
# TYPE exledger_last_sequence gauge
exledger_last_sequence 100
# HELP exledger_poisoned 1 once a WAL write or fdatasync failed: appends fail until the ledger is reopened.
# TYPE exledger_poisoned gauge
exledger_poisoned 0
`
	names := []string{"exledger_appends_total", "exledger_events_committed_total", "exledger_seals_total",
		"exledger_compactions_total", "exledger_segments", "exledger_sealed_events", "exledger_last_sequence", "exledger_poisoned"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	hist := func(name string, labels ...string) *dto.Histogram {
		t.Helper()
		mf := byName[name]
		if mf == nil || mf.GetType() != dto.MetricType_HISTOGRAM {
			t.Fatalf("%s: missing or not a histogram", name)
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				ok := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						ok = true
					}
				}
				if !ok {
					continue next
				}
			}
			return m.GetHistogram()
		}
		t.Fatalf("%s%v: no series", name, labels)
		return nil
	}
	cases := []struct {
		name   string
		labels []string
		count  uint64
	}{
		{"exledger_append_duration_seconds", nil, 5},
		{"exledger_append_batch_events", nil, 5},
		{"exledger_seal_duration_seconds", nil, 2},
		{"exledger_compaction_duration_seconds", nil, 1},
		{"exledger_query_duration_seconds", []string{"plan", "index"}, 1},
		{"exledger_query_duration_seconds", []string{"plan", "time"}, 1},
		{"exledger_query_duration_seconds", []string{"plan", "scan"}, 1},
		{"exledger_query_duration_seconds", []string{"plan", "event_id"}, 0},
		{"exledger_wal_group_commit_appends", nil, 5},
	}
	for _, tc := range cases {
		h := hist(tc.name, tc.labels...)
		if h.GetSampleCount() != tc.count {
			t.Errorf("%s%v: count %d, want %d", tc.name, tc.labels, h.GetSampleCount(), tc.count)
		}
		// Buckets are cumulative and end at the count.
		bs := h.GetBucket()
		for i := 1; i < len(bs); i++ {
			if bs[i].GetCumulativeCount() < bs[i-1].GetCumulativeCount() || bs[i].GetUpperBound() <= bs[i-1].GetUpperBound() {
				t.Fatalf("%s: buckets not cumulative/increasing at %d", tc.name, i)
			}
		}
		if n := len(bs); n > 0 && bs[n-1].GetCumulativeCount() > h.GetSampleCount() {
			t.Fatalf("%s: last bucket %d > count %d", tc.name, bs[n-1].GetCumulativeCount(), h.GetSampleCount())
		}
	}
	if s := hist("exledger_append_batch_events").GetSampleSum(); s != 100 {
		t.Errorf("append batch sum %v, want 100 events", s)
	}
	// Disk bytes by kind: segments and indexes exist after the seals.
	for _, m := range byName["exledger_disk_bytes"].GetMetric() {
		kind := m.GetLabel()[0].GetValue()
		if v := m.GetGauge().GetValue(); (kind == "segments" || kind == "indexes" || kind == "manifest") && v <= 0 {
			t.Errorf("disk bytes %s = %v", kind, v)
		}
	}
	if n := len(byName["exledger_disk_bytes"].GetMetric()); n != 4 {
		t.Errorf("%d disk_bytes series, want 4", n)
	}
}

// TestCollectorLint runs client_golang's promlint (the checks of
// `promtool check metrics`) over a scrape.
func TestCollectorLint(t *testing.T) {
	c := ledgerprom.NewCollector(known(t), prometheus.Labels{"ledger": "test"})
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	// Every family is prefixed and the counters end in _total.
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) < 25 {
		t.Fatalf("only %d metric families", len(mfs))
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "exledger_") {
			t.Errorf("%s: no exledger_ prefix", mf.GetName())
		}
		if (mf.GetType() == dto.MetricType_COUNTER) != strings.HasSuffix(mf.GetName(), "_total") {
			t.Errorf("%s: type %s and _total suffix disagree", mf.GetName(), mf.GetType())
		}
	}
	// The same lint over the gathered families, as promtool sees them.
	lp, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range lp {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func ExampleNewCollector() {
	dir, _ := os.MkdirTemp("", "ledgerprom")
	defer os.RemoveAll(dir)
	l, err := ledger.Open(dir, nil)
	if err != nil {
		panic(err)
	}
	defer l.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(ledgerprom.NewCollector(l))
	// http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}

// TestCollectorWALDirect: exledger_wal_direct_writes is 1 while the WAL
// writes with direct I/O and 0 with Options.BufferedWAL.
func TestCollectorWALDirect(t *testing.T) {
	for _, buffered := range []bool{false, true} {
		l, err := ledger.Open("/l", &ledger.Options{FS: vfs.NewMem(), BufferedWAL: buffered})
		if err != nil {
			t.Fatal(err)
		}
		want := "1"
		if buffered {
			want = "0"
		}
		exp := `
# HELP exledger_wal_direct_writes 1 while the WAL is written with direct I/O (O_DIRECT), 0 when it writes through the page cache (Options.BufferedWAL, or the file system refused O_DIRECT: see the log).
# TYPE exledger_wal_direct_writes gauge
exledger_wal_direct_writes ` + want + "\n"
		err = testutil.CollectAndCompare(ledgerprom.NewCollector(l), strings.NewReader(exp), "exledger_wal_direct_writes")
		l.Close()
		if err != nil {
			t.Fatalf("BufferedWAL=%v: %v", buffered, err)
		}
	}
}
