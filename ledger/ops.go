package ledger

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/exledger/exledger/index"
	"github.com/exledger/exledger/internal/hist"
)

// This file holds the ledger's operational instrumentation: the
// histograms and counters behind the extended Metrics, and the optional
// Tracer hook. Everything on a hot path is an atomic add into a
// fixed-bucket histogram (package internal/hist) or a nil check.

// Histogram is a snapshot of a fixed-bucket histogram of Metrics.
type Histogram struct {
	// Bounds are the inclusive upper bounds of the buckets, strictly
	// increasing: seconds for durations, items for sizes.
	Bounds []float64
	// Counts are per bucket (not cumulative): Counts[i] observations were
	// in (Bounds[i-1], Bounds[i]]; len(Counts) == len(Bounds)+1, the last
	// one counting observations above every bound.
	Counts []uint64
	Count  uint64  // number of observations (the sum of Counts)
	Sum    float64 // sum of the observed values
}

func histOf(s hist.Snapshot, scale float64) Histogram {
	h := Histogram{Bounds: make([]float64, len(s.Bounds)), Counts: s.Counts, Count: s.Count, Sum: float64(s.Sum) * scale}
	for i, b := range s.Bounds {
		h.Bounds[i] = float64(b) * scale
	}
	return h
}

func durHist(h *hist.Histogram) Histogram { return histOf(h.Snapshot(), 1e-9) }

// DiskBytes is the on-disk size of a ledger by kind of file.
type DiskBytes struct {
	Segments int64 // sealed segment files (.seg)
	Indexes  int64 // segment index files (.idx)
	WAL      int64 // write-ahead log files, including a pre-created one and those kept for reuse
	Manifest int64 // the MANIFEST file
}

// Query plans, the keys of Metrics.QueryLatency and the "plan" of a query
// span.
const (
	// PlanIndex: the query has index terms (tenant, kind, correlation,
	// chain); candidates come from the posting lists.
	PlanIndex = "index"
	// PlanTime: only a time range; candidates come from the time index.
	PlanTime = "time"
	// PlanScan: no filter; every event is read.
	PlanScan = "scan"
	// PlanEmpty: the query can match nothing (limit 0, inverted range).
	PlanEmpty = "empty"
	// PlanEventID: Get, a lookup by event id.
	PlanEventID = "event_id"
	// PlanTraceLink: GetTraceLink.
	PlanTraceLink = "trace_link"
	// PlanSimilar: SearchSimilar, a vector search.
	PlanSimilar = "similar"
)

// QueryPlans lists every plan, in a fixed order.
var QueryPlans = []string{PlanIndex, PlanTime, PlanScan, PlanEmpty, PlanEventID, PlanTraceLink, PlanSimilar}

// planOf is the QueryPlans index of an index query (ok false: matches
// nothing).
func planOf(iq *index.Query, ok bool) int {
	switch {
	case !ok:
		return 3
	case len(iq.All) > 0:
		return 0
	case iq.Start != nil || iq.End != nil:
		return 1
	}
	return 2
}

// Indexes of the point lookups in QueryPlans.
const (
	planEventID   = 4
	planTraceLink = 5
	planSimilar   = 6
)

// opsMetrics are the histograms and counters added to Metrics for
// operations (Prometheus, dashboards). Every field is safe for concurrent
// use.
type opsMetrics struct {
	appendLat, appendBatch *hist.Histogram
	appendErrors           atomic.Uint64
	sealDur                *hist.Histogram
	compactDur             *hist.Histogram
	compactions            atomic.Uint64
	query                  [7]*hist.Histogram // by QueryPlans index
	segsSkipped, segsRead  atomic.Uint64
	indexRebuilds          atomic.Uint64
}

func (m *opsMetrics) init() {
	m.appendLat = hist.New(hist.DurationBounds)
	m.appendBatch = hist.New(hist.CountBounds)
	m.sealDur = hist.New(hist.DurationBounds)
	m.compactDur = hist.New(hist.DurationBounds)
	for i := range m.query {
		m.query[i] = hist.New(hist.DurationBounds)
	}
}

