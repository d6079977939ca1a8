package ledger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ImportOptions configure ImportJSONL. The zero value imports batches of
// 1000 events with lines of up to 16 MiB.
type ImportOptions struct {
	// BatchSize is the number of events appended per AppendEvents call
	// (each batch is atomic). 0 = 1000.
	BatchSize int
	// MaxLineBytes bounds one input line (one event's JSON, without the
	// line terminator). A longer line is an *ImportError. 0 = 16 MiB.
	MaxLineBytes int
	// Progress, if set, is called after each committed batch with the
	// report so far.
	Progress func(ImportReport)
}

// A line of ImportJSONL may carry the event's vector in a "vector" key
// beside the envelope's own keys ({"event_id":...,"vector":[0.1,...]}, as
// ExportVectorJSONL writes it). Such an event is appended with its vector
// (the ledger needs an embedding dimension); readers that do not know the
// key ignore it.

// ImportReport says what ImportJSONL committed. On error it describes the
// batches committed before the failing one, which stay in the ledger.
type ImportReport struct {
	Events   uint64 // events appended (including idempotent re-appends)
	Batches  uint64 // batches committed
	Lines    int    // input lines consumed by the committed batches
	LastLine int    // line number of the last committed event (0 = none)
}

// ImportError is returned by ImportJSONL for input it cannot import: a line
// that is not a valid Converge JSON envelope, a line that is too long, or a
// batch the ledger rejected. Line is the 1-based input line number (for a
// rejected batch, the line of its first event).
type ImportError struct {
	Line int
	Err  error
}

func (e *ImportError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the cause.
func (e *ImportError) Unwrap() error { return e.Err }

// ErrLineTooLong is wrapped by the ImportError of a line longer than
// ImportOptions.MaxLineBytes.
var ErrLineTooLong = errors.New("line too long")

// ImportJSONL appends the events of r, one Converge JSON envelope per line
// (blank lines are skipped), in batches of o.BatchSize. Each batch is
// appended atomically with AppendEvents, so on any error nothing of the
// failing batch is in the ledger while every earlier batch is; the report
// says how far it got. Events are validated as they are read, so a bad
// event is reported with its own line number.
func ImportJSONL(ctx context.Context, l *Ledger, r io.Reader, o ImportOptions) (ImportReport, error) {
	var rep ImportReport
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 16 << 20
	}
	br := bufio.NewReaderSize(r, 64<<10)
	batch := make([]ExperienceEventEnvelope, 0, min(o.BatchSize, 4096))
	var lineBuf []byte
	var vecs [][]float32 // per event of batch (nil: none)
	hasVec := false
	line, batchFirst, batchLast := 0, 0, 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		if hasVec {
			err = l.appendObserved(ctx, batch, vecs)
		} else {
			err = l.AppendEvents(ctx, batch)
		}
		if err != nil {
			return &ImportError{Line: batchFirst, Err: fmt.Errorf("batch of lines %d-%d rejected: %w", batchFirst, batchLast, err)}
		}
		rep.Events += uint64(len(batch))
		rep.Batches++
		rep.Lines = batchLast
		rep.LastLine = batchLast
		clear(batch)
		batch = batch[:0]
		vecs, hasVec = vecs[:0], false
		if o.Progress != nil {
			o.Progress(rep)
		}
		return nil
	}
	for {
		b, err := readLine(br, &lineBuf, o.MaxLineBytes)
		if err == io.EOF && b == nil {
			break
		}
		line++
		if err != nil && err != io.EOF {
			if errors.Is(err, ErrLineTooLong) {
				return rep, &ImportError{Line: line, Err: fmt.Errorf("%w (more than %d bytes)", ErrLineTooLong, o.MaxLineBytes)}
			}
			return rep, fmt.Errorf("read line %d: %w", line, err)
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			if err == io.EOF {
				break
			}
			continue
		}
		env, perr := UnmarshalEnvelopeJSON(b)
		if perr == nil {
			perr = Validate(env)
		}
		var vec []float32
		if perr == nil {
			vec, perr = lineVector(b)
		}
		if perr == nil && vec != nil {
			perr = l.checkVector(vec)
		}
		if perr != nil {
			return rep, &ImportError{Line: line, Err: perr}
		}
		if len(batch) == 0 {
			batchFirst = line
		}
		batchLast = line
		batch = append(batch, env)
		vecs = append(vecs, vec)
		hasVec = hasVec || vec != nil
		if len(batch) >= o.BatchSize {
			if ferr := flush(); ferr != nil {
				return rep, ferr
			}
		}
		if err == io.EOF {
			break
		}
	}
	if err := flush(); err != nil {
		return rep, err
	}
	rep.Lines = line
	return rep, nil
}

