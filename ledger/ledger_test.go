package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgertest"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

var durableCaps = ledgertest.Capabilities{
	AtomicBatches:              true,
	ChainIncludesHypothesis:    true,
	DurableArtifactTransitions: true,
	IdempotentDuplicates:       true,
}

// smallOpts makes segments tiny so every test crosses seals.
func smallOpts(fsys vfs.FS) *ledger.Options {
	return &ledger.Options{
		FS:           fsys,
		Sync:         ledger.SyncNever,
		SegmentBytes: 32 << 10,
		BlockSize:    4 << 10,
		WALFileSize:  64 << 10,
	}
}

func openT(t *testing.T, dir string, o *ledger.Options) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(dir, o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestConformanceDurable(t *testing.T) {
	ledgertest.RunWith(t, durableCaps, func(t *testing.T) ledger.ExperienceStore {
		return openT(t, t.TempDir(), smallOpts(nil))
	})
}

func TestConformanceDurableDefaultOptions(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	// nil options: SyncAlways on the real disk.
	ledgertest.RunWith(t, durableCaps, func(t *testing.T) ledger.ExperienceStore {
		return openT(t, t.TempDir(), nil)
	})
}

// With AllowDuplicates the ledger keeps re-appended ids, so the corpus
// replay (which expects that) runs too.
func TestConformanceAllowDuplicates(t *testing.T) {
	caps := durableCaps
	caps.IdempotentDuplicates = false
	ledgertest.RunWith(t, caps, func(t *testing.T) ledger.ExperienceStore {
		o := smallOpts(vfs.NewMem())
		o.AllowDuplicates = true
		return openT(t, "/l", o)
	})
}

// reopening wraps a Ledger and closes and reopens it before every read, so
// every answer of the suite comes from a ledger recovered from disk.
type reopening struct {
	t    *testing.T
	dir  string
	opts *ledger.Options
	// mu is held shared for the whole of every call and exclusively while
	// reopening, so no call runs on a ledger being closed.
	mu sync.RWMutex
	l  *ledger.Ledger
	n  int
}

func (r *reopening) with(fn func(l *ledger.Ledger)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn(r.l)
}

func (r *reopening) cur() *ledger.Ledger {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.l
}

func (r *reopening) reopen() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	if r.n%3 == 0 {
		// Sometimes seal everything first, sometimes recover from the WAL.
		if err := r.l.Flush(); err != nil {
			r.t.Fatalf("flush: %v", err)
		}
	}
	if err := r.l.Close(); err != nil {
		r.t.Fatalf("close: %v", err)
	}
	l, err := ledger.Open(r.dir, r.opts)
	if err != nil {
		r.t.Fatalf("reopen: %v", err)
	}
	r.l = l
}

func (r *reopening) AppendEvent(ctx context.Context, e ledger.ExperienceEventEnvelope) (err error) {
	r.with(func(l *ledger.Ledger) { err = l.AppendEvent(ctx, e) })
	return err
}
func (r *reopening) AppendEvents(ctx context.Context, es []ledger.ExperienceEventEnvelope) (err error) {
	r.with(func(l *ledger.Ledger) { err = l.AppendEvents(ctx, es) })
	return err
}
func (r *reopening) QueryEvents(ctx context.Context, q ledger.EventQuery) (out []ledger.ExperienceEventEnvelope, err error) {
	r.reopen()
	r.with(func(l *ledger.Ledger) { out, err = l.QueryEvents(ctx, q) })
	return out, err
}
func (r *reopening) WriteArtifactStateTransition(ctx context.Context, id ledger.ArtifactID, k ledger.ArtifactKind, ev ledger.LifecycleEvent) (err error) {
	r.with(func(l *ledger.Ledger) { err = l.WriteArtifactStateTransition(ctx, id, k, ev) })
	return err
}
func (r *reopening) GetTraceLink(ctx context.Context, id ledger.TraceLinkID) (tr *ledger.ReplayTrace, err error) {
	r.reopen()
	r.with(func(l *ledger.Ledger) { tr, err = l.GetTraceLink(ctx, id) })
	return tr, err
}

func TestConformanceAcrossReopen(t *testing.T) {
	caps := durableCaps
	caps.IdempotentDuplicates = false
	ledgertest.RunWith(t, caps, func(t *testing.T) ledger.ExperienceStore {
		o := smallOpts(vfs.NewMem())
		o.AllowDuplicates = true
		r := &reopening{t: t, dir: "/l", opts: o}
		r.l = openT(t, r.dir, o)
		t.Cleanup(func() { r.cur().Close() })
		return r
	})
}

