package ledgerparquet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgerparquet"
	"github.com/exledger/exledger/workload"
)

func ptr[T any](v T) *T { return &v }

// edgeEvents are hand-made envelopes for what generated traffic rarely
// has: timestamps that are not RFC 3339 or carry offsets and nanoseconds,
// unicode, budget limits that are and are not numbers, absent and present
// optional numbers.
func edgeEvents() []ledger.ExperienceEventEnvelope {
	unicode := "日本語 ✓ \u2028 \"quoted\" \\ é"
	chain := ledger.ChainID("chain-" + unicode)
	return []ledger.ExperienceEventEnvelope{
		{EventID: "edge-1", OccurredAt: ledger.Timestamp("yesterday, " + unicode), Event: &ledger.OutcomeRecorded{ChainID: chain, Step: ledger.DecisionStepPlanning}},
		{EventID: "edge-2", OccurredAt: "2026-03-04T05:06:07.123456789+02:00", TenantID: ptr(ledger.TenantID("tenant-edge")), Event: &ledger.OutcomeRecorded{
			ChainID: chain, Step: ledger.DecisionStepEvaluation, Passed: true,
			StopReason: &ledger.StopReason{Kind: ledger.StopConverged},
			LatencyMs:  ptr(uint64(1<<64 - 1)), Tokens: ptr(uint64(0)), CostMicrodollars: ptr(uint64(42)),
			Backend: ptr(ledger.BackendID("backend-ü")), Metadata: map[string]string{"k": unicode},
		}},
		{EventID: "edge-3", OccurredAt: "1969-12-31T23:59:59.5Z", CorrelationID: ptr(ledger.CorrelationID("corr-x")), Event: &ledger.BudgetExceeded{
			ChainID: chain, Resource: ledger.BudgetResource{Kind: ledger.BudgetOther, Other: unicode}, Limit: "1e3", Observed: ptr("-0.25"),
		}},
		{EventID: "edge-4", OccurredAt: "2026-01-01T00:00:00Z", Event: &ledger.BudgetExceeded{ChainID: "c", Resource: ledger.BudgetResource{Kind: ledger.BudgetTokens}, Limit: "NaN"}},
		{EventID: "edge-5", OccurredAt: "2026-01-01T00:00:00Z", Event: &ledger.BudgetExceeded{ChainID: "c", Resource: ledger.BudgetResource{Kind: ledger.BudgetCost}, Limit: "1_000", Observed: ptr("1e999")}},
		{EventID: "edge-6", OccurredAt: "2026-01-01T00:00:00Z", Event: &ledger.HypothesisResolved{ChainID: chain, Claim: unicode, Confidence: 0.125, Outcome: ledger.HypothesisConfirmed}},
		{EventID: "edge-7", OccurredAt: "2026-01-01", Event: &ledger.ArtifactRollbackRecorded{Rollback: ledger.RollbackRecord{ArtifactID: "art-" + unicode, PreviousState: ledger.StateActive, Impact: ledger.RollbackImpact{Severity: ledger.SeverityHigh}}}},
		{EventID: "edge-8", OccurredAt: "2026-01-01T00:00:00Z", Event: &ledger.RecallExecuted{Provenance: ledger.RecallProvenanceEnvelope{LatencyMs: 17, Signature: "unsigned", Purpose: ledger.RecallUseRuntimeAugmentation}}},
	}
}