// readLine returns the next line without its terminator ("\n" or "\r\n"),
// using *buf as storage when the line spans reader buffers. It returns
// ErrLineTooLong (after skipping the rest of the line) when the line exceeds
// max bytes, and io.EOF with a nil slice at the end of input; a last line
// without a terminator is returned with io.EOF.
func readLine(br *bufio.Reader, buf *[]byte, max int) ([]byte, error) {
	*buf = (*buf)[:0]
	tooLong := false
	for {
		frag, err := br.ReadSlice('\n')
		if !tooLong {
			if len(*buf)+len(frag) > max+2 { // +2 for the terminator
				tooLong = true
				*buf = (*buf)[:0]
			} else if err == bufio.ErrBufferFull || len(*buf) > 0 {
				*buf = append(*buf, frag...)
			}
		}
		switch err {
		case bufio.ErrBufferFull:
			continue
		case nil, io.EOF:
			if tooLong {
				return nil, ErrLineTooLong
			}
			line := frag
			if len(*buf) > 0 {
				line = *buf
			}
			if err == io.EOF && len(line) == 0 {
				return nil, io.EOF
			}
			line = bytes.TrimSuffix(line, []byte{'\n'})
			line = bytes.TrimSuffix(line, []byte{'\r'})
			if len(line) > max {
				return nil, ErrLineTooLong
			}
			return line, err
		default:
			return nil, err
		}
	}
}

// lineVector returns the "vector" key of an import line (nil: none).
func lineVector(b []byte) ([]float32, error) {
	if !bytes.Contains(b, []byte(`"vector"`)) {
		return nil, nil
	}
	var x struct {
		Vector *[]float32 `json:"vector"`
	}
	if err := json.Unmarshal(b, &x); err != nil {
		return nil, fmt.Errorf("vector: %w", err)
	}
	if x.Vector == nil {
		return nil, nil
	}
	if *x.Vector == nil {
		return []float32{}, nil // checked (and refused) as a dimension mismatch
	}
	return *x.Vector, nil
}

// appendVectorKey inserts `,"key":[v...]` before the closing brace of a
// JSON object; floats are written with the fewest digits that read back
// as the same float32.
func appendVectorKey(obj []byte, key string, v []float32) []byte {
	obj = obj[:len(obj)-1]
	obj = append(obj, `,"`...)
	obj = append(obj, key...)
	obj = append(obj, `":[`...)
	for i, x := range v {
		if i > 0 {
			obj = append(obj, ',')
		}
		obj = strconv.AppendFloat(obj, float64(x), 'g', -1, 32)
	}
	return append(obj, "]}"...)
}

// ExportVectorJSONL is ExportJSONL with each event's vector in a "vector"
// key beside the envelope's keys (events without a vector have none), the
// form ImportJSONL reads back.
func ExportVectorJSONL(ctx context.Context, l *Ledger, q EventQuery, w io.Writer) (n uint64, err error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	var buf []byte
	for ve, err := range l.ScanVectors(ctx, q, 1) {
		if err != nil {
			return n, err
		}
		buf, err = AppendEnvelopeJSON(buf[:0], &ve.Envelope)
		if err != nil {
			return n, fmt.Errorf("export: event %s: %w", ve.Envelope.EventID, err)
		}
		if ve.Vector != nil {
			buf = appendVectorKey(buf, "vector", ve.Vector)
		}
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return n, fmt.Errorf("export: %w", err)
		}
		n++
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("export: %w", err)
	}
	return n, nil
}

// ExportJSONL writes the events matching q to w in log order, one Converge
// JSON envelope per line, streaming (it holds one event at a time). It
// returns the number of events written.
func ExportJSONL(ctx context.Context, l *Ledger, q EventQuery, w io.Writer) (n uint64, err error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	var buf []byte
	for env, err := range l.Scan(ctx, q) {
		if err != nil {
			return n, err
		}
		buf, err = AppendEnvelopeJSON(buf[:0], &env)
		if err != nil {
			return n, fmt.Errorf("export: event %s: %w", env.EventID, err)
		}
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return n, fmt.Errorf("export: %w", err)
		}
		n++
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("export: %w", err)
	}
	return n, nil
}