func TestAtomicBatchRejectsWhole(t *testing.T) {
	ctx := context.Background()
	l := openT(t, t.TempDir(), smallOpts(nil))
	g := workload.New(workload.Config{Seed: 1})
	good := g.Batch(5)
	if err := l.AppendEvents(ctx, good); err != nil {
		t.Fatal(err)
	}
	bad := g.Batch(5)
	bad[3].EventID = "bad id"
	err := l.AppendEvents(ctx, bad)
	if !errors.Is(err, ledger.ErrInvalidQuery) {
		t.Fatalf("want ErrInvalidQuery, got %v", err)
	}
	got, err := l.QueryEvents(ctx, ledger.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("store has %d events after a rejected batch, want 5", len(got))
	}
}

func TestDuplicateSemantics(t *testing.T) {
	ctx := context.Background()
	fsys := vfs.NewMem()
	l := openT(t, "/l", smallOpts(fsys))
	g := workload.New(workload.Config{Seed: 2})
	evs := g.Batch(300)
	if err := l.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil { // the first ids are now in a sealed segment
		t.Fatal(err)
	}
	more := g.Batch(10)
	if err := l.AppendEvents(ctx, more); err != nil {
		t.Fatal(err)
	}
	// Byte-identical re-appends (sealed and in-memory) are no-ops.
	if err := l.AppendEvents(ctx, []ledger.ExperienceEventEnvelope{evs[0], more[0], evs[299]}); err != nil {
		t.Fatalf("idempotent re-append: %v", err)
	}
	if last := l.LastSeq(); last != 310 {
		t.Fatalf("LastSeq = %d after idempotent re-append, want 310", last)
	}
	// Same id, other content: rejected, whole batch.
	for _, orig := range []ledger.ExperienceEventEnvelope{evs[5], more[5]} {
		changed := orig
		changed.OccurredAt = "2099-01-01T00:00:00Z"
		fresh := g.Batch(1)[0]
		err := l.AppendEvents(ctx, []ledger.ExperienceEventEnvelope{fresh, changed})
		if !errors.Is(err, ledger.ErrInvalidQuery) {
			t.Fatalf("want ErrInvalidQuery for a reused id, got %v", err)
		}
		if _, err := l.Get(ctx, fresh.EventID); !errors.Is(err, ledger.ErrNotFound) {
			t.Fatalf("event of the rejected batch is visible: %v", err)
		}
		// The rejected batch left nothing behind in the duplicate check:
		// its fresh event, appended again, is stored (not taken for an
		// idempotent repeat of the rejected one).
		if err := l.AppendEvents(ctx, []ledger.ExperienceEventEnvelope{fresh}); err != nil {
			t.Fatalf("append after a rejected batch: %v", err)
		}
		if _, err := l.Get(ctx, fresh.EventID); err != nil {
			t.Fatalf("event appended after a rejected batch: %v", err)
		}
	}
	// Duplicates inside one batch.
	x := g.Batch(1)[0]
	if err := l.AppendEvents(ctx, []ledger.ExperienceEventEnvelope{x, x}); err != nil {
		t.Fatal(err)
	}
	if last := l.LastSeq(); last != 313 {
		t.Fatalf("LastSeq = %d, want 313", last)
	}
	// After a reopen (ids of sealed segments come from the event-id
	// filter, built in the background, or from the indexes before it is
	// ready) the same holds.
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openT(t, "/l", smallOpts(fsys))
	for i := 0; i < 50; i++ {
		changed := evs[i*5]
		changed.OccurredAt = "2099-01-01T00:00:00Z"
		if err := l.AppendEvent(ctx, changed); !errors.Is(err, ledger.ErrInvalidQuery) {
			t.Fatalf("after reopen: reused id %s accepted: %v", changed.EventID, err)
		}
		if err := l.AppendEvent(ctx, evs[i*5+1]); err != nil {
			t.Fatalf("after reopen: idempotent re-append: %v", err)
		}
	}
	if last := l.LastSeq(); last != 313 {
		t.Fatalf("LastSeq = %d after reopen, want 313", last)
	}
}

