package ledgerparquet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
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
// 131072 rows or 64 MiB of values, zstd-compressed at the default level.
type Options struct {
	// RowGroupRows caps the rows of one row group. 0 = 131072.
	RowGroupRows int
	// RowGroupBytes caps the approximate uncompressed bytes of values of
	// one row group; the writer buffers about this much (plus the
	// compressed pages). 0 = 64 MiB.
	RowGroupBytes int
	// Progress, if set, is called with the number of events written so
	// far, after each batch of rows handed to the writer.
	Progress func(events uint64)
}

const (
	defaultRowGroupRows  = 128 << 10
	defaultRowGroupBytes = 64 << 20
	batchRows            = 1024
	// rowOverhead approximates the bytes of a row's fixed-size columns.
	rowOverhead = 96
)

// createdBy names the writer in the file footer. It is fixed (not derived
// from build information) so the output is the same from every binary.
var createdBy = parquet.CreatedBy("exledger ledgerparquet", "1", "")

// Export writes the events matching q, in log order, to w as one Parquet
// file and returns the number of events written. It streams: at most one
// row group is buffered (see Options). On error the output is incomplete
// (no footer) and must be discarded. A query limit (q.Limit) is honoured.
func Export(ctx context.Context, l *ledger.Ledger, q ledger.EventQuery, w io.Writer, o Options) (n uint64, err error) {
	if o.RowGroupRows <= 0 {
		o.RowGroupRows = defaultRowGroupRows
	}
	if o.RowGroupBytes <= 0 {
		o.RowGroupBytes = defaultRowGroupBytes
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	pw := parquet.NewGenericWriter[Row](bw,
		createdBy,
		parquet.Compression(&zstd.Codec{Level: zstd.DefaultLevel}),
		parquet.MaxRowsPerRowGroup(int64(o.RowGroupRows)),
		parquet.SortingWriterConfig(parquet.SortingColumns(parquet.Ascending("seq"))),
	)
	var (
		rows     = make([]Row, 0, batchRows)
		jsonBuf  []byte
		ends     = make([]int, 0, batchRows)
		groupRow int // rows in the current row group
		groupB   int // approximate value bytes in the current row group
	)
	// flushBatch hands the buffered rows to the writer; the event_json
	// strings of the batch share one allocation.
	flushBatch := func() error {
		if len(rows) == 0 {
			return nil
		}
		all := string(jsonBuf)
		start := 0
		for i, end := range ends {
			rows[i].EventJSON = all[start:end]
			start = end
		}
		if _, err := pw.Write(rows); err != nil {
			return err
		}
		n += uint64(len(rows))
		clear(rows)
		rows, ends, jsonBuf = rows[:0], ends[:0], jsonBuf[:0]
		if o.Progress != nil {
			o.Progress(n)
		}
		return nil
	}
	for se, serr := range l.ScanSeq(ctx, q, 1) {
		if serr != nil {
			return n + uint64(len(rows)), serr
		}
		env := &se.Envelope
		jsonBuf, err = ledger.AppendEventJSON(jsonBuf, env.Event)
		if err != nil {
			return n, fmt.Errorf("parquet export: event %s: %w", env.EventID, err)
		}
		ends = append(ends, len(jsonBuf))
		rows = append(rows, Row{})
		size := fillRow(&rows[len(rows)-1], se.Seq, env)
		groupRow++
		groupB += size + len(jsonBuf) - startOf(ends)
		full := groupRow >= o.RowGroupRows || groupB >= o.RowGroupBytes
		if len(rows) == batchRows || full {
			if err := flushBatch(); err != nil {
				return n, fmt.Errorf("parquet export: %w", err)
			}
		}
		if full {
			// MaxRowsPerRowGroup also cuts at RowGroupRows; flushing here
			// keeps the byte bound and the cut points our own.
			if err := pw.Flush(); err != nil {
				return n, fmt.Errorf("parquet export: %w", err)
			}
			groupRow, groupB = 0, 0
		}
	}
	if err := flushBatch(); err != nil {
		return n, fmt.Errorf("parquet export: %w", err)
	}
	if err := pw.Close(); err != nil {
		return n, fmt.Errorf("parquet export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("parquet export: %w", err)
	}
	return n, nil
}

// startOf returns where the last event_json in the batch starts.
func startOf(ends []int) int {
	if len(ends) < 2 {
		return 0
	}
	return ends[len(ends)-2]
}

// fillRow sets every column of r but EventJSON from the envelope and
// returns the approximate byte size of the values set.
func fillRow(r *Row, seq uint64, env *ledger.ExperienceEventEnvelope) int {
	r.Seq = int64(seq)
	r.EventID = string(env.EventID)
	r.OccurredAtRaw = string(env.OccurredAt)
	r.OccurredAt = parseTimestamp(string(env.OccurredAt))
	size := rowOverhead + len(r.EventID) + 2*len(r.OccurredAtRaw)
	str := func(s string) *string {
		size += len(s)
		return &s
	}
	if env.TenantID != nil {
		r.TenantID = str(string(*env.TenantID))
	}
	if env.CorrelationID != nil {
		r.CorrelationID = str(string(*env.CorrelationID))
	}
	r.Kind = string(env.Kind())
	if c, ok := ledger.ChainIDOf(env.Event); ok {
		r.ChainID = str(string(c))
	}
	if t, ok := ledger.TraceLinkIDOf(env.Event); ok {
		r.TraceLinkID = str(string(t))
	}
	if a, ok := ledger.ArtifactIDOf(env.Event); ok {
		r.ArtifactID = str(string(a))
	}
	switch e := env.Event.(type) {
	case *ledger.ProposalCreated:
		r.Step = str(string(e.Step))
		if e.Proposal.Confidence != nil {
			c := float64(*e.Proposal.Confidence)
			r.Confidence = &c
		}
	case *ledger.ProposalValidated:
		r.Step = str(string(e.Step))
		r.Passed = &e.AllPassed
	case *ledger.RecallExecuted:
		r.LatencyMs = &e.Provenance.LatencyMs
	case *ledger.BackendInvoked:
		r.Step = str(string(e.Step))
		r.Backend = str(string(e.BackendName))
	case *ledger.OutcomeRecorded:
		r.Step = str(string(e.Step))
		r.Passed = &e.Passed
		if e.StopReason != nil {
			r.StopReason = str(string(e.StopReason.Kind))
		}
		r.LatencyMs = e.LatencyMs
		r.Tokens = e.Tokens
		r.CostMicrodollars = e.CostMicrodollars
		if e.Backend != nil {
			r.Backend = str(string(*e.Backend))
		}
	case *ledger.BudgetExceeded:
		r.BudgetResource = str(string(e.Resource.Kind))
		r.BudgetLimit = parseNumber(e.Limit)
		if e.Observed != nil {
			r.BudgetObserved = parseNumber(*e.Observed)
		}
	case *ledger.HypothesisResolved:
		r.Confidence = &e.Confidence
	}
	return size
}

// parseTimestamp returns s as microseconds since the Unix epoch (UTC) when
// it is an RFC 3339 timestamp, else nil.
func parseTimestamp(s string) *int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	us := t.UnixMicro()
	return &us
}

// parseNumber returns s as a float64 when it is a decimal number in JSON
// number syntax whose value is finite as a float64, else nil. ("NaN",
// "inf", hex floats, "1_000" and " 5" are not numbers here.)
func parseNumber(s string) *float64 {
	if !isJSONNumber(s) {
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil
	}
	if math.IsInf(f, 0) {
		return nil
	}
	return &f
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
