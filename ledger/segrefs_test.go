package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
)

// openSegFiles returns how many segment and index files are open.
func openSegFiles(fsys *openCountFS) (segs, idxs int) {
	return fsys.count(".seg"), fsys.count(".idx")
}

// waitSegFiles waits (up to 10 s: a background id-filter build or tree
// catch-up may hold a set for a moment) until exactly want segment files
// and want index files are open, and fails with what is open otherwise.
func waitSegFiles(t *testing.T, fsys *openCountFS, want int, when string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, x := openSegFiles(fsys)
		if s == want && x == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d segment and %d index files open, want %d of each: %v", when, s, x, want, fsys.names())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRetiredSegmentsClosedWhenReadersDone: a scan in flight across a
// Compact keeps reading the replaced segments (correct results, with a
// 1-byte block and index cache so every read goes to the files), which
// stay open while it runs; once it ends they are closed, without Close: the
// open files are the live segments' again. A Follow that has caught up and
// waits for new events holds no segment.
func TestRetiredSegmentsClosedWhenReadersDone(t *testing.T) {
	ctx := context.Background()
	fsys := newOpenCountFS(vfs.NewMem())
	g := fdFixture(t, fsys)
	before := len(segNames(t, fsys))
	o := smallOpts(fsys)
	o.EmbeddingDim = relDim
	o.IndexCacheBytes = 1
	o.CacheBytes = 1
	l, err := ledger.Open("/l", o)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ledger.TreeHashesInMemoryForTest(l) // the tree's load is done
	fdQueries(t, l, g)
	waitSegFiles(t, fsys, before, "baseline")

	q := queriesFor(g)[1] // one tenant: results in every segment
	want, err := l.QueryEvents(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 20 {
		t.Fatalf("fixture: %d results", len(want))
	}
	next, stop := iter.Pull2(l.Scan(ctx, q))
	e, err, ok := next()
	if !ok || err != nil || e.EventID != want[0].EventID {
		t.Fatalf("first result: %v %v", ok, err)
	}
	rep, err := l.Compact(ctx, ledger.CompactOptions{TargetBytes: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	if rep.SegmentsAfter >= before {
		t.Fatalf("compaction left %d of %d segments", rep.SegmentsAfter, before)
	}
	// The scan holds the replaced segments; a query after the switch
	// opens only the new ones.
	fdQueries(t, l, g)
	if s, x := openSegFiles(fsys); s != before+rep.SegmentsAfter || x != before+rep.SegmentsAfter {
		t.Fatalf("scan in flight: %d segment and %d index files open, want %d (%d retired + %d live): %v",
			s, x, before+rep.SegmentsAfter, before, rep.SegmentsAfter, fsys.names())
	}
	for i := 1; ; i++ {
		e, err, ok := next()
		if !ok {
			if i != len(want) {
				t.Fatalf("scan across a Compact: %d results, want %d", i, len(want))
			}
			break
		}
		if err != nil {
			t.Fatalf("scan across a Compact, result %d: %v", i, err)
		}
		if e.EventID != want[i].EventID {
			t.Fatalf("result %d: %s, want %s", i, e.EventID, want[i].EventID)
		}
	}
	stop()
	waitSegFiles(t, fsys, rep.SegmentsAfter, "scan done after a Compact")

	// A scan stopped early releases them too.
	if err := l.AppendEvents(ctx, g.Batch(300)); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	live := l.Metrics().Segments
	waitSegFiles(t, fsys, live, "after a seal")
	next, stop = iter.Pull2(l.Scan(ctx, ledger.EventQuery{}))
	if _, err, ok := next(); !ok || err != nil {
		t.Fatalf("first result: %v %v", ok, err)
	}
	rep, err = l.Compact(ctx, ledger.CompactOptions{TargetBytes: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := openSegFiles(fsys); s != live+rep.SegmentsAfter {
		t.Fatalf("scan in flight: %d segment files open, want %d: %v", s, live+rep.SegmentsAfter, fsys.names())
	}
	stop()
	waitSegFiles(t, fsys, rep.SegmentsAfter, "scan stopped after a Compact")

	// A Follow that has delivered everything and waits for more.
	fctx, cancel := context.WithCancel(ctx)
	total := l.LastSeq()
	caught := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		n := uint64(0)
		for _, err := range l.Follow(fctx, ledger.EventQuery{}, 1) {
			if err != nil {
				done <- err
				return
			}
			if n++; n == total {
				close(caught)
			}
		}
		done <- nil
	}()
	<-caught
	if err := l.AppendEvents(ctx, g.Batch(300)); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	rep, err = l.Compact(ctx, ledger.CompactOptions{TargetBytes: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	waitSegFiles(t, fsys, rep.SegmentsAfter, "a Follow waiting after a Compact")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("follow: %v", err)
	}
}

// TestRetiredSegmentsUnderConcurrentReads: queries, scans, point lookups,
// raw scans, proofs and backups run on several goroutines while appends,
// seals and compactions replace the segments under them (run with -race):
// every read returns exactly the events of its snapshot (checked against
// the events appended), no read fails on a closed file, and once the
// readers are done the open segment and index files are the live
// segments' again, without Close.
func TestRetiredSegmentsUnderConcurrentReads(t *testing.T) {
	ctx := context.Background()
	fsys := newOpenCountFS(vfs.NewMem())
	g := fdFixture(t, fsys)
	o := smallOpts(fsys)
	o.EmbeddingDim = relDim
	o.IndexCacheBytes = 1 << 10
	o.CacheBytes = 1 << 12
	l, err := ledger.Open("/l", o)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Every event's canonical bytes by id, as appended (the fixture's,
	// then this test's).
	byID := map[ledger.EventID]string{}
	var mu sync.RWMutex
	canon := func(e ledger.ExperienceEventEnvelope) string {
		b, err := ledger.MarshalCanonical(&e)
		if err != nil {
			return "error: " + err.Error()
		}
		return string(b)
	}
	for e, err := range l.Scan(ctx, ledger.EventQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		byID[e.EventID] = canon(e)
	}
	check := func(e ledger.ExperienceEventEnvelope) error {
		mu.RLock()
		w, ok := byID[e.EventID]
		mu.RUnlock()
		if !ok {
			return fmt.Errorf("event %s was never appended", e.EventID)
		}
		if w != canon(e) {
			return fmt.Errorf("event %s differs from the one appended", e.EventID)
		}
		return nil
	}
	qs := queriesFor(g)
	stopR := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopR:
					return
				default:
				}
				q := qs[(w+i)%len(qs)]
				switch i % 5 {
				case 0, 1: // a scan, in log order, slowly
					last := uint64(0)
					for e, err := range l.ScanSeq(ctx, q, 1) {
						if err != nil {
							fail(fmt.Errorf("scan: %w", err))
							return
						}
						if e.Seq <= last {
							fail(fmt.Errorf("scan: seq %d after %d", e.Seq, last))
							return
						}
						last = e.Seq
						if err := check(e.Envelope); err != nil {
							fail(err)
							return
						}
						if e.Seq%7 == 0 {
							time.Sleep(10 * time.Microsecond)
						}
					}
				case 2: // a query, and each result by id
					evs, err := l.QueryEvents(ctx, q)
					if err != nil {
						fail(fmt.Errorf("query: %w", err))
						return
					}
					for k, e := range evs {
						if err := check(e); err != nil {
							fail(err)
							return
						}
						if k%5 == 0 {
							got, err := l.Get(ctx, e.EventID)
							if err != nil {
								fail(fmt.Errorf("get: %w", err))
								return
							}
							if err := check(got); err != nil {
								fail(err)
								return
							}
						}
					}
				case 3: // raw records and a trace lookup
					for r, err := range l.ScanRaw(ctx, q, 1) {
						if err != nil {
							fail(fmt.Errorf("raw scan: %w", err))
							return
						}
						e, err := ledger.UnmarshalCanonical(r.Canonical)
						if err != nil {
							fail(err)
							return
						}
						if err := check(e); err != nil {
							fail(err)
							return
						}
					}
					if _, err := l.GetTraceLink(ctx, "tl-000001"); err != nil {
						fail(fmt.Errorf("trace link: %w", err))
						return
					}
				case 4: // the tree and the chain over every event
					if _, err := l.TreeHead(ctx); err != nil {
						fail(fmt.Errorf("tree head: %w", err))
						return
					}
					if _, err := l.Head(); err != nil {
						fail(fmt.Errorf("head: %w", err))
						return
					}
				}
			}
		}()
	}
	// The writer: appends, seals, compactions, now and then a backup.
	for round := 0; round < 12; round++ {
		evs := g.Batch(150)
		mu.Lock()
		for _, e := range evs {
			byID[e.EventID] = canon(e)
		}
		mu.Unlock()
		if err := l.AppendEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Compact(ctx, ledger.CompactOptions{TargetBytes: int64(1+round%3) << 14}); err != nil {
			t.Fatal(err)
		}
		if round%4 == 3 {
			if _, err := l.Backup(ctx, fmt.Sprintf("/bk%d", round)); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
	}
	close(stopR)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if _, err := l.Verify(ctx, nil); err != nil {
		t.Fatal(err)
	}
	waitSegFiles(t, fsys, l.Metrics().Segments, "readers done after compactions")
}