func TestArtifactTransitionDurable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openT(t, dir, smallOpts(nil))
	tenant := "acme"
	ev := ledger.LifecycleEvent{FromState: "Draft", ToState: "Approved", Timestamp: "2026-03-01T10:00:00Z", Actor: "a", Reason: "r", TenantID: &tenant}
	if err := l.WriteArtifactStateTransition(ctx, "art-1", ledger.ArtifactKind{Kind: ledger.ArtifactKindAdapter}, ev); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openT(t, dir, smallOpts(nil))
	if err := l.WriteArtifactStateTransition(ctx, "art-1", ledger.ArtifactKind{Kind: ledger.ArtifactKindAdapter}, ledger.LifecycleEvent{FromState: "Approved", ToState: "Active"}); err != nil {
		t.Fatal(err)
	}
	got, err := l.QueryEvents(ctx, ledger.EventQuery{Kinds: []ledger.ExperienceEventKind{ledger.KindArtifactStateTransitioned}})
	if err != nil || len(got) != 2 {
		t.Fatalf("got %d events, err %v", len(got), err)
	}
	if got[0].EventID == got[1].EventID {
		t.Fatalf("transition ids collide across restarts: %s", got[0].EventID)
	}
	if got[0].OccurredAt != "2026-03-01T10:00:00Z" || got[0].TenantID == nil || *got[0].TenantID != "acme" {
		t.Fatalf("first transition: occurred_at %q tenant %v", got[0].OccurredAt, got[0].TenantID)
	}
	if _, err := time.Parse(time.RFC3339Nano, string(got[1].OccurredAt)); err != nil {
		t.Fatalf("empty lifecycle timestamp should give now in RFC 3339: %q", got[1].OccurredAt)
	}
}

func TestOrderByTime(t *testing.T) {
	ctx := context.Background()
	l := openT(t, "/l", smallOpts(vfs.NewMem()))
	g := workload.New(workload.Config{Seed: 3})
	evs := g.Batch(2000)
	if err := l.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	got, err := l.QueryEventsOrdered(ctx, ledger.EventQuery{}, ledger.OrderTime)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(evs) {
		t.Fatalf("got %d", len(got))
	}
	pos := map[ledger.EventID]int{}
	for i, e := range evs {
		pos[e.EventID] = i
	}
	for i := 1; i < len(got); i++ {
		a, b := got[i-1], got[i]
		if a.OccurredAt > b.OccurredAt || (a.OccurredAt == b.OccurredAt && pos[a.EventID] > pos[b.EventID]) {
			t.Fatalf("not in occurred_at order (ties in log order) at %d", i)
		}
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, nil)
	_, err := ledger.Open(dir, nil)
	if !errors.Is(err, ledger.ErrLocked) {
		t.Fatalf("second open: want ErrLocked, got %v", err)
	}
	l.Close()
	l2, err := ledger.Open(dir, nil)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	l2.Close()
}

func TestClosedLedger(t *testing.T) {
	ctx := context.Background()
	l := openT(t, t.TempDir(), nil)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	g := workload.New(workload.Config{Seed: 4})
	checks := []error{
		l.AppendEvent(ctx, g.Next()),
		l.Sync(),
	}
	_, err := l.QueryEvents(ctx, ledger.EventQuery{})
	checks = append(checks, err)
	_, err = l.GetTraceLink(ctx, "x")
	checks = append(checks, err)
	_, err = l.Get(ctx, "x")
	checks = append(checks, err)
	for i, err := range checks {
		if !errors.Is(err, ledger.ErrClosed) {
			t.Errorf("call %d on a closed ledger: want ErrClosed, got %v", i, err)
		}
	}
}

func TestNotALedger(t *testing.T) {
	fs := vfs.NewMem()
	fs.MkdirAll("/d")
	f, _ := fs.Create("/d/notes.txt")
	f.Write([]byte("hello"))
	f.Close()
	if _, err := ledger.Open("/d", &ledger.Options{FS: fs}); !errors.Is(err, ledger.ErrNotLedger) {
		t.Fatalf("want ErrNotLedger, got %v", err)
	}
}

func TestMaxEventSize(t *testing.T) {
	ctx := context.Background()
	o := smallOpts(vfs.NewMem())
	o.MaxEventBytes = 2048
	l := openT(t, "/l", o)
	g := workload.New(workload.Config{Seed: 5})
	var big ledger.ExperienceEventEnvelope
	for {
		e := g.Next()
		b, _ := ledger.MarshalCanonical(&e)
		if len(b) > 2048 {
			big = e
			break
		}
	}
	if err := l.AppendEvent(ctx, big); !errors.Is(err, ledger.ErrInvalidQuery) {
		t.Fatalf("oversized event: want ErrInvalidQuery, got %v", err)
	}
	if l.LastSeq() != 0 {
		t.Fatalf("oversized event was stored")
	}
}