// Tracer receives a span for each append, query, seal and compaction of a
// Ledger (Options.Tracer). Package ledger/ledgerotel adapts an
// OpenTelemetry TracerProvider; any other tracing system can implement
// it. With no Tracer set, the ledger makes no call and no allocation for
// tracing.
type Tracer interface {
	// Start begins a span named op (one of the Span* constants) as a
	// child of ctx's span, if any. Seals run in the background and get
	// context.Background().
	Start(ctx context.Context, op string) (context.Context, Span)
}

// Span is one traced operation. Attributes are set before End.
type Span interface {
	SetInt(key string, v int64)
	SetString(key string, v string)
	// End finishes the span; err is the operation's error (nil on
	// success).
	End(err error)
}

// Span names and attribute keys used by the ledger.
const (
	SpanAppend  = "exledger.append"
	SpanQuery   = "exledger.query"
	SpanSeal    = "exledger.seal"
	SpanCompact = "exledger.compact"

	AttrEvents          = "exledger.events"           // events appended, sealed or rewritten
	AttrBytes           = "exledger.bytes"            // canonical bytes appended; segment file bytes sealed
	AttrCommitWaitUS    = "exledger.commit_wait_us"   // append: time in the WAL commit (queue, write, fdatasync), µs
	AttrPlan            = "exledger.plan"             // query: one of QueryPlans
	AttrSegmentsSkipped = "exledger.segments_skipped" // query: segments excluded by their summary
	AttrSegmentsRead    = "exledger.segments_read"    // query: segments whose index was evaluated
	AttrResults         = "exledger.results"          // query: events returned
	AttrSegment         = "exledger.segment"          // seal: the new segment's name
	AttrSegmentsBefore  = "exledger.segments_before"  // compact
	AttrSegmentsAfter   = "exledger.segments_after"   // compact
)

// appendObserved is AppendEvents with metrics and, if a Tracer is set, a
// span.
func (l *Ledger) appendObserved(ctx context.Context, es []ExperienceEventEnvelope, vecs [][]float32) error {
	start := time.Now()
	if l.tracer == nil {
		_, err := l.appendEvents(ctx, es, vecs, false)
		l.observeAppend(start, len(es), err)
		return err
	}
	ctx, sp := l.tracer.Start(ctx, SpanAppend)
	wait, err := l.appendEvents(ctx, es, vecs, true)
	l.observeAppend(start, len(es), err)
	sp.SetInt(AttrEvents, int64(len(es)))
	sp.SetInt(AttrCommitWaitUS, wait.Microseconds())
	sp.End(err)
	return err
}

func (l *Ledger) observeAppend(start time.Time, n int, err error) {
	if err != nil {
		l.ops.appendErrors.Add(1)
		return
	}
	l.ops.appendLat.ObserveSince(start)
	l.ops.appendBatch.Observe(int64(n))
}

// queryObs measures one query (scanFrom); done records it.
type queryObs struct {
	start   time.Time
	plan    int
	span    Span
	results int64
}

func (l *Ledger) startQuery(ctx context.Context, iq *index.Query, ok bool) (context.Context, *queryObs) {
	o := &queryObs{start: time.Now(), plan: planOf(iq, ok)}
	if l.tracer != nil {
		ctx, o.span = l.tracer.Start(ctx, SpanQuery)
	}
	return ctx, o
}

func (l *Ledger) doneQuery(o *queryObs, v *view, err error) {
	l.ops.query[o.plan].ObserveSince(o.start)
	var skipped, read int
	if v != nil {
		skipped, read = v.segsSkipped, v.segsRead
		l.ops.segsSkipped.Add(uint64(skipped))
		l.ops.segsRead.Add(uint64(read))
	}
	if o.span != nil {
		o.span.SetString(AttrPlan, QueryPlans[o.plan])
		o.span.SetInt(AttrSegmentsSkipped, int64(skipped))
		o.span.SetInt(AttrSegmentsRead, int64(read))
		o.span.SetInt(AttrResults, o.results)
		o.span.End(err)
	}
}

// observePoint records a point lookup (Get, GetTraceLink).
func (l *Ledger) observePoint(plan int, start time.Time) {
	l.ops.query[plan].ObserveSince(start)
}

