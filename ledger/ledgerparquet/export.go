package ledgerparquet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/exledger/exledger/ledger"
)

// Row is one exported event: the Parquet schema of an export (column names
// are the parquet tags). Optional columns are nil where the event has no
// such field. Read a file back with parquet.NewGenericReader[Row].
type Row struct {
	// Seq is the event's position in the ledger's log (1-based).
	Seq int64 `parquet:"seq"`
	// EventID is the envelope's event_id.
	EventID string `parquet:"event_id"`
	// OccurredAt is occurred_at as a UTC timestamp in microseconds since
	// the Unix epoch, when occurred_at parses as RFC 3339 (sub-microsecond
	// digits truncated); nil otherwise.
	OccurredAt *int64 `parquet:"occurred_at,optional,timestamp(microsecond:utc)"`
	// OccurredAtRaw is occurred_at exactly as stored (the ledger's
	// contract compares timestamps byte-wise).
	OccurredAtRaw string `parquet:"occurred_at_raw"`
	// TenantID and CorrelationID are the envelope's optional ids.
	TenantID      *string `parquet:"tenant_id,optional,dict"`
	CorrelationID *string `parquet:"correlation_id,optional"`
	// Kind is the event's type tag (one of ledger.AllKinds).
	Kind string `parquet:"kind,dict"`
	// ChainID, TraceLinkID and ArtifactID are the ids the ledger's indexes
	// extract (ledger.ChainIDOf, TraceLinkIDOf, ArtifactIDOf).
	ChainID     *string `parquet:"chain_id,optional"`
	TraceLinkID *string `parquet:"trace_link_id,optional"`
	ArtifactID  *string `parquet:"artifact_id,optional"`
	// Step is the decision step of ProposalCreated, ProposalValidated,
	// BackendInvoked and OutcomeRecorded.
	Step *string `parquet:"step,optional,dict"`
	// Passed is OutcomeRecorded.passed and ProposalValidated.all_passed.
	Passed *bool `parquet:"passed,optional"`
	// StopReason is the kind of OutcomeRecorded.stop_reason.
	StopReason *string `parquet:"stop_reason,optional,dict"`
	// LatencyMs is OutcomeRecorded.latency_ms and
	// RecallExecuted.provenance.latency_ms.
	LatencyMs *uint64 `parquet:"latency_ms,optional"`
	// Tokens and CostMicrodollars are OutcomeRecorded's.
	Tokens           *uint64 `parquet:"tokens,optional"`
	CostMicrodollars *uint64 `parquet:"cost_microdollars,optional"`
	// Backend is OutcomeRecorded.backend and BackendInvoked.backend_name.
	Backend *string `parquet:"backend,optional,dict"`
	// BudgetResource is BudgetExceeded.resource's variant name (for Other,
	// the name it carries is in event_json).
	BudgetResource *string `parquet:"budget_resource,optional,dict"`
	// BudgetLimit and BudgetObserved are BudgetExceeded's limit and
	// observed strings as numbers, when they are decimal numbers (JSON
	// number syntax, finite as a float64); nil otherwise. The strings are
	// in event_json.
	BudgetLimit    *float64 `parquet:"budget_limit,optional"`
	BudgetObserved *float64 `parquet:"budget_observed,optional"`
	// Confidence is HypothesisResolved.confidence and
	// ProposalCreated.proposal.confidence.
	Confidence *float64 `parquet:"confidence,optional"`
	// EventJSON is the envelope's event object, {"type":…,"data":…}, as
	// Converge JSON: byte-identical to the "event" member of the JSON lines
	// export.
	EventJSON string `parquet:"event_json"`
}

// Options configure Export. The zero value writes row groups of up to
// 131072 rows or 64 MiB of values, zstd-compressed at its fastest level.
type Options struct {
	// Compression is the codec of every column. nil = zstd at level
	// SpeedFastest (about zstd -1): 5-7% larger files than zstd's default
	// level, at a fraction of the CPU.
	Compression compress.Codec
	// RowGroupRows caps the rows of one row group. 0 = 131072.
	RowGroupRows int
	// RowGroupBytes caps the approximate uncompressed bytes of values of
	// one row group; the writer buffers about this much (plus the
	// compressed pages). 0 = 64 MiB.
	RowGroupBytes int
	// Parallelism is the number of row groups encoded and compressed at
	// once (each holds up to a row group in memory). 0 = 2.
	Parallelism int
	// Progress, if set, is called from Export's goroutine with the number
	// of events handed to the encoders so far, after each batch of rows.
	Progress func(events uint64)
}

