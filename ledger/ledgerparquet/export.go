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
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/format"

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
	// compressed pages). 0 = 64 MiB (16 MiB in ExportPartitioned, where
	// every open file buffers a row group); a quarter of that when
	// Compression writes uncompressed pages.
	RowGroupBytes int
	// Parallelism is the number of row groups encoded and compressed at
	// once (each holds up to a row group in memory). 0 = 2.
	Parallelism int
	// MaxOpenPartitions bounds the files ExportPartitioned has open at
	// once (each buffers up to a row group). 0 = 32. Export ignores it.
	MaxOpenPartitions int
	// Progress, if set, is called from Export's goroutine with the number
	// of events handed to the encoders so far, after each batch of rows
	// (ExportPartitioned: from its goroutine, every 1024 events).
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

// groupBytes is the default row group cap for codec: def, or a quarter of
// it for uncompressed pages, which a row group in memory holds as they are
// (zstd's are ~8x smaller): 64 MiB row groups of uncompressed pages took
// the 1M-event export's peak RSS from 366 to 657 MiB.
func groupBytes(codec compress.Codec, def int) int {
	if codec.CompressionCodec() == format.Uncompressed {
		return def / 4
	}
	return def
}

// defaultCodec is shared by every export so its pool of zstd encoders
// (each with its history buffers) is reused.
var defaultCodec = &zstd.Codec{Level: zstd.SpeedFastest}

// createdBy names the writer in the file footer. It is fixed (not derived
// from build information) so the output is the same from every binary.
var createdBy = &parquet.WriterConfig{CreatedBy: "exledger ledgerparquet version 1"}

