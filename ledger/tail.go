package ledger

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/wal"
)

// TailReader follows a ledger that another process writes. Each Read
// delivers the events committed since the previous one by reading only
// the new bytes of the write-ahead log (wal.Tail): no reopen, no lock,
// no write. When the events it needs have already been sealed and their
// WAL files removed (a reader that fell behind, or started before the
// WAL's first event), it reads them from a read-only Open of the ledger
// instead, once, and goes back to the log. Within one process, use
// Ledger.Follow, which is woken by the commit itself.
//
// A TailReader does not know by itself when to Read: package tail wakes
// it on file-change notifications (ledgerctl tail -f). Events are
// delivered once their WAL frame is completely written, which under
// SyncAlways is just before the writer's fdatasync returns (see
// wal.Tail). A TailReader is not safe for concurrent use.
type TailReader struct {
	dir  string
	fs   vfs.FS
	opts Options
	wt   *wal.Tail
}

// OpenTail returns a TailReader of the ledger in dir that delivers events
// from sequence number fromSeq on (0 or 1: the beginning). opts may be
// nil; only FS and MaxBatchBytes (which must be the writer's) are used.
func OpenTail(dir string, opts *Options, fromSeq uint64) (*TailReader, error) {
	o := opts.withDefaults()
	o.ReadOnly = true
	o.Tracer = nil
	m, err := readManifestFile(o.FS, dir)
	if isNotExist(err) {
		return nil, fmt.Errorf("tail %s: no %s: %w", dir, manifestName, ErrNotLedger)
	}
	if err != nil {
		return nil, err
	}
	wt := wal.NewTail(wal.TailOptions{
		FS: o.FS, Dir: filepath.Join(dir, walDirName), Salt: m.Salt, MaxBatchBytes: walMaxBatch(&o),
	}, fromSeq)
	return &TailReader{dir: dir, fs: o.FS, opts: o, wt: wt}, nil
}

// Next returns the sequence number of the next event Read will consider.
func (t *TailReader) Next() uint64 { return t.wt.Next() }

// Close releases the reader's open file.
func (t *TailReader) Close() error { return t.wt.Close() }

// Read calls yield, in log order, for every event committed so far with a
// sequence number >= Next that matches q (q.Limit is ignored: the caller
// counts). It returns stopped=true when yield returned false; Next then
// follows the last event yielded.
func (t *TailReader) Read(ctx context.Context, q EventQuery, yield func(SeqEnvelope) bool) (stopped bool, err error) {
	q.Limit = nil
	delivered := 0
	werr := t.wt.Read(func(b *wal.Batch) error {
		for i, rec := range b.Records {
			seq := b.FirstSeq + uint64(i)
			canon, _, err := splitRecord(rec)
			if err != nil {
				return Storage(fmt.Sprintf("tail: decode event seq %d", seq), err)
			}
			env, err := UnmarshalCanonical(canon)
			if err != nil {
				return Storage(fmt.Sprintf("tail: decode event seq %d", seq), err)
			}
			delivered++
			if !matchesDurable(&q, &env) {
				continue
			}
			if !yield(SeqEnvelope{Seq: seq, Envelope: env}) {
				t.wt.Seek(seq + 1) // the rest of the batch is read again
				stopped = true
				return errStopTail
			}
		}
		return ctx.Err()
	})
	switch {
	case stopped:
		return true, nil
	case errors.Is(werr, wal.ErrTailGap):
	case werr != nil:
		return false, werr
	case delivered > 0:
		return false, nil
	default:
		// Nothing new in the log: are there sealed events past Next
		// (the writer sealed them and dropped its log)?
		m, err := readManifestFile(t.fs, t.dir)
		if err != nil {
			return false, err
		}
		if n := len(m.Segments); n == 0 || m.Segments[n-1].LastSeq < t.wt.Next() {
			return false, nil
		}
	}
	return t.readSealed(ctx, q, yield)
}

var errStopTail = errors.New("tail: consumer stopped")

// readSealed delivers the events from Next on through a read-only Open
// (sealed segments and the WAL), then resumes the log after them.
func (t *TailReader) readSealed(ctx context.Context, q EventQuery, yield func(SeqEnvelope) bool) (bool, error) {
	o := t.opts
	l, err := Open(t.dir, &o)
	if err != nil {
		return false, err
	}
	defer l.Close()
	last := l.LastSeq()
	next := t.wt.Next()
	if last < next {
		t.wt.Seek(next)
		return false, nil
	}
	for e, err := range l.ScanSeq(ctx, q, next) {
		if err != nil {
			t.wt.Seek(next)
			return false, err
		}
		if e.Seq > last {
			break
		}
		next = e.Seq + 1
		if !yield(e) {
			t.wt.Seek(next)
			return true, nil
		}
	}
	t.wt.Seek(last + 1)
	return false, nil
}
