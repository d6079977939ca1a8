package jetstream

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exledger/exledger/jetstream/wire"
	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configure a Store. The zero value of every field but Dir gives
// the documented default.
type Options struct {
	// Stream is the JetStream stream name. "" = "EXLEDGER". It must not
	// contain '.', '*', '>', '/', '\\' or white space. The stream's
	// subjects are exledger.<Stream>.> (see Subject).
	Stream string
	// Replicas is the stream's replication factor when Open creates it
	// (an existing stream is used as it is). 0 = 1; use 3 in production:
	// an acknowledged append is then on a majority of 3 servers.
	Replicas int
	// Dir is this node's ledger directory (required): the local exledger
	// ledger that materializes the stream, plus the position file
	// jetstream.state. ledgerctl works on it unchanged.
	Dir string
	// LedgerOptions configure the local ledger. nil = the ledger's
	// defaults except Sync: ledger.SyncNever, because the stream, not the
	// local ledger, is the durable copy: after a power loss the node
	// re-applies the stream from its last position (see docs/jetstream.md
	// §5). AllowDuplicates is not supported (Open fails). Every node of a
	// stream must use the same MaxEventBytes and MaxBatchBytes, since
	// they decide whether a batch is accepted.
	LedgerOptions *ledger.Options
	// MaxBatchBytes bounds the payload of one batch message (the body of
	// 4 bytes per event plus the canonical events, zstd-compressed unless
	// DisableCompression). 0 = the server's max_payload (1 MiB by
	// default) less 512 bytes for headers. A larger AppendEvents batch is
	// rejected with an InvalidQuery error before anything is published.
	MaxBatchBytes int
	// Compression is how batch bodies of 1 KiB or more are compressed
	// when that makes them smaller: "" or CompressionSnappy (the default:
	// the Snappy block format, about 4.5× fewer bytes through the
	// cluster and in the stream for about a third of zstd's CPU),
	// CompressionZstd (about 6× fewer bytes; what Stores sent before
	// Snappy became the default, so use it while nodes of that version
	// still read the stream: they skip Snappy messages), or
	// CompressionNone. docs/jetstream.md §2 has the measurements.
	Compression string
	// DisableCompression sends batch bodies as they are (the same as
	// Compression = CompressionNone).
	DisableCompression bool
	// CheckpointInterval is how often the position file is rewritten
	// (after syncing the ledger) while messages are applied. 0 = 1 s. A
	// restart re-applies at most this much of the stream (idempotently).
	CheckpointInterval time.Duration
	// Timeout bounds an append (publish, retries across a leader change,
	// and waiting for the local ledger to apply it) and Open's stream
	// creation and catch-up when the caller's context has no deadline.
	// 0 = 30 s.
	Timeout time.Duration
	// StrictReads makes every read first wait until the local ledger has
	// applied everything the stream held when the read started (one
	// request to the stream leader per read): a read on any node then
	// sees every append acknowledged anywhere before it. Without it, a
	// Store's reads see its own appends (read-your-writes) and other
	// nodes' appends once applied here (use Sync for a barrier).
	StrictReads bool
	// Logger receives warnings (skipped foreign messages, retries). nil
	// discards them.
	Logger *slog.Logger
}

// Options.Compression values.
const (
	CompressionSnappy = wire.EncodingSnappy
	CompressionZstd   = wire.EncodingZstd
	CompressionNone   = "none"
)

// DefaultStream is the stream name used when Options.Stream is empty.
const DefaultStream = "EXLEDGER"

// Errors of the Store that are not ledger.StoreErrors.
var (
	// ErrStreamMismatch: the directory materializes another stream (or
	// one that was deleted and created again, or lost messages).
	ErrStreamMismatch = errors.New("jetstream: directory does not match the stream")
)

// Ack is what a Store append returns on success: where the batch is in the
// stream.
type Ack struct {
	Stream string
	// Seq is the batch's stream sequence number (the original one when
	// the publish was deduplicated).
	Seq uint64
	// Duplicate: JetStream deduplicated the publish (a retry of a batch
	// already in the stream).
	Duplicate bool
}