// Export writes the events matching q, in log order, to w as one Parquet
// file and returns the number of events written. It streams with bounded
// memory in three stages: the ledger's scan reads, decompresses and
// decodes segments on several goroutines, which also turn each event into
// its row (event_json included; see ledger.ScanMap); the calling goroutine
// collects the rows in log order and cuts them into row groups; each row
// group is encoded and compressed by its own goroutine, Options.Parallelism
// of them at once, into memory, and the finished row groups are written to
// w in order, their compressed pages copied verbatim. On error the output
// is incomplete (no footer) and must be discarded. A query limit (q.Limit)
// is honoured. The output depends only on the ledger, q and o's row group
// sizes and compression, not on the parallelism.
func Export(ctx context.Context, l *ledger.Ledger, q ledger.EventQuery, w io.Writer, o Options) (n uint64, err error) {
	if o.RowGroupRows <= 0 {
		o.RowGroupRows = defaultRowGroupRows
	}
	if o.Parallelism <= 0 {
		o.Parallelism = defaultParallelism
	}
	if o.Compression == nil {
		o.Compression = defaultCodec
	}
	if o.RowGroupBytes <= 0 {
		o.RowGroupBytes = groupBytes(o.Compression, defaultRowGroupBytes)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	pw := newWriter(bw, o, pageBytes)
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Row groups in flight: being encoded, or encoded and waiting for
	// their turn. The committer writes them in order and frees their slot.
	slots := make(chan struct{}, o.Parallelism)
	order := make(chan *groupJob, o.Parallelism)
	// tokens bounds the batches handed to row groups and not yet encoded.
	tokens := make(chan struct{}, queuedBatches)
	free := make(chan *batch, queuedBatches+o.Parallelism)
	pool := make(chan *groupEncoder, o.Parallelism)
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
				res.err = commitGroup(pw, res.enc.buf.Bytes())
			}
			select {
			case pool <- res.enc:
			default:
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
	var scanErr error
	// hand gives b to the current row group's goroutine, starting one if
	// none is open; false when the export was cancelled meanwhile.
	hand := func(b *batch) bool {
		if job == nil {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return false
			}
			job = startGroup(o, tokens, free, pool)
			order <- job // cannot block: a slot is held
		}
		select {
		case tokens <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		handed += uint64(len(b.rows))
		end := b.endGroup
		job.batches <- b // cannot block: the token bounds the queue
		if end {
			close(job.batches)
			job = nil
		}
		if o.Progress != nil {
			o.Progress(handed)
		}
		return true
	}
	cur := getBatch(free)
	groupRows, groupBytes, batchJSON := 0, 0, 0
	for r, err := range ledger.ScanMap(ctx, l, q, 1, mapRow) {
		if err != nil {
			scanErr = err
			break
		}
		it := &r.V
		if it.err != nil {
			scanErr = fmt.Errorf("parquet export: event %s: %w", it.row.EventID, it.err)
			break
		}
		i := len(cur.rows)
		cur.rows = append(cur.rows, it.row)
		cur.scratch[i] = it.sc
		pointRow(&cur.rows[i], &cur.scratch[i], r.Seq)
		groupRows++
		groupBytes += rowOverhead + len(it.row.EventID) + 2*len(it.row.OccurredAtRaw) + len(it.row.EventJSON)
		batchJSON += len(it.row.EventJSON)
		if groupRows >= o.RowGroupRows || groupBytes >= o.RowGroupBytes {
			cur.endGroup = true
			groupRows, groupBytes = 0, 0
		}
		if cur.endGroup || len(cur.rows) == batchRows || batchJSON >= batchBytes {
			if !hand(cur) {
				break
			}
			cur, batchJSON = getBatch(free), 0
		}
	}
	if len(cur.rows) > 0 && scanErr == nil && ctx.Err() == nil {
		hand(cur)
	}
	if job != nil {
		close(job.batches)
	}
	close(order)
	<-committed
	switch {
	case parent.Err() != nil:
		return n, parent.Err()
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
func newWriter(w io.Writer, o Options, pageBytes int) *parquet.GenericWriter[Row] {
	return parquet.NewGenericWriter[Row](w,
		createdBy,
		parquet.Compression(o.Compression),
		parquet.MaxRowsPerRowGroup(int64(o.RowGroupRows)),
		parquet.SortingWriterConfig(parquet.SortingColumns(parquet.Ascending("seq"))),
		parquet.PageBufferSize(pageBytes),
		// No statistics, column index bounds or chunk min/max on
		// event_json: min/max of JSON text prune nothing, and comparing
		// the values byte-wise cost ~3% of the export's CPU.
		parquet.SkipPageStatistics("event_json"),
		parquet.SkipPageBounds("event_json"),
	)
}

// pageBytes is the size of a data page before compression: zstd sees more
// context in larger pages (2 MiB pages make files ~7% smaller than 1 MiB
// ones at the same CPU; 4 MiB pages, 11% smaller, raised the 1M-event
// export's peak RSS from ~300 to ~430 MiB). A partitioned export, which
// has many files open, uses 1 MiB pages.
const (
	pageBytes          = 2 << 20
	partitionPageBytes = 1 << 20
)

// groupJob is one row group being encoded by its own goroutine.
type groupJob struct {
	batches chan *batch
	done    chan groupResult
}

type groupResult struct {
	enc  *groupEncoder // holds the file; back to the pool once committed
	rows uint64
	err  error
}

// groupEncoder is a reusable row-group writer with its output buffer: a
// complete Parquet file holding one row group.
type groupEncoder struct {
	buf bytes.Buffer
	w   *parquet.GenericWriter[Row]
}

// getEncoder takes an encoder from the pool or makes one.
func getEncoder(pool chan *groupEncoder, o Options) *groupEncoder {
	select {
	case e := <-pool:
		e.buf.Reset()
		e.w.Reset(&e.buf)
		return e
	default:
		e := new(groupEncoder)
		e.w = newWriter(&e.buf, o, pageBytes)
		return e
	}
}

// startGroup starts a goroutine that encodes the batches sent on the
// job's channel into an in-memory Parquet file of one row group, giving
// back a token for each batch it is done with.
func startGroup(o Options, tokens <-chan struct{}, free chan<- *batch, pool chan *groupEncoder) *groupJob {
	job := &groupJob{batches: make(chan *batch, queuedBatches), done: make(chan groupResult, 1)}
	go func() {
		res := groupResult{enc: getEncoder(pool, o)}
		gw := res.enc.w
		for b := range job.batches {
			if res.err == nil {
				_, res.err = gw.Write(b.rows)
				res.rows += uint64(len(b.rows))
			}
			recycle(b, free)
			<-tokens
		}
		if res.err == nil {
			res.err = gw.Close()
		}
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

const (
	// batchBytes cuts a batch early when its event_json reaches this size
	// (so 64 KB payloads do not make batches of 64 MiB).
	batchBytes = 4 << 20
	// queuedBatches bounds the batches handed to the row groups' goroutines
	// and not yet encoded (each holds up to batchRows rows and the decoded
	// events they point into). The scanning goroutine runs this far ahead
	// into the next row group, whose own goroutine encodes meanwhile.
	queuedBatches = 16
)

// batch is a run of rows of one row group, handed from the scanning
// goroutine to the row group's goroutine.
type batch struct {
	rows     []Row
	scratch  []rowScratch // scratch[i] for rows[i]; len batchRows
	endGroup bool         // the row group ends after this batch
}

func getBatch(free <-chan *batch) *batch {
	select {
	case b := <-free:
		return b
	default:
		return &batch{rows: make([]Row, 0, batchRows), scratch: make([]rowScratch, batchRows)}
	}
}

func recycle(b *batch, free chan<- *batch) {
	clear(b.rows) // drop the references into the decoded events
	b.rows, b.endGroup = b.rows[:0], false
	select {
	case free <- b:
	default:
	}
}

// mapped is what the scan's goroutines make of an event (see mapRow).
type mapped struct {
	row Row // without Seq and the pointers into sc (see pointRow)
	sc  rowScratch
	err error
}

// mapRow builds an event's row on one of the scan's goroutines: its
// event_json is appended to the scan's arena, which is never modified
// afterwards, so the row's string points into it without a copy.
func mapRow(env *ledger.ExperienceEventEnvelope, _ int, arena *[]byte) mapped {
	var m mapped
	start := len(*arena)
	b, err := ledger.AppendEventJSON(*arena, env.Event)
	if err != nil {
		m.row.EventID = string(env.EventID)
		m.err = err
		return m
	}
	*arena = b
	if len(b) > start {
		m.row.EventJSON = unsafe.String(&b[start], len(b)-start)
	}
	fillRow(&m.row, &m.sc, env)
	return m
}

// rowScratch holds the values of a row's optional columns that are not
// fields of the event (so that Row's pointers need no allocation).
type rowScratch struct {
	occurredAt                  int64
	confidence, limit, observed float64
	set                         uint8 // which of the above are values (has*)
}

const (
	hasOccurredAt = 1 << iota
	hasConfidence
	hasLimit
	hasObserved
)

// pointRow sets r's seq and points its optional columns that are not
// fields of the event at sc's values.
func pointRow(r *Row, sc *rowScratch, seq uint64) {
	r.Seq = int64(seq)
	if sc.set&hasOccurredAt != 0 {
		r.OccurredAt = &sc.occurredAt
	}
	if sc.set&hasConfidence != 0 {
		r.Confidence = &sc.confidence
	}
	if sc.set&hasLimit != 0 {
		r.BudgetLimit = &sc.limit
	}
	if sc.set&hasObserved != 0 {
		r.BudgetObserved = &sc.observed
	}
}

// fillRow sets every column of r but Seq and EventJSON from the envelope.
// The optional columns point into the event, or their values are set in
// sc for pointRow to point at, without allocating.
func fillRow(r *Row, sc *rowScratch, env *ledger.ExperienceEventEnvelope) {
	r.EventID = string(env.EventID)
	r.OccurredAtRaw = string(env.OccurredAt)
	if us, ok := parseTimestamp(string(env.OccurredAt)); ok {
		sc.occurredAt = us
		sc.set |= hasOccurredAt
	}
	r.TenantID = (*string)(env.TenantID)
	r.CorrelationID = (*string)(env.CorrelationID)
	r.Kind = string(env.Kind())
	number := func(s string, dst *float64, bit uint8) {
		if f, ok := parseNumber(s); ok {
			*dst = f
			sc.set |= bit
		}
	}
	// The ids are those ledger.ChainIDOf, TraceLinkIDOf and ArtifactIDOf
	// extract (export_test.go checks the columns against them).
	switch e := env.Event.(type) {
	case *ledger.ProposalCreated:
		r.ChainID = (*string)(&e.ChainID)
		r.Step = (*string)(&e.Step)
		if e.Proposal.Confidence != nil {
			sc.confidence = float64(*e.Proposal.Confidence)
			sc.set |= hasConfidence
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
		number(e.Limit, &sc.limit, hasLimit)
		if e.Observed != nil {
			number(*e.Observed, &sc.observed, hasObserved)
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