// newLedger returns a ledger holding n generated events (every kind, with
// ~1% 64 KB payloads) followed by edgeEvents.
func newLedger(t testing.TB, n int) (*ledger.Ledger, []ledger.ExperienceEventEnvelope) {
	t.Helper()
	l, err := ledger.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	g := workload.New(workload.Config{Seed: 19, OutlierRate: 0.01})
	var all []ledger.ExperienceEventEnvelope
	batch := make([]ledger.ExperienceEventEnvelope, 0, 1000)
	for i := 0; i < n; i++ {
		batch = append(batch, g.Next())
		if len(batch) == cap(batch) || i == n-1 {
			if err := l.AppendEvents(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			all = append(all, batch...)
			batch = batch[:0]
		}
	}
	edge := edgeEvents()
	if err := l.AppendEvents(context.Background(), edge); err != nil {
		t.Fatal(err)
	}
	return l, append(all, edge...)
}

func export(t testing.TB, l *ledger.Ledger, q ledger.EventQuery, o ledgerparquet.Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := ledgerparquet.Export(context.Background(), l, q, &buf, o)
	if err != nil {
		t.Fatal(err)
	}
	rows := readRows(t, buf.Bytes())
	if uint64(len(rows)) != n {
		t.Fatalf("Export reported %d events, the file holds %d rows", n, len(rows))
	}
	return buf.Bytes()
}

func readRows(t testing.TB, b []byte) []ledgerparquet.Row {
	t.Helper()
	r := parquet.NewGenericReader[ledgerparquet.Row](bytes.NewReader(b))
	defer r.Close()
	rows := make([]ledgerparquet.Row, r.NumRows())
	n, err := r.Read(rows)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if n != len(rows) {
		t.Fatalf("read %d of %d rows", n, len(rows))
	}
	return rows
}

// expectedRow computes a row independently of the exporter: the ids from
// the envelope, the kind-specific columns from the event's JSON form.
func expectedRow(t *testing.T, seq int, env *ledger.ExperienceEventEnvelope) ledgerparquet.Row {
	t.Helper()
	full, err := ledger.MarshalEnvelopeJSON(*env)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Event json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(full, &doc); err != nil {
		t.Fatal(err)
	}
	// The event member is the envelope's last: its bytes end the line.
	want := ledgerparquet.Row{
		Seq:           int64(seq),
		EventID:       string(env.EventID),
		OccurredAtRaw: string(env.OccurredAt),
		Kind:          string(env.Kind()),
		EventJSON:     string(full[len(full)-1-len(doc.Event) : len(full)-1]),
	}
	if want.EventJSON != string(doc.Event) {
		t.Fatalf("event member is not at the end of %s", full)
	}
	if ts, err := time.Parse(time.RFC3339Nano, string(env.OccurredAt)); err == nil {
		want.OccurredAt = ptr(ts.UnixNano() / 1000)
		if ts.UnixNano()%1000 < 0 {
			*want.OccurredAt-- // floor, as UnixMicro does
		}
	}
	if env.TenantID != nil {
		want.TenantID = ptr(string(*env.TenantID))
	}
	if env.CorrelationID != nil {
		want.CorrelationID = ptr(string(*env.CorrelationID))
	}
	var ev struct {
		Type string                     `json:"type"`
		Data map[string]json.RawMessage `json:"data"`
	}
	dec := json.NewDecoder(strings.NewReader(want.EventJSON))
	dec.UseNumber()
	if err := dec.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	d := ev.Data
	sub := func(m map[string]json.RawMessage, k string) map[string]json.RawMessage {
		var o map[string]json.RawMessage
		if err := json.Unmarshal(m[k], &o); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		return o
	}
	str := func(raw json.RawMessage) *string {
		if raw == nil || string(raw) == "null" {
			return nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		return &s
	}
	u64 := func(raw json.RawMessage) *uint64 {
		if raw == nil || string(raw) == "null" {
			return nil
		}
		v, err := strconv.ParseUint(string(raw), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	f64 := func(raw json.RawMessage) *float64 {
		if raw == nil || string(raw) == "null" {
			return nil
		}
		v, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	boolean := func(raw json.RawMessage) *bool {
		b := string(raw) == "true"
		return &b
	}
	if ev.Type != want.Kind {
		t.Fatalf("type %q, kind %q", ev.Type, want.Kind)
	}
	switch ev.Type {
	case "ProposalCreated", "ProposalValidated", "OutcomeRecorded", "BudgetExceeded", "HypothesisResolved":
		want.ChainID = str(d["chain_id"])
	}
	switch ev.Type {
	case "ReplayTraceRecorded", "ReplayabilityDowngraded", "BackendInvoked", "RecallExecuted":
		want.TraceLinkID = str(d["trace_link_id"])
	case "ArtifactStateTransitioned":
		want.ArtifactID = str(d["artifact_id"])
	case "ArtifactRollbackRecorded":
		want.ArtifactID = str(sub(d, "rollback")["artifact_id"])
	}
	switch ev.Type {
	case "ProposalCreated":
		want.Step = str(d["step"])
		if c := sub(d, "proposal")["confidence"]; c != nil && string(c) != "null" {
			f, err := strconv.ParseFloat(string(c), 32)
			if err != nil {
				t.Fatal(err)
			}
			want.Confidence = &f
		}
	case "ProposalValidated":
		want.Step = str(d["step"])
		want.Passed = boolean(d["all_passed"])
	case "RecallExecuted":
		want.LatencyMs = u64(sub(d, "provenance")["latency_ms"])
	case "BackendInvoked":
		want.Step = str(d["step"])
		want.Backend = str(d["backend_name"])
	case "OutcomeRecorded":
		want.Step = str(d["step"])
		want.Passed = boolean(d["passed"])
		if sr := d["stop_reason"]; sr != nil && string(sr) != "null" {
			var s string
			if json.Unmarshal(sr, &s) == nil { // unit variant
				want.StopReason = &s
			} else {
				var m map[string]json.RawMessage
				if err := json.Unmarshal(sr, &m); err != nil || len(m) != 1 {
					t.Fatalf("stop_reason %s", sr)
				}
				for k := range m {
					want.StopReason = ptr(k)
				}
			}
		}
		want.LatencyMs = u64(d["latency_ms"])
		want.Tokens = u64(d["tokens"])
		want.CostMicrodollars = u64(d["cost_microdollars"])
		want.Backend = str(d["backend"])
	case "BudgetExceeded":
		res := d["resource"]
		var s string
		if json.Unmarshal(res, &s) == nil {
			want.BudgetResource = &s
		} else {
			want.BudgetResource = ptr("Other")
		}
		num := func(s *string) *float64 {
			if s == nil {
				return nil
			}
			// The test's own notion of "a number": a JSON number that
			// encoding/json accepts and that is finite.
			var f float64
			if v := *s; v == "" || strings.TrimSpace(v) != v || v[0] == 'n' || json.Unmarshal([]byte(v), &f) != nil {
				return nil
			}
			return &f
		}
		want.BudgetLimit = num(str(d["limit"]))
		want.BudgetObserved = num(str(d["observed"]))
	case "HypothesisResolved":
		want.Confidence = f64(d["confidence"])
	}
	return want
}

// TestExportReadBack exports 10k generated events plus edge cases, reads
// the file back with the Parquet library and compares every column of
// every row with the ledger's events.
func TestExportReadBack(t *testing.T) {
	l, envs := newLedger(t, 10_000)
	// Small row groups so the file has several, with a byte cap the 64 KB
	// payloads reach.
	b := export(t, l, ledger.EventQuery{}, ledgerparquet.Options{RowGroupRows: 3000, RowGroupBytes: 4 << 20})
	rows := readRows(t, b)
	if len(rows) != len(envs) {
		t.Fatalf("%d rows, want %d", len(rows), len(envs))
	}
	kinds := map[string]int{}
	big, nulls := 0, map[string]int{}
	for i := range envs {
		want := expectedRow(t, i+1, &envs[i])
		if got := rows[i]; !rowsEqual(got, want) {
			t.Fatalf("row %d:\n got %s\nwant %s", i, dump(got), dump(want))
		}
		// event_json decodes back to the very event.
		env2 := envs[i]
		env2.Event = nil
		line, _ := ledger.MarshalEnvelopeJSON(ledger.ExperienceEventEnvelope{EventID: "x", OccurredAt: "t", Event: envs[i].Event})
		if !strings.HasSuffix(string(line), `"event":`+rows[i].EventJSON+`}`) {
			t.Fatalf("row %d: event_json is not the JSONL event member", i)
		}
		kinds[rows[i].Kind]++
		if len(rows[i].EventJSON) > 60<<10 {
			big++
		}
		if rows[i].TenantID == nil {
			nulls["tenant_id"]++
		}
		if rows[i].CorrelationID == nil {
			nulls["correlation_id"]++
		}
		if rows[i].OccurredAt == nil {
			nulls["occurred_at"]++
		}
		if rows[i].Kind == "OutcomeRecorded" && rows[i].LatencyMs == nil {
			nulls["latency_ms"]++
		}
	}
	// The input covers what the test claims to cover.
	if len(kinds) != len(ledger.AllKinds) {
		t.Errorf("kinds covered: %v", kinds)
	}
	if big < 20 {
		t.Errorf("only %d events with 64 KB payloads", big)
	}
	for _, c := range []string{"tenant_id", "correlation_id", "occurred_at", "latency_ms"} {
		if nulls[c] == 0 {
			t.Errorf("no null %s in the input", c)
		}
	}

	// File layout: several row groups, zstd, dictionary-encoded kind,
	// TIMESTAMP(µs, UTC) occurred_at, rows declared sorted by seq.
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	md := f.Metadata()
	if len(md.RowGroups) < 4 {
		t.Errorf("%d row groups, want several", len(md.RowGroups))
	}
	for gi, rg := range md.RowGroups {
		if len(rg.SortingColumns) != 1 || rg.SortingColumns[0].ColumnIdx != 0 || rg.SortingColumns[0].Descending {
			t.Errorf("row group %d sorting columns %+v", gi, rg.SortingColumns)
		}
		for _, c := range rg.Columns {
			if c.MetaData.Codec != format.Zstd {
				t.Errorf("column %v codec %v", c.MetaData.PathInSchema, c.MetaData.Codec)
			}
			if c.MetaData.PathInSchema[0] == "kind" && !slices.Contains(c.MetaData.Encoding, format.RLEDictionary) {
				t.Errorf("kind encodings %v", c.MetaData.Encoding)
			}
			// Bounds for pruning on the columns engines filter by; none
			// on event_json (JSON text's min/max prune nothing).
			st := c.MetaData.Statistics
			switch name := c.MetaData.PathInSchema[0]; name {
			case "seq", "event_id", "occurred_at", "occurred_at_raw", "kind":
				if len(st.MinValue) == 0 || len(st.MaxValue) == 0 {
					t.Errorf("row group %d: %s has no min/max statistics", gi, name)
				}
			case "event_json":
				if st.MinValue != nil || st.MaxValue != nil {
					t.Errorf("row group %d: event_json has min/max statistics", gi)
				}
			}
		}
	}
	ts, ok := f.Schema().Lookup("occurred_at")
	if !ok {
		t.Fatal("no occurred_at column")
	}
	lt := ts.Node.Type().LogicalType()
	if lt == nil || !ts.Node.Optional() {
		t.Fatalf("occurred_at logical type %v", lt)
	}
	if tt, ok := lt.Value.(*format.TimestampType); !ok || !tt.IsAdjustedToUTC || lt.String() != "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)" {
		t.Errorf("occurred_at logical type %v", lt)
	}
}

// TestExportDeterministic: the same ledger and query give the same bytes,
// and a filtered export holds exactly the matching events.
func TestExportDeterministic(t *testing.T) {
	l, envs := newLedger(t, 3000)
	a := export(t, l, ledger.EventQuery{}, ledgerparquet.Options{})
	b := export(t, l, ledger.EventQuery{}, ledgerparquet.Options{})
	if !bytes.Equal(a, b) {
		t.Fatal("two exports of the same ledger differ")
	}
	// Neither the number of row groups encoded at once nor the scheduling
	// changes a byte.
	small := export(t, l, ledger.EventQuery{}, ledgerparquet.Options{RowGroupRows: 500, Parallelism: 1})
	if len(readRows(t, small)) != len(envs) {
		t.Fatal("row count")
	}
	for _, par := range []int{2, 3, 8} {
		if got := export(t, l, ledger.EventQuery{}, ledgerparquet.Options{RowGroupRows: 500, Parallelism: par}); !bytes.Equal(got, small) {
			t.Fatalf("parallelism %d changes the output", par)
		}
	}
	tenant := *envs[0].TenantID
	for envs[0].TenantID == nil {
		t.Fatal("first generated event has no tenant")
	}
	q := ledger.EventQuery{TenantID: &tenant, Kinds: []ledger.ExperienceEventKind{ledger.KindOutcomeRecorded, ledger.KindProposalCreated}}
	fa := export(t, l, q, ledgerparquet.Options{})
	fb := export(t, l, q, ledgerparquet.Options{})
	if !bytes.Equal(fa, fb) {
		t.Fatal("two filtered exports differ")
	}
	var want []int64
	for i, e := range envs {
		if e.TenantID != nil && *e.TenantID == tenant && (e.Kind() == ledger.KindOutcomeRecorded || e.Kind() == ledger.KindProposalCreated) {
			want = append(want, int64(i+1))
		}
	}
	var got []int64
	for _, r := range readRows(t, fa) {
		got = append(got, r.Seq)
	}
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("filtered export seqs %v, want %v", got, want)
	}
}

// TestExportEmpty: an export matching nothing is a valid file of 0 rows.
func TestExportEmpty(t *testing.T) {
	l, _ := newLedger(t, 10)
	none := ledger.TenantID("no-such-tenant")
	b := export(t, l, ledger.EventQuery{TenantID: &none}, ledgerparquet.Options{})
	if rows := readRows(t, b); len(rows) != 0 {
		t.Fatalf("%d rows", len(rows))
	}
}

// TestExportProgressAndCancel: Progress sees the running count; a
// cancelled context stops the export with the context's error.
func TestExportProgressAndCancel(t *testing.T) {
	l, envs := newLedger(t, 5000)
	var seen []uint64
	n, err := ledgerparquet.Export(context.Background(), l, ledger.EventQuery{}, io.Discard, ledgerparquet.Options{Progress: func(n uint64) { seen = append(seen, n) }})
	if err != nil || n != uint64(len(envs)) {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if len(seen) < 2 || !slices.IsSorted(seen) || seen[len(seen)-1] != n {
		t.Fatalf("progress calls %v", seen)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err = ledgerparquet.Export(ctx, l, ledger.EventQuery{}, io.Discard, ledgerparquet.Options{Progress: func(n uint64) {
		if n >= 2048 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestExportWriteError: a failing writer is reported, not ignored.
func TestExportWriteError(t *testing.T) {
	l, _ := newLedger(t, 3000)
	boom := errors.New("disk full")
	_, err := ledgerparquet.Export(context.Background(), l, ledger.EventQuery{}, failWriter{boom}, ledgerparquet.Options{})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func rowsEqual(a, b ledgerparquet.Row) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func dump(r ledgerparquet.Row) string {
	r.EventJSON = r.EventJSON[:min(len(r.EventJSON), 200)]
	b, _ := json.Marshal(r)
	return string(b)
}

// TestExportCompressions: every codec ParseCompression names writes a
// file whose column chunks carry that codec and whose rows are exactly
// the default (zstd) export's rows; unknown names are errors.
func TestExportCompressions(t *testing.T) {
	l, envs := newLedger(t, 2000)
	want := readRows(t, export(t, l, ledger.EventQuery{}, ledgerparquet.Options{RowGroupRows: 700}))
	if len(want) != len(envs) {
		t.Fatalf("%d rows, want %d", len(want), len(envs))
	}
	codecs := map[string]format.CompressionCodec{"": format.Zstd, "zstd": format.Zstd, "snappy": format.Snappy, "none": format.Uncompressed}
	sizes := map[string]int{}
	for name, wantCodec := range codecs {
		c, err := ledgerparquet.ParseCompression(name)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		b := export(t, l, ledger.EventQuery{}, ledgerparquet.Options{RowGroupRows: 700, Compression: c})
		sizes[name] = len(b)
		f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		for _, rg := range f.Metadata().RowGroups {
			for _, col := range rg.Columns {
				if col.MetaData.Codec != wantCodec {
					t.Fatalf("%q: column %v codec %v, want %v", name, col.MetaData.PathInSchema, col.MetaData.Codec, wantCodec)
				}
			}
		}
		got := readRows(t, b)
		if len(got) != len(want) {
			t.Fatalf("%q: %d rows, want %d", name, len(got), len(want))
		}
		for i := range got {
			if !rowsEqual(got[i], want[i]) {
				t.Fatalf("%q: row %d:\n got %s\nwant %s", name, i, dump(got[i]), dump(want[i]))
			}
		}
	}
	if !(sizes["zstd"] < sizes["snappy"] && sizes["snappy"] < sizes["none"]) {
		t.Errorf("file sizes %v: zstd should be smallest, none largest", sizes)
	}
	if slices.Compare(ledgerparquet.Compressions, []string{"zstd", "snappy", "none"}) != 0 {
		t.Errorf("Compressions %v", ledgerparquet.Compressions)
	}
	for _, bad := range []string{"ZSTD", "gzip", "brotli", "lz4"} {
		if _, err := ledgerparquet.ParseCompression(bad); err == nil {
			t.Errorf("ParseCompression(%q) accepted", bad)
		}
	}
}
