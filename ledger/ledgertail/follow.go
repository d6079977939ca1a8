// Package ledgertail follows a ledger written by another process, woken by
// file-change notifications instead of a timer: ledgerctl tail -f.
//
// Follow watches the ledger directory and its wal/ directory with
// fsnotify (inotify on Linux, kqueue on BSD and macOS, ReadDirectoryChangesW
// on Windows). Each notification (a WAL write, a new WAL file, a manifest
// switch) makes it read the new bytes of the WAL through a
// ledger.TailReader, which accepts only complete, checksum-valid frames;
// bursts of notifications are coalesced into one read. Nothing is
// reopened on a timer. Where notification cannot start (no inotify
// instances left, a file system that has none, a vfs.FS other than the
// operating system's), Follow polls every Options.PollInterval instead and
// reports it through Options.OnFallback.
//
// Within the writing process, use Ledger.Follow: the commit itself wakes
// it, with no file system in between.
package ledgertail

import (
	"context"
	"errors"
	"iter"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
)

// Options configure Follow. The zero value (or nil) watches with fsnotify.
type Options struct {
	// Ledger supplies FS and MaxBatchBytes (which must be the writer's).
	// nil: the defaults (the operating system's file system).
	Ledger *ledger.Options
	// PollInterval is the fallback period when notification is not
	// available. 0 = 250 ms.
	PollInterval time.Duration
	// ForcePoll disables notification (tests, exotic file systems).
	ForcePoll bool
	// OnFallback, if set, is called once with the reason when Follow
	// polls instead of watching.
	OnFallback func(reason error)
}

// maxFailures is how many consecutive failed reads Follow tolerates (a
// read-only open racing with a seal or a compaction that switches files)
// before it yields the error.
const maxFailures = 20

// Follow yields every event of the ledger in dir matching q from sequence
// number fromSeq on (0 or 1: the beginning): first those already
// committed, then each new one as the writer commits it, until ctx is done
// (yielding ctx.Err()), the consumer stops, or q.Limit events were
// delivered. It never writes to the ledger and takes no lock.
func Follow(ctx context.Context, dir string, q ledger.EventQuery, fromSeq uint64, o *Options) iter.Seq2[ledger.SeqEnvelope, error] {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	return func(yield func(ledger.SeqEnvelope, error) bool) {
		limit := uint64(1<<64 - 1)
		if q.Limit != nil {
			limit = *q.Limit
		}
		if limit == 0 {
			return
		}
		// Watch before the first read, so nothing committed in between
		// goes unnoticed.
		wake, stop, err := watch(dir, &opts)
		if err != nil {
			if opts.OnFallback != nil {
				opts.OnFallback(err)
			}
			t := time.NewTicker(opts.PollInterval)
			wake, stop = t.C, t.Stop
		}
		defer stop()
		tr, err := ledger.OpenTail(dir, opts.Ledger, fromSeq)
		if err != nil {
			yield(ledger.SeqEnvelope{}, err)
			return
		}
		defer tr.Close()
		var delivered uint64
		failures := 0
		for {
			stopped, err := tr.Read(ctx, q, func(e ledger.SeqEnvelope) bool {
				if !yield(e, nil) {
					delivered = limit
					return false
				}
				delivered++
				return delivered < limit
			})
			if stopped || delivered >= limit {
				return
			}
			if ctx.Err() != nil {
				yield(ledger.SeqEnvelope{}, ctx.Err())
				return
			}
			if err != nil {
				failures++
				if errors.Is(err, ledger.ErrNotLedger) || failures >= maxFailures {
					yield(ledger.SeqEnvelope{}, err)
					return
				}
			} else {
				failures = 0
			}
			select {
			case <-ctx.Done():
				yield(ledger.SeqEnvelope{}, ctx.Err())
				return
			case _, ok := <-wake:
				if !ok {
					// The watcher died: poll from now on.
					if opts.OnFallback != nil {
						opts.OnFallback(errors.New("file-change notification stopped"))
					}
					t := time.NewTicker(opts.PollInterval)
					defer t.Stop()
					wake = t.C
				}
			}
		}
	}
}

// watch starts notification on dir and dir/wal. wake receives a value
// after one or more changes (coalesced).
func watch(dir string, o *Options) (wake <-chan time.Time, stop func(), err error) {
	if o.ForcePoll {
		return nil, nil, errors.New("notification disabled (ForcePoll)")
	}
	if o.Ledger != nil && o.Ledger.FS != nil && o.Ledger.FS != vfs.OS {
		return nil, nil, errors.New("notification needs the operating system's file system")
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, nil, err
	}
	for _, d := range []string{dir, filepath.Join(dir, "wal")} {
		if err := w.Add(d); err != nil {
			w.Close()
			return nil, nil, err
		}
	}
	ch := make(chan time.Time, 1)
	done := make(chan struct{})
	go func() {
		defer close(ch)
		for {
			select {
			case <-done:
				return
			case _, ok := <-w.Events:
				if !ok {
					return
				}
			case _, ok := <-w.Errors:
				// An overflowed queue still means "something changed".
				if !ok {
					return
				}
			}
			select {
			case ch <- time.Now():
			default: // a wake-up is already pending: coalesce
			}
		}
	}()
	return ch, func() { close(done); w.Close() }, nil
}
