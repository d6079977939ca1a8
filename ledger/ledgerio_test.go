package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// jsonl renders envelopes as JSONL, the export format.
func jsonl(t *testing.T, evs []ledger.ExperienceEventEnvelope) []byte {
	t.Helper()
	var b []byte
	for i := range evs {
		var err error
		b, err = ledger.AppendEnvelopeJSON(b, &evs[i])
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, '\n')
	}
	return b
}

func allEvents(t *testing.T, l *ledger.Ledger) []ledger.ExperienceEventEnvelope {
	t.Helper()
	evs, err := l.QueryEvents(context.Background(), ledger.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	fsys := vfs.NewMem()
	src := openT(t, "src", smallOpts(fsys))
	g := workload.New(workload.Config{Seed: 7})
	want := g.Batch(2500)
	for i := 0; i < len(want); i += 500 {
		if err := src.AppendEvents(ctx, want[i:i+500]); err != nil {
			t.Fatal(err)
		}
	}
	var exported bytes.Buffer
	n, err := ledger.ExportJSONL(ctx, src, ledger.EventQuery{}, &exported)
	if err != nil || n != uint64(len(want)) {
		t.Fatalf("export: n=%d err=%v", n, err)
	}
	if !bytes.Equal(exported.Bytes(), jsonl(t, want)) {
		t.Fatal("export differs from the JSON of the appended events")
	}

	dst := openT(t, "dst", smallOpts(fsys))
	var progress []ledger.ImportReport
	// A one-byte reader forces every line across many reader refills.
	rep, err := ledger.ImportJSONL(ctx, dst, iotest.HalfReader(bytes.NewReader(exported.Bytes())), ledger.ImportOptions{
		BatchSize: 700,
		Progress:  func(r ledger.ImportReport) { progress = append(progress, r) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != uint64(len(want)) || rep.Batches != 4 || rep.Lines != len(want) || rep.LastLine != len(want) {
		t.Fatalf("report %+v", rep)
	}
	if len(progress) != 4 || progress[0].Events != 700 || progress[3].Events != 2500 {
		t.Fatalf("progress %+v", progress)
	}
	got := allEvents(t, dst)
	if len(got) != len(want) {
		t.Fatalf("imported %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if !ledger.EnvelopesEqual(got[i], want[i]) {
			t.Fatalf("event %d differs after the round trip", i)
		}
	}
	var again bytes.Buffer
	if _, err := ledger.ExportJSONL(ctx, dst, ledger.EventQuery{}, &again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), exported.Bytes()) {
		t.Fatal("second export differs from the first")
	}

	// Re-importing the same file is an idempotent no-op.
	if _, err := ledger.ImportJSONL(ctx, dst, bytes.NewReader(exported.Bytes()), ledger.ImportOptions{}); err != nil {
		t.Fatalf("re-import: %v", err)
	}
	if l := dst.LastSeq(); l != uint64(len(want)) {
		t.Fatalf("re-import changed the ledger: last seq %d", l)
	}
}

func TestExportQuery(t *testing.T) {
	ctx := context.Background()
	l := openT(t, "l", smallOpts(vfs.NewMem()))
	g := workload.New(workload.Config{Seed: 3})
	if err := l.AppendEvents(ctx, g.Batch(1500)); err != nil {
		t.Fatal(err)
	}
	tenant := g.Tenants()[1]
	q := ledger.EventQuery{TenantID: &tenant, Kinds: []ledger.ExperienceEventKind{ledger.KindProposalCreated, ledger.KindOutcomeRecorded}}
	want, err := l.QueryEvents(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("query matches nothing; pick another tenant")
	}
	var buf bytes.Buffer
	n, err := ledger.ExportJSONL(ctx, l, q, &buf)
	if err != nil || n != uint64(len(want)) {
		t.Fatalf("n=%d err=%v want %d", n, err, len(want))
	}
	if !bytes.Equal(buf.Bytes(), jsonl(t, want)) {
		t.Fatal("filtered export differs from QueryEvents")
	}
	// A failing writer is reported.
	_, err = ledger.ExportJSONL(ctx, l, ledger.EventQuery{}, failWriter{})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("write error not reported: %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestImportBadInput(t *testing.T) {
	ctx := context.Background()
	g := workload.New(workload.Config{Seed: 11})
	evs := g.Batch(100)
	good := jsonl(t, evs)
	lines := strings.SplitAfter(string(good), "\n")
	lines = lines[:len(lines)-1] // trailing ""

	withLine := func(n int, s string) string { // replace 1-based line n
		c := append([]string(nil), lines...)
		c[n-1] = s
		return strings.Join(c, "")
	}
	invalid := evs[24]
	invalid.EventID = ""
	bad, err := ledger.MarshalEnvelopeJSON(invalid)
	if err != nil {
		t.Fatal(err)
	}
	dup := evs[2] // same id as line 3, other content: rejected by AppendEvents
	dup.OccurredAt = "1999-01-01T00:00:00Z"
	dupJSON, _ := ledger.MarshalEnvelopeJSON(dup)

	tests := []struct {
		name      string
		input     string
		max       int
		wantLine  int
		wantErr   string
		wantEvts  uint64 // events committed before the failure
		wantBatch uint64
	}{
		{"bad json in batch 3", withLine(25, "{not json\n"), 0, 25, "", 20, 2},
		{"invalid event in batch 3", withLine(25, string(bad)+"\n"), 0, 25, "event_id", 20, 2},
		{"truncated last line", strings.Join(lines[:99], "") + lines[99][:40], 0, 100, "", 90, 9},
		{"line too long", withLine(35, strings.Repeat("x", 20000)+"\n"), 16384, 35, "too long", 30, 3},
		{"duplicate id rejected in batch 6", withLine(55, string(dupJSON)+"\n"), 0, 51, "lines 51-60", 50, 5},
		{"first line bad", withLine(1, "[]\n"), 0, 1, "", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := openT(t, "l", smallOpts(vfs.NewMem()))
			rep, err := ledger.ImportJSONL(ctx, l, strings.NewReader(tc.input), ledger.ImportOptions{BatchSize: 10, MaxLineBytes: tc.max})
			var ie *ledger.ImportError
			if !errors.As(err, &ie) {
				t.Fatalf("want *ImportError, got %v", err)
			}
			if ie.Line != tc.wantLine {
				t.Fatalf("error names line %d, want %d: %v", ie.Line, tc.wantLine, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("line %d", tc.wantLine)) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error text %q", err)
			}
			if rep.Events != tc.wantEvts || rep.Batches != tc.wantBatch || rep.LastLine != int(tc.wantEvts) {
				t.Fatalf("report %+v, want %d events in %d batches", rep, tc.wantEvts, tc.wantBatch)
			}
			got := allEvents(t, l)
			if uint64(len(got)) != tc.wantEvts {
				t.Fatalf("ledger holds %d events, want exactly the %d of the earlier batches", len(got), tc.wantEvts)
			}
			for i := range got {
				if !ledger.EnvelopesEqual(got[i], evs[i]) {
					t.Fatalf("event %d differs", i)
				}
			}
		})
	}
}

func TestImportLineEndings(t *testing.T) {
	ctx := context.Background()
	g := workload.New(workload.Config{Seed: 5})
	evs := g.Batch(5)
	var in bytes.Buffer
	in.WriteString("\n  \r\n")
	for i := range evs {
		b, _ := ledger.MarshalEnvelopeJSON(evs[i])
		in.Write(b)
		if i%2 == 0 {
			in.WriteString("\r\n\n")
		} else {
			in.WriteString("\n")
		}
	}
	in.Truncate(in.Len() - 1) // last line without a terminator
	l := openT(t, "l", smallOpts(vfs.NewMem()))
	rep, err := ledger.ImportJSONL(ctx, l, &in, ledger.ImportOptions{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != 5 || rep.Batches != 3 {
		t.Fatalf("report %+v", rep)
	}
	if got := allEvents(t, l); len(got) != 5 || !ledger.EnvelopesEqual(got[4], evs[4]) {
		t.Fatalf("got %d events", len(got))
	}
}

func TestImportReadErrorAndCancel(t *testing.T) {
	g := workload.New(workload.Config{Seed: 9})
	data := jsonl(t, g.Batch(30))
	l := openT(t, "l", smallOpts(vfs.NewMem()))
	r := io.MultiReader(bytes.NewReader(data), iotest.ErrReader(errors.New("network down")))
	rep, err := ledger.ImportJSONL(context.Background(), l, r, ledger.ImportOptions{BatchSize: 8})
	if err == nil || !strings.Contains(err.Error(), "network down") {
		t.Fatalf("read error not reported: %v", err)
	}
	if rep.Events != 24 || l.LastSeq() != 24 {
		t.Fatalf("report %+v, last seq %d", rep, l.LastSeq())
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l2 := openT(t, "l2", smallOpts(vfs.NewMem()))
	if _, err := ledger.ImportJSONL(ctx, l2, bytes.NewReader(data), ledger.ImportOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	if l2.LastSeq() != 0 {
		t.Fatal("a cancelled import appended events")
	}
}

// benchLedger returns a ledger on a MemFS holding n workload events and
// their JSONL export.
func benchLedger(b *testing.B, n int) (*ledger.Ledger, []byte) {
	b.Helper()
	l, err := ledger.Open("l", &ledger.Options{FS: vfs.NewMem(), Sync: ledger.SyncNever})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	g := workload.New(workload.Config{Seed: 1})
	for i := 0; i < n; i += 1000 {
		if err := l.AppendEvents(context.Background(), g.Batch(1000)); err != nil {
			b.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := ledger.ExportJSONL(context.Background(), l, ledger.EventQuery{}, &buf); err != nil {
		b.Fatal(err)
	}
	return l, buf.Bytes()
}

func BenchmarkExportJSONL(b *testing.B) {
	const n = 20000
	l, data := benchLedger(b, n)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ledger.ExportJSONL(context.Background(), l, ledger.EventQuery{}, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkImportJSONL(b *testing.B) {
	const n = 20000
	_, data := benchLedger(b, n)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		l, err := ledger.Open("dst", &ledger.Options{FS: vfs.NewMem(), Sync: ledger.SyncNever})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := ledger.ImportJSONL(context.Background(), l, bytes.NewReader(data), ledger.ImportOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		l.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