// Stats are a Store's counters.
type Stats struct {
	AppliedSeq uint64 // last stream sequence applied to the local ledger
	Applied    uint64 // messages applied by this process
	Rejected   uint64 // messages every node rejects (e.g. conflicting event ids)
	Foreign    uint64 // messages skipped as not exledger batches or damaged
	Gaps       uint64 // stream sequence numbers never delivered (deleted messages)
	Published  uint64 // batches published by this Store
	Duplicates uint64 // publishes JetStream deduplicated
	Retries    uint64 // publish attempts retried (timeouts, leader changes)
	Resets     uint64 // times the stream consumer was re-created
}

// Store is a replicated experience store: appends go to a JetStream stream,
// reads are answered by the local ledger that a consumer keeps in step with
// the stream. It implements ledger.ExperienceStore and is safe for
// concurrent use.
type Store struct {
	opts     Options
	js       jetstream.JetStream
	stream   jetstream.Stream
	l        *ledger.Ledger
	fs       vfs.FS
	log      *slog.Logger
	maxBody  int
	maxEvent int
	maxBatch int // the ledger's MaxBatchBytes

	// mu guards notify, fatal and interest.
	mu       sync.Mutex
	notify   chan struct{} // closed and replaced when applied advances
	fatal    error
	interest map[string]*interest
	applied  atomic.Uint64

	// applyMu is held while one message is applied, so that (applied,
	// ledgerSeq, ledger head) read under it agree.
	applyMu    sync.Mutex
	ledgerSeq  uint64
	firstMsgID string
	lastCkpt   uint64

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	avgRecord atomic.Int64 // bytes per framed event in the last batch encoded

	nApplied, nRejected, nForeign, nGaps, nPublished, nDup, nRetries, nResets atomic.Uint64
}

// interest collects the apply outcomes of the messages with one msg id
// that appenders of this Store wait for.
type interest struct {
	refs    int
	results map[uint64]error
}

// compression checks an Options.Compression value and applies its
// default ("" = snappy) and DisableCompression.
func compression(c string, disable bool) (string, error) {
	if disable {
		return CompressionNone, nil
	}
	switch c {
	case "":
		return CompressionSnappy, nil
	case CompressionSnappy, CompressionZstd, CompressionNone:
		return c, nil
	}
	return "", fmt.Errorf("jetstream: unknown Compression %q (want %q, %q or %q)", c, CompressionSnappy, CompressionZstd, CompressionNone)
}

