package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/exledger/exledger/jetstream/wire"
	"github.com/exledger/exledger/ledger"
	"github.com/nats-io/nats.go/jetstream"
)

// ShipOptions configure Ship. The zero value gives the documented defaults.
type ShipOptions struct {
	// Stream is the stream to ship into. "" = "EXLEDGER". It must hold
	// only this ledger's messages.
	Stream string
	// Replicas is the stream's replication factor when Ship creates it.
	// 0 = 1.
	Replicas int
	// MaxBatchBytes bounds one message body. 0 = the server's
	// max_payload less 512 bytes.
	MaxBatchBytes int
	// Compression and DisableCompression: as in Options.
	Compression        string
	DisableCompression bool
	// Logger receives retries. nil discards them.
	Logger *slog.Logger
	// Shipped, if set, is called after each acknowledged message with the
	// ledger sequence number of its last event.
	Shipped func(ledgerSeq uint64)
}

// Ship copies a local ledger into a JetStream stream and keeps copying
// what is committed after, until ctx ends (it then returns ctx.Err()) or
// an error. An embedded-ledger user gets an off-box, replicated copy
// without changing how it appends; a Store opened on that stream
// materializes a ledger with the same hash chain.
//
// Where to start is read from the stream, not from local state: the last
// message names the ledger (wire.HeaderLedgerID) and the sequence number of its
// last event (wire.HeaderLedgerSeq), so after a crash Ship resumes right after
// what the stream acknowledged: no gap, and no duplicate (a publish that
// was stored but not acknowledged is found there; a retried publish is
// deduplicated by its message id).
//
// Messages hold whole ledger batches as long as Ship keeps up: each one
// carries what was committed since the previous one (cut at MaxBatchBytes
// between events). While it catches up on a backlog, and for a batch
// larger than MaxBatchBytes, a cut may fall inside a ledger batch: the
// batch is then shipped as consecutive messages (the ledger does not keep
// batch boundaries once sealed).
//
// A ledger with an embedding dimension is shipped with its vectors: each
// message then carries a vector section (docs/jetstream.md §4), so a
// Store on the stream, opened with the same LedgerOptions.EmbeddingDim,
// answers SearchSimilar as the source ledger does.
func Ship(ctx context.Context, l *ledger.Ledger, js jetstream.JetStream, opts ShipOptions) error {
	if opts.Stream == "" {
		opts.Stream = DefaultStream
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var err error
	if opts.Compression, err = compression(opts.Compression, opts.DisableCompression); err != nil {
		return err
	}
	o := Options{Stream: opts.Stream, Dir: "-"}
	if _, err := o.withDefaults(); err != nil {
		return err
	}
	maxBody := int(js.Conn().MaxPayload()) - headerRoom
	if opts.MaxBatchBytes > 0 && opts.MaxBatchBytes < maxBody {
		maxBody = opts.MaxBatchBytes
	}
	sctx, cancel := withDefaultTimeout(ctx, 30*time.Second)
	st, err := ensureStream(sctx, js, opts.Stream, opts.Replicas, opts.Logger)
	if err != nil {
		cancel()
		return err
	}
	next, err := shippedThrough(sctx, st, l)
	cancel()
	if err != nil {
		return err
	}
	next++
	sh := &shipper{ctx: ctx, l: l, js: js, opts: opts, maxBody: maxBody, dim: l.EmbeddingDim()}
	for {
		if err := sh.shipFrom(next); err != nil {
			return err
		}
		next = sh.next
		// Wait for the next commit.
		for _, err := range l.Follow(ctx, ledger.EventQuery{}, next) {
			if err != nil {
				return err
			}
			break
		}
	}
}

// shippedThrough returns the ledger sequence number of the last event in
// the stream (0 when empty), checking that the stream is this ledger's.
func shippedThrough(ctx context.Context, st jetstream.Stream, l *ledger.Ledger) (uint64, error) {
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("jetstream: stream info: %w", err)
	}
	if info.State.Msgs == 0 {
		return 0, nil
	}
	m, err := st.GetMsg(ctx, info.State.LastSeq)
	if err != nil {
		return 0, fmt.Errorf("jetstream: reading the stream's last message: %w", err)
	}
	if id := m.Header.Get(wire.HeaderLedgerID); id != l.ID() {
		return 0, fmt.Errorf("%w: stream %q ends with a message of ledger %q, not of ledger %s", ErrStreamMismatch, info.Config.Name, id, l.ID())
	}
	seq, err := strconv.ParseUint(m.Header.Get(wire.HeaderLedgerSeq), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: stream %q: bad %s header: %v", ErrStreamMismatch, info.Config.Name, wire.HeaderLedgerSeq, err)
	}
	if seq > l.LastSeq() {
		return 0, fmt.Errorf("%w: stream %q holds ledger events up to %d, the ledger ends at %d", ErrStreamMismatch, info.Config.Name, seq, l.LastSeq())
	}
	return seq, nil
}