// sealObserved seals m with metrics and a span.
func (l *Ledger) sealObserved(m *memtable) error {
	start := time.Now()
	var sp Span
	if l.tracer != nil {
		_, sp = l.tracer.Start(context.Background(), SpanSeal)
		sp.SetInt(AttrEvents, int64(len(m.recs)))
		sp.SetInt(AttrBytes, m.bytes)
	}
	err := l.sealOne(m)
	if err == nil {
		l.ops.sealDur.ObserveSince(start)
	}
	if sp != nil {
		if err == nil {
			l.mu.RLock()
			if k := len(l.live.segs); k > 0 {
				sp.SetString(AttrSegment, l.live.segs[k-1].name)
			}
			l.mu.RUnlock()
		}
		sp.End(err)
	}
	return err
}

// Compact merges adjacent small sealed segments, recompresses them and
// re-clusters their events, then rebuilds their indexes. It runs online:
// appends and queries continue while it works (only sealing waits). It is
// crash-safe: new files are written and fsynced, the manifest is switched
// atomically, and the old files are deleted last. The hash chain, and so
// every digest, is unchanged.
func (l *Ledger) Compact(ctx context.Context, o CompactOptions) (CompactReport, error) {
	start := time.Now()
	var sp Span
	if l.tracer != nil {
		ctx, sp = l.tracer.Start(ctx, SpanCompact)
	}
	rep, err := l.compact(ctx, o)
	if err == nil {
		l.ops.compactions.Add(1)
		l.ops.compactDur.ObserveSince(start)
	}
	if sp != nil {
		sp.SetInt(AttrSegmentsBefore, int64(rep.SegmentsBefore))
		sp.SetInt(AttrSegmentsAfter, int64(rep.SegmentsAfter))
		sp.SetInt(AttrEvents, int64(rep.EventsRewritten))
		sp.End(err)
	}
	return rep, err
}

// fillOpsMetrics adds the operational figures to m.
func (l *Ledger) fillOpsMetrics(m *Metrics, segs []*sealedSeg) {
	ws := l.wal.Stats()
	m.AppendLatency = durHist(l.ops.appendLat)
	m.AppendBatch = histOf(l.ops.appendBatch.Snapshot(), 1)
	m.AppendErrors = l.ops.appendErrors.Load()
	m.GroupCommits = histOf(ws.GroupCommits, 1)
	m.FsyncLatency = histOf(ws.SyncLatency, 1e-9)
	m.SealDuration = durHist(l.ops.sealDur)
	m.Compactions = l.ops.compactions.Load()
	m.CompactDuration = durHist(l.ops.compactDur)
	m.QueryLatency = make(map[string]Histogram, len(QueryPlans))
	for i, p := range QueryPlans {
		m.QueryLatency[p] = durHist(l.ops.query[i])
	}
	m.SegmentsSkipped = l.ops.segsSkipped.Load()
	m.SegmentsRead = l.ops.segsRead.Load()
	m.RecoveryTornBytes = ws.TornBytes
	m.RecoveryIndexRebuilds = l.ops.indexRebuilds.Load()
	m.Poisoned = ws.Poisoned
	l.mu.RLock()
	for _, mt := range l.frozen {
		m.MemEvents += uint64(len(mt.recs))
	}
	m.MemEvents += uint64(len(l.active.recs))
	l.mu.RUnlock()
	for _, s := range segs {
		m.DiskBytes.Segments += s.info.FileBytes
		m.DiskBytes.Indexes += s.ix.Size()
	}
	if n, err := l.fs.Stat(filepath.Join(l.dir, manifestName)); err == nil {
		m.DiskBytes.Manifest = n
	}
	wdir := filepath.Join(l.dir, walDirName)
	if names, err := l.fs.List(wdir); err == nil {
		for _, name := range names {
			if !strings.HasSuffix(name, ".wal") && !strings.HasSuffix(name, ".wal.free") {
				continue
			}
			if n, err := l.fs.Stat(filepath.Join(wdir, name)); err == nil {
				m.DiskBytes.WAL += n
			}
		}
	}
}