func TestCancelledContext(t *testing.T) {
	l := openT(t, t.TempDir(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g := workload.New(workload.Config{Seed: 6})
	if err := l.AppendEvent(ctx, g.Next()); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	if _, err := l.QueryEvents(ctx, ledger.EventQuery{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("query: want context.Canceled, got %v", err)
	}
	if l.LastSeq() != 0 {
		t.Fatal("append with a cancelled context stored something")
	}
}

// Writers, readers, Follow subscribers and sealing run together. Readers
// must see whole batches only, sequence numbers dense and monotonic, and
// repeatable snapshots.
func TestConcurrentWritersReadersSealing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := openT(t, "/l", smallOpts(vfs.NewMem()))
	const writers, batches, per = 4, 40, 5
	var wg sync.WaitGroup
	var done atomic.Bool
	errc := make(chan error, 64)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			g := workload.New(workload.Config{Seed: int64(100 + w)})
			for b := 0; b < batches; b++ {
				evs := g.Batch(per)
				for i := range evs {
					c := ledger.CorrelationID(fmt.Sprintf("w%d-b%d", w, b))
					evs[i].CorrelationID = &c
				}
				if err := l.AppendEvents(ctx, evs); err != nil {
					errc <- err
					return
				}
			}
		}(w)
	}
	var rwg sync.WaitGroup
	for r := 0; r < 3; r++ {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for !done.Load() {
				var prev uint64
				counts := map[ledger.CorrelationID]int{}
				for e, err := range l.ScanSeq(ctx, ledger.EventQuery{}, 1) {
					if err != nil {
						errc <- err
						return
					}
					if e.Seq != prev+1 {
						errc <- fmt.Errorf("scan: seq %d after %d", e.Seq, prev)
						return
					}
					prev = e.Seq
					counts[*e.Envelope.CorrelationID]++
				}
				for c, n := range counts {
					if n != per {
						errc <- fmt.Errorf("torn batch visible: %s has %d of %d events", c, n, per)
						return
					}
				}
			}
		}()
	}
	// A follower must see every event exactly once, in order.
	follow := make(chan uint64, 1)
	go func() {
		fctx, fcancel := context.WithCancel(ctx)
		defer fcancel()
		var n, prev uint64
		for e, err := range l.Follow(fctx, ledger.EventQuery{}, 1) {
			if err != nil {
				errc <- err
				break
			}
			if e.Seq != prev+1 {
				errc <- fmt.Errorf("follow: seq %d after %d", e.Seq, prev)
				break
			}
			prev = e.Seq
			n++
			if n == writers*batches*per {
				break
			}
		}
		follow <- n
	}()
	wg.Wait()
	done.Store(true)
	rwg.Wait()
	select {
	case n := <-follow:
		if n != writers*batches*per {
			t.Fatalf("follower saw %d events", n)
		}
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("follower did not catch up")
	}
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	if m := l.Metrics(); m.Seals == 0 {
		t.Fatalf("no segment was sealed during the test: %+v", m)
	}
}

// A clean Close seals the tail and drops the WAL files it covered, so the
// next Open verifies no log; the events are all there.
func TestCleanCloseLeavesNoWAL(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	o := smallOpts(mem)
	l := openT(t, "/l", o)
	g := workload.New(workload.Config{Seed: 61, OutlierRate: -1})
	for i := 0; i < 20; i++ {
		if err := l.AppendEvents(ctx, g.Batch(25)); err != nil {
			t.Fatal(err)
		}
	}
	head, _ := l.Head()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := mem.List("/l/wal")
	for _, n := range names {
		if strings.HasSuffix(n, ".wal") {
			t.Fatalf("WAL file %s left after a clean close", n)
		}
	}
	// A crash right after the close changes nothing either.
	img := mem.Crash(vfs.CrashDropUnsynced, nil)
	for _, fsys := range []vfs.FS{mem, img} {
		o := smallOpts(fsys)
		l2, err := ledger.Open("/l", o)
		if err != nil {
			t.Fatal(err)
		}
		if l2.LastSeq() != 500 || l2.Metrics().RecoveredWAL != 0 {
			t.Fatalf("LastSeq %d, replayed %d", l2.LastSeq(), l2.Metrics().RecoveredWAL)
		}
		if err := l2.VerifyDigest(ctx, head); err != nil {
			t.Fatal(err)
		}
		if err := l2.AppendEvents(ctx, g.Batch(3)); err != nil {
			t.Fatal(err)
		}
		l2.Close()
	}
}