const (
	defaultRowGroupRows  = 128 << 10
	defaultRowGroupBytes = 64 << 20
	batchRows            = 1024
	defaultParallelism   = 2
	// rowOverhead approximates the bytes of a row's columns other than
	// event_id, occurred_at and event_json.
	rowOverhead = 128
)

// defaultCodec is shared by every export so its pool of zstd encoders
// (each with its history buffers) is reused.
var defaultCodec = &zstd.Codec{Level: zstd.SpeedFastest}

// createdBy names the writer in the file footer. It is fixed (not derived
// from build information) so the output is the same from every binary.
var createdBy = &parquet.WriterConfig{CreatedBy: "exledger ledgerparquet version 1"}

// Export writes the events matching q, in log order, to w as one Parquet
// file and returns the number of events written. It streams with bounded
// memory: one goroutine scans the ledger and builds rows; row groups are
// encoded and compressed by Options.Parallelism goroutines into memory
// (each holds one row group, compressed, until it is written) and written
// to w in order, their compressed pages copied verbatim. On error the
// output is incomplete (no footer) and must be discarded. A query limit
// (q.Limit) is honoured. The output depends only on the ledger, q and o.
func Export(ctx context.Context, l *ledger.Ledger, q ledger.EventQuery, w io.Writer, o Options) (n uint64, err error) {
	if o.RowGroupRows <= 0 {
		o.RowGroupRows = defaultRowGroupRows
	}
	if o.RowGroupBytes <= 0 {
		o.RowGroupBytes = defaultRowGroupBytes
	}
	if o.Parallelism <= 0 {
		o.Parallelism = defaultParallelism
	}
	if o.Compression == nil {
		o.Compression = defaultCodec
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	pw := newWriter(bw, o)
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	full := make(chan *batch, batchesInFlight)
	free := make(chan *batch, batchesInFlight+2*o.Parallelism)
	var scanErr error
	go func() {
		defer close(full)
		scanErr = produce(ctx, l, q, o, full, free)
	}()

	// Row groups in flight: encoding, or encoded and waiting for their
	// turn. The committer writes them in order and frees their slot.
	slots := make(chan struct{}, o.Parallelism)
	order := make(chan *groupJob, o.Parallelism)
	var commitErr error
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		for job := range order {
			res := <-job.done
			<-slots
			if commitErr != nil {
				continue
			}
			if res.err == nil {
				res.err = commitGroup(pw, res.file)
			}
			if res.err != nil {
				commitErr = res.err
				cancel()
				continue
			}
			n += res.rows
		}
	}()

	var job *groupJob
	var handed uint64
	var werr error
	for b := range full {
		if werr == nil {
			werr = parent.Err()
			if werr != nil {
				cancel()
			}
		}
		if werr != nil {
			recycle(b, free)
			continue
		}
		if job == nil {
			slots <- struct{}{}
			job = startGroup(o, free)
			order <- job
		}
		handed += uint64(len(b.rows))
		last := b.endGroup
		job.batches <- b
		if last {
			close(job.batches)
			job = nil
		}
		if o.Progress != nil {
			o.Progress(handed)
		}
	}
	if job != nil {
		close(job.batches)
	}
	close(order)
	<-committed
	switch {
	case werr != nil:
		return n, werr
	case commitErr != nil:
		return n, fmt.Errorf("parquet export: %w", commitErr)
	case scanErr != nil:
		return n, scanErr
	}
	if err := pw.Close(); err != nil {
		return n, fmt.Errorf("parquet export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("parquet export: %w", err)
	}
	return n, nil
}

// newWriter returns a Parquet writer of Rows to w configured by o. The
// row-group writers and the file writer share this configuration, which
// lets the file writer copy the row groups' compressed pages verbatim.
func newWriter(w io.Writer, o Options) *parquet.GenericWriter[Row] {
	return parquet.NewGenericWriter[Row](w,
		createdBy,
		parquet.Compression(o.Compression),
		parquet.MaxRowsPerRowGroup(int64(o.RowGroupRows)),
		parquet.SortingWriterConfig(parquet.SortingColumns(parquet.Ascending("seq"))),
		parquet.PageBufferSize(1<<20),
		parquet.SkipPageStatistics("event_json"),
	)
}

// groupJob is one row group being encoded by its own goroutine.
type groupJob struct {
	batches chan *batch
	done    chan groupResult
}

type groupResult struct {
	file []byte // a complete Parquet file holding the one row group
	rows uint64
	err  error
}

// startGroup starts a goroutine that encodes the batches sent on the
// job's channel into an in-memory Parquet file of one row group.
func startGroup(o Options, free chan<- *batch) *groupJob {
	job := &groupJob{batches: make(chan *batch, 2), done: make(chan groupResult, 1)}
	go func() {
		var buf bytes.Buffer
		gw := newWriter(&buf, o)
		var res groupResult
		for b := range job.batches {
			if res.err == nil {
				_, res.err = gw.Write(b.rows)
				res.rows += uint64(len(b.rows))
			}
			recycle(b, free)
		}
		if res.err == nil {
			res.err = gw.Close()
		}
		res.file = buf.Bytes()
		job.done <- res
	}()
	return job
}

// commitGroup appends the row group of the Parquet file f to pw.
func commitGroup(pw *parquet.GenericWriter[Row], f []byte) error {
	pf, err := parquet.OpenFile(bytes.NewReader(f), int64(len(f)))
	if err != nil {
		return err
	}
	for _, rg := range pf.RowGroups() {
		if _, err := pw.WriteRowGroup(rg); err != nil {
			return err
		}
	}
	return nil
}

func recycle(b *batch, free chan<- *batch) {
	b.reset()
	select {
	case free <- b:
	default:
	}
}

const (
	// batchesInFlight bounds the batches queued between the goroutines.
	batchesInFlight = 4
	// batchBytes cuts a batch early when its event_json reaches this size
	// (so 64 KB payloads do not make batches of 64 MiB).
	batchBytes = 4 << 20
)

// batch is a run of rows handed from the scanning goroutine to the
// writing one. The event_json strings of a batch share one allocation.
type batch struct {
	rows     []Row
	scratch  []rowScratch // scratch[i] for rows[i]; len batchRows
	json     []byte       // event_json of rows[i] is json[ends[i-1]:ends[i]]
	ends     []int
	endGroup bool // the row group ends after this batch
}

// seal points the rows' EventJSON at their bytes.
func (b *batch) seal() {
	all := string(b.json)
	start := 0
	for i, end := range b.ends {
		b.rows[i].EventJSON = all[start:end]
		start = end
	}
}

func (b *batch) reset() {
	clear(b.rows)
	b.rows, b.ends, b.json, b.endGroup = b.rows[:0], b.ends[:0], b.json[:0], false
}

// produce scans the ledger, builds rows (event_json included) and sends
// them in batches on full, marking row-group ends at o.RowGroupRows rows
// or o.RowGroupBytes value bytes. It returns the scan's error, or ctx's
// when the consumer cancelled.
func produce(ctx context.Context, l *ledger.Ledger, q ledger.EventQuery, o Options, full chan<- *batch, free <-chan *batch) error {
	get := func() *batch {
		select {
		case b := <-free:
			return b
		default:
			return &batch{rows: make([]Row, 0, batchRows), scratch: make([]rowScratch, batchRows), ends: make([]int, 0, batchRows)}
		}
	}
	send := func(b *batch) error {
		b.seal()
		select {
		case full <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	cur := get()
	groupRows, groupBytes := 0, 0
	for se, err := range l.ScanSeq(ctx, q, 1) {
		if err != nil {
			return err
		}
		env := &se.Envelope
		start := len(cur.json)
		cur.json, err = ledger.AppendEventJSON(cur.json, env.Event)
		if err != nil {
			return fmt.Errorf("parquet export: event %s: %w", env.EventID, err)
		}
		cur.ends = append(cur.ends, len(cur.json))
		cur.rows = append(cur.rows, Row{})
		i := len(cur.rows) - 1
		fillRow(&cur.rows[i], &cur.scratch[i], se.Seq, env)
		groupRows++
		groupBytes += rowOverhead + len(env.EventID) + 2*len(env.OccurredAt) + len(cur.json) - start
		if groupRows >= o.RowGroupRows || groupBytes >= o.RowGroupBytes {
			cur.endGroup = true
			groupRows, groupBytes = 0, 0
		}
		if cur.endGroup || len(cur.rows) == batchRows || len(cur.json) >= batchBytes {
			if err := send(cur); err != nil {
				return err
			}
			cur = get()
		}
	}
	if len(cur.rows) > 0 {
		return send(cur)
	}
	return nil
}

// rowScratch holds the values of a row's optional columns that are not
// fields of the event (so that Row's pointers need no allocation).
type rowScratch struct {
	occurredAt                  int64
	confidence, limit, observed float64
}

// fillRow sets every column of r but EventJSON from the envelope. The
// optional columns point into the event or into sc, without allocating.
func fillRow(r *Row, sc *rowScratch, seq uint64, env *ledger.ExperienceEventEnvelope) {
	r.Seq = int64(seq)
	r.EventID = string(env.EventID)
	r.OccurredAtRaw = string(env.OccurredAt)
	if us, ok := parseTimestamp(string(env.OccurredAt)); ok {
		sc.occurredAt = us
		r.OccurredAt = &sc.occurredAt
	}
	r.TenantID = (*string)(env.TenantID)
	r.CorrelationID = (*string)(env.CorrelationID)
	r.Kind = string(env.Kind())
	number := func(s string, dst *float64) *float64 {
		if f, ok := parseNumber(s); ok {
			*dst = f
			return dst
		}
		return nil
	}
	// The ids are those ledger.ChainIDOf, TraceLinkIDOf and ArtifactIDOf
	// extract (export_test.go checks the columns against them).
	switch e := env.Event.(type) {
	case *ledger.ProposalCreated:
		r.ChainID = (*string)(&e.ChainID)
		r.Step = (*string)(&e.Step)
		if e.Proposal.Confidence != nil {
			sc.confidence = float64(*e.Proposal.Confidence)
			r.Confidence = &sc.confidence
		}
	case *ledger.ProposalValidated:
		r.ChainID = (*string)(&e.ChainID)
		r.Step = (*string)(&e.Step)
		r.Passed = &e.AllPassed
	case *ledger.RecallExecuted:
		r.TraceLinkID = (*string)(e.TraceLinkID)
		r.LatencyMs = &e.Provenance.LatencyMs
	case *ledger.ReplayTraceRecorded:
		r.TraceLinkID = (*string)(&e.TraceLinkID)
	case *ledger.ReplayabilityDowngraded:
		r.TraceLinkID = (*string)(&e.TraceLinkID)
	case *ledger.ArtifactStateTransitioned:
		r.ArtifactID = (*string)(&e.ArtifactID)
	case *ledger.ArtifactRollbackRecorded:
		r.ArtifactID = &e.Rollback.ArtifactID
	case *ledger.BackendInvoked:
		r.TraceLinkID = (*string)(&e.TraceLinkID)
		r.Step = (*string)(&e.Step)
		r.Backend = (*string)(&e.BackendName)
	case *ledger.OutcomeRecorded:
		r.ChainID = (*string)(&e.ChainID)
		r.Step = (*string)(&e.Step)
		r.Passed = &e.Passed
		if e.StopReason != nil {
			r.StopReason = (*string)(&e.StopReason.Kind)
		}
		r.LatencyMs = e.LatencyMs
		r.Tokens = e.Tokens
		r.CostMicrodollars = e.CostMicrodollars
		r.Backend = (*string)(e.Backend)
	case *ledger.BudgetExceeded:
		r.ChainID = (*string)(&e.ChainID)
		r.BudgetResource = (*string)(&e.Resource.Kind)
		r.BudgetLimit = number(e.Limit, &sc.limit)
		if e.Observed != nil {
			r.BudgetObserved = number(*e.Observed, &sc.observed)
		}
	case *ledger.HypothesisResolved:
		r.ChainID = (*string)(&e.ChainID)
		r.Confidence = &e.Confidence
	}
}

// parseTimestamp returns s as microseconds since the Unix epoch (UTC) when
// it is an RFC 3339 timestamp, else nil.
func parseTimestamp(s string) (int64, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, false
	}
	return t.UnixMicro(), true
}

// parseNumber returns s as a float64 when it is a decimal number in JSON
// number syntax whose value is finite as a float64, else nil. ("NaN",
// "inf", hex floats, "1_000" and " 5" are not numbers here.)
func parseNumber(s string) (float64, bool) {
	if !isJSONNumber(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, !math.IsInf(f, 0)
}

// isJSONNumber reports whether s matches JSON's number grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isJSONNumber(s string) bool {
	i := 0
	digits := func() int {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - j
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}