func (o *Options) withDefaults() (Options, error) {
	r := *o
	var err error
	if r.Stream == "" {
		r.Stream = DefaultStream
	}
	if strings.ContainsAny(r.Stream, ".*>/\\ \t\r\n") {
		return r, fmt.Errorf("jetstream: invalid stream name %q", r.Stream)
	}
	if r.Replicas <= 0 {
		r.Replicas = 1
	}
	if r.Compression, err = compression(r.Compression, r.DisableCompression); err != nil {
		return r, err
	}
	if r.Dir == "" {
		return r, errors.New("jetstream: Options.Dir is required")
	}
	if r.CheckpointInterval <= 0 {
		r.CheckpointInterval = time.Second
	}
	if r.Timeout <= 0 {
		r.Timeout = 30 * time.Second
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

// Open connects to (or creates) the stream, opens the local ledger in
// opts.Dir, starts applying the stream from the ledger's position and
// returns once the ledger has caught up with what the stream held at Open
// (bounded by ctx, or opts.Timeout when ctx has no deadline).
func Open(ctx context.Context, nc *nats.Conn, opts Options) (*Store, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	lo := ledger.Options{Sync: ledger.SyncNever}
	if o.LedgerOptions != nil {
		lo = *o.LedgerOptions
	}
	if lo.AllowDuplicates {
		return nil, errors.New("jetstream: LedgerOptions.AllowDuplicates is not supported (idempotent appends make re-applying the stream safe)")
	}
	if lo.ReadOnly {
		return nil, errors.New("jetstream: LedgerOptions.ReadOnly is not supported (the Store writes its ledger)")
	}
	if lo.FS == nil {
		lo.FS = vfs.OS
	}
	ctx, cancel := withDefaultTimeout(ctx, o.Timeout)
	defer cancel()

	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	st, err := ensureStream(ctx, js, o.Stream, o.Replicas, o.Logger)
	if err != nil {
		return nil, err
	}
	maxBody := o.MaxBatchBytes
	if mp := int(nc.MaxPayload()); maxBody <= 0 || maxBody > mp-headerRoom {
		maxBody = mp - headerRoom
	}
	l, err := ledger.Open(o.Dir, &lo)
	if err != nil {
		return nil, err
	}
	s := &Store{
		opts: o, js: js, stream: st, l: l, fs: lo.FS, log: o.Logger,
		maxBody: maxBody, maxEvent: lo.MaxEventBytes, maxBatch: lo.MaxBatchBytes,
		notify: make(chan struct{}), interest: map[string]*interest{},
	}
	if s.maxEvent <= 0 {
		s.maxEvent = 4 << 20
	}
	if s.maxBatch <= 0 {
		s.maxBatch = 64 << 20
	}
	// Every reader must be able to decompress a body.
	s.maxBatch = min(s.maxBatch, wire.MaxBodyBytes/2)
	target, start, err := s.recover(ctx)
	if err != nil {
		l.Close()
		return nil, err
	}
	s.applied.Store(start - 1)
	s.ledgerSeq = l.LastSeq()
	s.lastCkpt = start - 1
	rctx, rcancel := context.WithCancel(context.Background())
	s.cancel = rcancel
	s.wg.Add(2)
	go s.run(rctx)
	go s.checkpointer(rctx)
	if err := s.WaitApplied(ctx, target); err != nil {
		s.Close()
		return nil, fmt.Errorf("jetstream: catching up to stream sequence %d: %w", target, err)
	}
	return s, nil
}

// recover decides where applying starts: after the position file's
// AppliedSeq when that file matches the ledger and the stream, else at the
// stream's first message (re-applying what the ledger already holds is a
// no-op). It returns the stream's last sequence number (the catch-up
// target) and the first sequence to apply.
func (s *Store) recover(ctx context.Context) (target, start uint64, err error) {
	var info *jetstream.StreamInfo
	err = retryUnanswered(ctx, s.log, func() (err error) {
		info, err = s.stream.Info(ctx)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("jetstream: stream info: %w", err)
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	if info.State.Msgs > 0 {
		var m *jetstream.RawStreamMsg
		err := retryUnanswered(ctx, s.log, func() (err error) {
			m, err = s.stream.GetMsg(ctx, first)
			return err
		})
		if err != nil {
			return 0, 0, fmt.Errorf("jetstream: reading stream message %d: %w", first, err)
		}
		s.firstMsgID = m.Header.Get(wire.HeaderMsgID)
	}
	p, ok, err := readPosition(s.fs, s.opts.Dir)
	damaged := err != nil
	if damaged {
		s.log.Warn("position file unreadable; re-applying the whole stream", "err", err)
		ok = false
	}
	if !ok && !damaged && s.l.LastSeq() > 0 {
		// Open writes the file before applying anything, so a ledger
		// with events and no position file was not built by a Store.
		return 0, 0, fmt.Errorf("%w: %s holds a ledger of %d events that is not a materialization of a stream (no %s)", ErrStreamMismatch, s.opts.Dir, s.l.LastSeq(), stateName)
	}
	start = 1
	if ok {
		switch {
		case p.Stream != s.opts.Stream:
			return 0, 0, fmt.Errorf("%w: %s materializes stream %q, not %q", ErrStreamMismatch, s.opts.Dir, p.Stream, s.opts.Stream)
		case p.LedgerID != s.l.ID():
			if s.l.LastSeq() > 0 {
				return 0, 0, fmt.Errorf("%w: %s holds ledger %s, its position file names ledger %s", ErrStreamMismatch, s.opts.Dir, s.l.ID(), p.LedgerID)
			}
			s.log.Warn("position file of another (replaced) ledger; re-applying the whole stream")
		case p.AppliedSeq > last:
			return 0, 0, fmt.Errorf("%w: %s applied stream %q up to sequence %d, the stream ends at %d (deleted and created again?)", ErrStreamMismatch, s.opts.Dir, s.opts.Stream, p.AppliedSeq, last)
		case p.FirstMsgID != "" && s.firstMsgID != "" && first == 1 && p.FirstMsgID != s.firstMsgID:
			return 0, 0, fmt.Errorf("%w: stream %q starts with message %s, %s was built from one starting with %s (deleted and created again?)", ErrStreamMismatch, s.opts.Stream, s.firstMsgID, s.opts.Dir, p.FirstMsgID)
		case s.l.LastSeq() < p.LedgerSeq:
			s.log.Warn("ledger ends before its position file (lost an unsynced tail); re-applying the whole stream",
				"ledger_seq", s.l.LastSeq(), "position_ledger_seq", p.LedgerSeq)
		default:
			start = p.AppliedSeq + 1
		}
	}
	if info.State.Msgs > 0 && start < first {
		return 0, 0, fmt.Errorf("%w: stream %q now starts at sequence %d, this node needs it from %d (messages were removed)", ErrStreamMismatch, s.opts.Stream, first, start)
	}
	if !ok {
		np := position{Version: 1, Stream: s.opts.Stream, FirstMsgID: s.firstMsgID, LedgerID: s.l.ID()}
		if err := writePosition(s.fs, s.opts.Dir, np); err != nil {
			return 0, 0, fmt.Errorf("jetstream: writing the position file: %w", err)
		}
	}
	return last, start, nil
}

// ensureStream returns the stream, creating it if needed. Right after a
// server (or cluster) starts, JetStream may not be ready or have no meta
// leader yet: errors are retried until ctx ends. Each attempt has its
// own deadline (streamAttemptTimeout): an API request whose reply is lost
// (the meta leader changed while it was in flight) would otherwise wait
// for the whole of ctx instead of being retried.
func ensureStream(ctx context.Context, js jetstream.JetStream, name string, replicas int, log *slog.Logger) (jetstream.Stream, error) {
	cfg := jetstream.StreamConfig{
		Name:        name,
		Description: "exledger experience ledger (github.com/exledger/exledger/jetstream)",
		Subjects:    []string{wire.SubjectRoot + "." + name + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  2 * time.Minute,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
	}
	var lastErr error
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		st, err := ensureStreamOnce(ctx, js, name, cfg)
		if err == nil {
			return st, nil
		}
		lastErr = err
		log.Debug("stream not ready, retrying", "stream", name, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("jetstream: stream %q not available: %w (last error: %v)", name, ctx.Err(), lastErr)
		case <-time.After(wait):
		}
	}
}

// streamAttemptTimeout bounds one lookup-or-create attempt of ensureStream.
const streamAttemptTimeout = 5 * time.Second

// ensureStreamOnce looks the stream up and creates it when it does not
// exist, within one attempt's deadline. A create whose reply was lost but
// which took effect is found by the next attempt's lookup.
func ensureStreamOnce(ctx context.Context, js jetstream.JetStream, name string, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	actx, cancel := context.WithTimeout(ctx, streamAttemptTimeout)
	defer cancel()
	st, err := js.Stream(actx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = js.CreateStream(actx, cfg)
	}
	return st, err
}

func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// Close stops applying the stream, writes the position file and closes
// the local ledger. It does not close the NATS connection. It is
// idempotent; afterwards every method returns ledger.ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.cancel()
		s.wg.Wait()
		s.mu.Lock()
		close(s.notify)
		s.notify = make(chan struct{})
		fatal := s.fatal
		s.mu.Unlock()
		var err error
		if fatal == nil {
			err = s.checkpoint()
		}
		s.closeErr = errors.Join(err, s.l.Close())
	})
	return s.closeErr
}

// Stats returns a snapshot of the Store's counters.
func (s *Store) Stats() Stats {
	return Stats{
		AppliedSeq: s.applied.Load(),
		Applied:    s.nApplied.Load(), Rejected: s.nRejected.Load(), Foreign: s.nForeign.Load(),
		Gaps: s.nGaps.Load(), Published: s.nPublished.Load(), Duplicates: s.nDup.Load(),
		Retries: s.nRetries.Load(), Resets: s.nResets.Load(),
	}
}

// Err returns the error that stopped the Store applying the stream (a
// local storage failure), or nil.
func (s *Store) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatal
}