type shipper struct {
	ctx     context.Context
	l       *ledger.Ledger
	js      jetstream.JetStream
	opts    ShipOptions
	maxBody int
	dim     int // the ledger's embedding dimension; 0: no vectors

	next  uint64 // first ledger sequence not yet shipped
	recs  [][]byte
	vecs  [][]float32 // with dim > 0: each record's vector (nil: none)
	size  int
	last  uint64
	subjB wire.SubjectBuilder
}

// shipFrom ships every event from ledger sequence from to the end of one
// snapshot of the ledger (a batch boundary).
func (sh *shipper) shipFrom(from uint64) error {
	sh.next = from
	if sh.dim > 0 {
		for r, err := range sh.l.ScanRawVectors(sh.ctx, ledger.EventQuery{}, from) {
			if err != nil {
				return err
			}
			if err := sh.add(r.RawRecord, r.Vector); err != nil {
				return err
			}
		}
		return sh.flush()
	}
	for r, err := range sh.l.ScanRaw(sh.ctx, ledger.EventQuery{}, from) {
		if err != nil {
			return err
		}
		if err := sh.add(r, nil); err != nil {
			return err
		}
	}
	return sh.flush()
}

// add collects one event (and its vector, in a ledger with vectors),
// publishing what was collected first when the event would not fit.
func (sh *shipper) add(r ledger.RawRecord, vec []float32) error {
	n := wire.RecordHeader + len(r.Canonical)
	if sh.dim > 0 {
		n++ // the vector section's flag byte
		if vec != nil {
			n += 4 * sh.dim
		}
	}
	if n > sh.maxBody {
		return fmt.Errorf("jetstream: ledger event %d is %d bytes, over the maximum message body of %d bytes", r.Seq, n, sh.maxBody)
	}
	if sh.size+n > sh.maxBody {
		if err := sh.flush(); err != nil {
			return err
		}
	}
	sh.recs = append(sh.recs, append([]byte(nil), r.Canonical...))
	if sh.dim > 0 {
		sh.vecs = append(sh.vecs, vec)
	}
	sh.size += n
	sh.last = r.Seq
	var tenant *ledger.TenantID
	if r.Header.HasTenant {
		t := r.Header.TenantID
		tenant = &t
	}
	sh.subjB.Add(tenant, r.Header.Kind)
	return nil
}

// flush publishes the collected events as one message.
func (sh *shipper) flush() error {
	if len(sh.recs) == 0 {
		return nil
	}
	body := wire.Frame(sh.recs)
	if sh.dim > 0 {
		body = wire.AppendVectors(body, sh.vecs, sh.dim)
	}
	b := newBatch(sh.subjB.Subject(sh.opts.Stream), body, len(sh.recs))
	b.dim = sh.dim
	b.msgID = sh.l.ID() + "-" + strconv.FormatUint(sh.last, 10)
	b.compress(sh.opts.Compression)
	m := b.newMsg()
	m.Header.Set(wire.HeaderLedgerID, sh.l.ID())
	m.Header.Set(wire.HeaderLedgerSeq, strconv.FormatUint(sh.last, 10))
	if _, err := publishBatch(sh.ctx, sh.js, sh.opts.Stream, m, sh.opts.Logger, func() bool { return true }); err != nil {
		if errors.Is(err, sh.ctx.Err()) {
			return sh.ctx.Err()
		}
		return err
	}
	if sh.opts.Shipped != nil {
		sh.opts.Shipped(sh.last)
	}
	sh.next = sh.last + 1
	sh.recs, sh.vecs, sh.size, sh.subjB = sh.recs[:0], sh.vecs[:0], 0, wire.SubjectBuilder{}
	return nil
}