// TestRecycledWAL: the ledger keeps checkpointed WAL files for reuse
// (".wal.free") and makes its next WAL files from them; a crash with
// recycled files loses nothing, and a clean Close removes the free files
// with the log.
func TestRecycledWAL(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	o := smallOpts(mem)
	o.Sync = ledger.SyncAlways
	l := openT(t, "/l", o)
	g := workload.New(workload.Config{Seed: 62, OutlierRate: -1})
	var n uint64
	for i := 0; i < 40; i++ {
		b := g.Batch(25)
		if err := l.AppendEvents(ctx, b); err != nil {
			t.Fatal(err)
		}
		n += uint64(len(b))
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		b := g.Batch(25)
		if err := l.AppendEvents(ctx, b); err != nil {
			t.Fatal(err)
		}
		n += uint64(len(b))
	}
	if l.Metrics().WALRecycled == 0 {
		t.Fatal("no WAL file was recycled")
	}
	free := func(fsys vfs.FS) int {
		names, _ := fsys.List("/l/wal")
		c := 0
		for _, nm := range names {
			if strings.HasSuffix(nm, ".wal.free") {
				c++
			}
		}
		return c
	}
	if l.Metrics().DiskBytes.WAL == 0 {
		t.Fatal("no WAL bytes")
	}
	// A power loss now: every acknowledged (SyncAlways) event is there.
	img := mem.Crash(vfs.CrashKeepRandom, nil)
	head, _ := l.Head()
	// Seal everything: the checkpoint that follows the seal (after Flush
	// returns) keeps covered files for reuse, and with no more appends
	// nothing takes them.
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); free(mem) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no WAL file kept for reuse after the last seal's checkpoint")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if c := free(mem); c != 0 {
		t.Fatalf("%d free WAL files left after a clean close", c)
	}
	o2 := smallOpts(img)
	l2, err := ledger.Open("/l", o2)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if l2.LastSeq() != n {
		t.Fatalf("after the crash LastSeq %d, want %d", l2.LastSeq(), n)
	}
	if err := l2.VerifyDigest(ctx, head); err != nil {
		t.Fatal(err)
	}
	if err := l2.AppendEvents(ctx, g.Batch(3)); err != nil {
		t.Fatal(err)
	}
}

// TestLargeBatchEncoding: a batch large enough to be encoded on several
// goroutines stores exactly the events given, in order, byte for byte.
func TestLargeBatchEncoding(t *testing.T) {
	ctx := context.Background()
	l := openT(t, "/l", smallOpts(vfs.NewMem()))
	defer l.Close()
	evs := workload.New(workload.Config{Seed: 31}).Batch(1500)
	if err := l.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	i := 0
	for got, err := range l.Scan(ctx, ledger.EventQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		want, err := ledger.MarshalCanonical(&evs[i])
		if err != nil {
			t.Fatal(err)
		}
		have, err := ledger.MarshalCanonical(&got)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(have, want) {
			t.Fatalf("event %d (%s) differs from the one appended", i, evs[i].EventID)
		}
		i++
	}
	if i != len(evs) {
		t.Fatalf("scanned %d events, want %d", i, len(evs))
	}
	// Every one is found by id (the index entries match the records).
	for _, j := range []int{0, 374, 375, 749, 750, 1499} {
		if _, err := l.Get(ctx, evs[j].EventID); err != nil {
			t.Fatalf("Get(%s): %v", evs[j].EventID, err)
		}
	}
}

// TestMetricsWALDirect: Metrics says whether the WAL writes with direct
// I/O and, when the file system refused it, why.
func TestMetricsWALDirect(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name         string
		buffered     bool
		refuse       bool
		wantDirect   bool
		wantFallback bool
	}{
		{"default", false, false, true, false},
		{"BufferedWAL", true, false, false, false},
		{"refused by the file system", false, true, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ff := vfs.NewFault(vfs.NewMem())
			if tc.refuse {
				ff.RefuseDirect(syscall.EINVAL)
			}
			o := smallOpts(ff)
			o.BufferedWAL = tc.buffered
			l := openT(t, "/l", o)
			g := workload.New(workload.Config{Seed: 63, OutlierRate: -1})
			if err := l.AppendEvents(ctx, g.Batch(10)); err != nil {
				t.Fatal(err)
			}
			m := l.Metrics()
			if m.WALDirect != tc.wantDirect {
				t.Errorf("WALDirect = %v, want %v", m.WALDirect, tc.wantDirect)
			}
			if (m.WALDirectFallback != "") != tc.wantFallback {
				t.Errorf("WALDirectFallback = %q, want one: %v", m.WALDirectFallback, tc.wantFallback)
			}
		})
	}
}