// AppliedSeq is the last stream sequence number the local ledger has
// applied.
func (s *Store) AppliedSeq() uint64 { return s.applied.Load() }

// WaitApplied waits until the local ledger has applied stream sequence
// seq, ctx ends, the Store closes (ledger.ErrClosed) or applying failed
// (Err).
func (s *Store) WaitApplied(ctx context.Context, seq uint64) error {
	for {
		if s.applied.Load() >= seq {
			return nil
		}
		s.mu.Lock()
		ch, fatal := s.notify, s.fatal
		s.mu.Unlock()
		if s.applied.Load() >= seq {
			return nil
		}
		if fatal != nil {
			return fatal
		}
		if s.closed.Load() {
			return ledger.ErrClosed
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Sync waits until the local ledger has applied every message the stream
// held when Sync was called (one request to the stream leader): a barrier
// after which this node's reads see every append acknowledged before it,
// on any node.
func (s *Store) Sync(ctx context.Context) error {
	if s.closed.Load() {
		return ledger.ErrClosed
	}
	info, err := s.stream.Info(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return ledger.Storage("jetstream: stream info", err)
	}
	return s.WaitApplied(ctx, info.State.LastSeq)
}

func (s *Store) beforeRead(ctx context.Context) error {
	if s.closed.Load() {
		return ledger.ErrClosed
	}
	if s.opts.StrictReads {
		return s.Sync(ctx)
	}
	return nil
}

// QueryEvents is answered by the local ledger (see Options.StrictReads).
func (s *Store) QueryEvents(ctx context.Context, q ledger.EventQuery) ([]ledger.ExperienceEventEnvelope, error) {
	if err := s.beforeRead(ctx); err != nil {
		return nil, err
	}
	return s.l.QueryEvents(ctx, q)
}

// GetTraceLink is answered by the local ledger.
func (s *Store) GetTraceLink(ctx context.Context, id ledger.TraceLinkID) (*ledger.ReplayTrace, error) {
	if err := s.beforeRead(ctx); err != nil {
		return nil, err
	}
	return s.l.GetTraceLink(ctx, id)
}

// Get returns the event with this id from the local ledger (ErrNotFound
// when absent).
func (s *Store) Get(ctx context.Context, id ledger.EventID) (ledger.ExperienceEventEnvelope, error) {
	if err := s.beforeRead(ctx); err != nil {
		return ledger.ExperienceEventEnvelope{}, err
	}
	return s.l.Get(ctx, id)
}

// Scan iterates the local ledger's events matching q in log order
// (ledger.Ledger.Scan); the log order is the stream order on every node.
func (s *Store) Scan(ctx context.Context, q ledger.EventQuery) iter.Seq2[ledger.ExperienceEventEnvelope, error] {
	if err := s.beforeRead(ctx); err != nil {
		return func(yield func(ledger.ExperienceEventEnvelope, error) bool) {
			yield(ledger.ExperienceEventEnvelope{}, err)
		}
	}
	return s.l.Scan(ctx, q)
}

// Follow yields the local ledger's events matching q from ledger sequence
// fromSeq on, then each new one as the stream is applied
// (ledger.Ledger.Follow). Sequence numbers are the ledger's, the same on
// every node.
func (s *Store) Follow(ctx context.Context, q ledger.EventQuery, fromSeq uint64) iter.Seq2[ledger.SeqEnvelope, error] {
	if s.closed.Load() {
		return func(yield func(ledger.SeqEnvelope, error) bool) { yield(ledger.SeqEnvelope{}, ledger.ErrClosed) }
	}
	return s.l.Follow(ctx, q, fromSeq)
}

// Head is the local ledger's digest together with the stream sequence
// it materializes: every node with the same StreamSeq has the same
// Digest.Seq and Digest.Hash (Digest.LedgerID is per node).
type Head struct {
	StreamSeq uint64
	Digest    ledger.Digest
}

// Head returns the local ledger's head and the stream sequence it
// reflects, taken together.
func (s *Store) Head() (Head, error) {
	if s.closed.Load() {
		return Head{}, ledger.ErrClosed
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	d, err := s.l.Head()
	return Head{StreamSeq: s.applied.Load(), Digest: d}, err
}

// Dir is the local ledger's directory.
func (s *Store) Dir() string { return s.opts.Dir }

// StreamName is the stream's name.
func (s *Store) StreamName() string { return s.opts.Stream }

var _ ledger.ExperienceStore = (*Store)(nil)

// retryUnanswered calls op until it returns anything but a request nobody
// answered (nats.ErrNoResponders, nats.ErrTimeout), or ctx ends. Right
// after a stream is created or its leader changes, a server may not yet
// know who answers its API or direct-get requests; that passes within
// moments, while any other error (a missing message, a missing stream) is
// returned at once.
func retryUnanswered(ctx context.Context, log *slog.Logger, op func() error) error {
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		err := op()
		if err == nil || !(errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout)) {
			return err
		}
		log.Debug("request not answered, retrying", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (and then %w)", err, ctx.Err())
		case <-time.After(wait):
		}
	}
}
