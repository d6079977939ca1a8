package ledgerotel_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgerotel"
	"github.com/exledger/exledger/workload"
)

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	l, err := ledger.Open(t.TempDir(), &ledger.Options{Sync: ledger.SyncNever, Tracer: ledgerotel.New(tp)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	g := workload.New(workload.Config{Seed: 3, OutlierRate: -1})

	// A parent span: the append span must be its child.
	ctx, parent := tp.Tracer("test").Start(context.Background(), "parent")
	if err := l.AppendEvents(ctx, g.Batch(7)); err != nil {
		t.Fatal(err)
	}
	parent.End()
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendEvents(context.Background(), g.Batch(3)); err != nil {
		t.Fatal(err)
	}
	ten := g.Tenants()[0]
	res, err := l.QueryEvents(context.Background(), ledger.EventQuery{TenantID: &ten})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Compact(context.Background(), ledger.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	// A failing append (invalid event) ends its span with an error.
	bad := g.Next()
	bad.EventID = ""
	if err := l.AppendEvent(context.Background(), bad); err == nil {
		t.Fatal("invalid event accepted")
	}

	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	if n := len(byName[ledger.SpanAppend]); n != 3 {
		t.Fatalf("%d append spans, want 3", n)
	}
	a := byName[ledger.SpanAppend][0]
	if a.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Error("append span is not a child of the caller's span")
	}
	if got := attrs(a)[ledger.AttrEvents].AsInt64(); got != 7 {
		t.Errorf("append events attribute %d, want 7", got)
	}
	if _, ok := attrs(a)[ledger.AttrCommitWaitUS]; !ok {
		t.Error("append span without commit wait")
	}
	if st := byName[ledger.SpanAppend][2].Status(); st.Code != codes.Error {
		t.Errorf("failed append span status %v", st)
	}
	if n := len(byName[ledger.SpanSeal]); n != 1 {
		t.Fatalf("%d seal spans, want 1", n)
	}
	sa := attrs(byName[ledger.SpanSeal][0])
	if sa[ledger.AttrEvents].AsInt64() != 7 || sa[ledger.AttrSegment].AsString() == "" {
		t.Errorf("seal span attributes %v", sa)
	}
	q := byName[ledger.SpanQuery]
	if len(q) != 1 {
		t.Fatalf("%d query spans, want 1", len(q))
	}
	qa := attrs(q[0])
	if qa[ledger.AttrPlan].AsString() != ledger.PlanIndex || qa[ledger.AttrResults].AsInt64() != int64(len(res)) {
		t.Errorf("query span attributes %v (results %d)", qa, len(res))
	}
	if qa[ledger.AttrSegmentsSkipped].AsInt64()+qa[ledger.AttrSegmentsRead].AsInt64() != 1 {
		t.Errorf("query span: skipped+read = %d segments, want 1", qa[ledger.AttrSegmentsSkipped].AsInt64()+qa[ledger.AttrSegmentsRead].AsInt64())
	}
	c := byName[ledger.SpanCompact]
	if len(c) != 1 || attrs(c[0])[ledger.AttrSegmentsBefore].AsInt64() != 1 {
		t.Errorf("compact spans %v", c)
	}
}
