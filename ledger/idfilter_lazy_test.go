package ledger_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// lazyIDFixture writes n events into many small sealed segments and closes
// the ledger.
func lazyIDFixture(t *testing.T, n int) (vfs.FS, []ledger.ExperienceEventEnvelope, *workload.Generator) {
	t.Helper()
	ctx := context.Background()
	fsys := vfs.NewMem()
	l, err := ledger.Open("/l", smallOpts(fsys))
	if err != nil {
		t.Fatal(err)
	}
	g := workload.New(workload.Config{Seed: 17, OutlierRate: -1})
	evs := g.Batch(n)
	for i := 0; i < n; i += 100 {
		if err := l.AppendEvents(ctx, evs[i:min(i+100, n)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil { // seals the tail: no WAL replay at the next Open
		t.Fatal(err)
	}
	return fsys, evs, g
}

func changedEnv(e ledger.ExperienceEventEnvelope) ledger.ExperienceEventEnvelope {
	e.OccurredAt = "2099-01-01T00:00:00Z"
	return e
}

// waitIDFilterReady waits for the background build of the id filter.
func waitIDFilterReady(t *testing.T, l *ledger.Ledger) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		started, ready, _ := ledger.IDFilterStateForTest(l)
		if ready {
			return
		}
		if !started {
			t.Fatal("id filter: build not started")
		}
		if time.Now().After(deadline) {
			t.Fatal("id filter: not ready after 60 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// checkDups appends, for every step-th event of evs, the event with other
// content (must fail with ErrInvalidQuery, the whole batch rejected) and
// the event itself (an idempotent no-op), and checks LastSeq is unchanged.
func checkDups(t *testing.T, l *ledger.Ledger, evs []ledger.ExperienceEventEnvelope, step int, what string) {
	t.Helper()
	ctx := context.Background()
	last := l.LastSeq()
	for i := 0; i < len(evs); i += step {
		if err := l.AppendEvent(ctx, changedEnv(evs[i])); !errors.Is(err, ledger.ErrInvalidQuery) {
			t.Fatalf("%s: event %d (%s) with other content: got %v, want ErrInvalidQuery", what, i, evs[i].EventID, err)
		}
		if err := l.AppendEvents(ctx, []ledger.ExperienceEventEnvelope{evs[i]}); err != nil {
			t.Fatalf("%s: idempotent re-append of event %d: %v", what, i, err)
		}
	}
	if got := l.LastSeq(); got != last {
		t.Fatalf("%s: LastSeq %d after duplicates, want %d", what, got, last)
	}
}

// TestIDFilterNotBuiltWithoutAppends: a writable Open that only reads
// never builds the ledger-wide event-id filter (before, Open started the
// build: ~179 MB and ~13 s of CPU at 100M); the first append builds it,
// and that append's duplicate check is exact meanwhile.
func TestIDFilterNotBuiltWithoutAppends(t *testing.T) {
	ctx := context.Background()
	fsys, evs, g := lazyIDFixture(t, 1500)
	l, err := ledger.Open("/l", smallOpts(fsys))
	if err != nil {
		t.Fatal(err)
	}
	if m := l.Metrics(); m.Segments < 5 {
		t.Fatalf("fixture: %d segments, want several", m.Segments)
	}
	for i := 0; i < len(evs); i += 97 {
		got, err := l.Get(ctx, evs[i].EventID)
		if err != nil || got.EventID != evs[i].EventID {
			t.Fatalf("Get %s: %v", evs[i].EventID, err)
		}
	}
	all, err := l.QueryEvents(ctx, ledger.EventQuery{})
	if err != nil || len(all) != len(evs) {
		t.Fatalf("QueryEvents: %d events, %v", len(all), err)
	}
	if _, err := l.Verify(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil { // waits for background work
		t.Fatal(err)
	}
	if started, ready, filters := ledger.IDFilterStateForTest(l); started || ready || filters != 0 {
		t.Fatalf("after reads only: started %v, ready %v, %d filters; want none", started, ready, filters)
	}

	l = openT(t, "/l", smallOpts(fsys))
	// The first append right after Open is a duplicate: caught exactly.
	if err := l.AppendEvent(ctx, changedEnv(evs[3])); !errors.Is(err, ledger.ErrInvalidQuery) {
		t.Fatalf("first append, a reused id: got %v, want ErrInvalidQuery", err)
	}
	if started, _, _ := ledger.IDFilterStateForTest(l); !started {
		t.Fatal("the first append did not start the id filter's build")
	}
	waitIDFilterReady(t, l)
	if _, _, filters := ledger.IDFilterStateForTest(l); filters == 0 {
		t.Fatal("ready filter holds no filters")
	}
	checkDups(t, l, evs, 13, "filter ready")
	fresh := g.Batch(10)
	if err := l.AppendEvents(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	if got := l.LastSeq(); got != uint64(len(evs)+len(fresh)) {
		t.Fatalf("LastSeq %d, want %d", got, len(evs)+len(fresh))
	}
}

// TestIDFilterAppendsDuringBuild holds the build halfway and checks that
// appends meanwhile see exact duplicate checks, that a seal and a
// compaction with retention during the build leave nothing out of the
// finished filter, and that the same holds after a reopen.
func TestIDFilterAppendsDuringBuild(t *testing.T) {
	ctx := context.Background()
	fsys, evs, g := lazyIDFixture(t, 2000)
	l := openT(t, "/l", smallOpts(fsys))
	paused, release := make(chan struct{}), make(chan struct{})
	ledger.SetIDFilterAfterSegForTest(l, func(done int) {
		if done == 3 {
			close(paused)
			<-release
		}
	})
	// Right after Open: the first append is a duplicate of a sealed event.
	if err := l.AppendEvent(ctx, changedEnv(evs[len(evs)-1])); !errors.Is(err, ledger.ErrInvalidQuery) {
		t.Fatalf("first append, a reused id: got %v, want ErrInvalidQuery", err)
	}
	<-paused
	if _, ready, _ := ledger.IDFilterStateForTest(l); ready {
		t.Fatal("filter ready while its build is held")
	}
	checkDups(t, l, evs, 7, "during the build")

	// A seal during the build: its segment is not in the build's snapshot.
	sealed := g.Batch(300)
	if err := l.AppendEvents(ctx, sealed); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	// A compaction with retention during the build: the snapshot's
	// segments are replaced (their files removed) and a prefix dropped.
	bound := ledger.Timestamp(evs[400].OccurredAt)
	rep, err := l.Compact(ctx, ledger.CompactOptions{RetainAfter: &bound})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DroppedEvents == 0 || rep.DroppedEvents > 400 {
		t.Fatalf("retention dropped %d events, want a prefix of at most 400", rep.DroppedEvents)
	}
	kept := evs[rep.DroppedEvents:]
	checkDups(t, l, kept, 11, "during the build, after compaction")
	checkDups(t, l, sealed, 7, "during the build, sealed meanwhile")
	if _, ready, _ := ledger.IDFilterStateForTest(l); ready {
		t.Fatal("filter ready while its build is held")
	}

	close(release)
	waitIDFilterReady(t, l)
	checkDups(t, l, kept, 5, "after the build")
	checkDups(t, l, sealed, 3, "after the build, sealed during it")
	fresh := g.Batch(50)
	last := l.LastSeq()
	if err := l.AppendEvents(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	if got := l.LastSeq(); got != last+50 {
		t.Fatalf("fresh events: LastSeq %d, want %d", got, last+50)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openT(t, "/l", smallOpts(fsys))
	checkDups(t, l, fresh, 1, "after reopen, before the build")
	waitIDFilterReady(t, l)
	checkDups(t, l, kept, 9, "after reopen")
	checkDups(t, l, sealed, 9, "after reopen, sealed")
}

// TestIDFilterFirstAppendRacesQueries runs the first appends after Open
// (which start the filter's build) beside queries of the sealed events
// (run it with -race).
func TestIDFilterFirstAppendRacesQueries(t *testing.T) {
	ctx := context.Background()
	fsys, evs, g := lazyIDFixture(t, 1500)
	l := openT(t, "/l", smallOpts(fsys))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	tenant := *evs[0].TenantID
	want := 0
	for _, e := range evs {
		if e.TenantID != nil && *e.TenantID == tenant {
			want++
		}
	}
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i += 31 {
				select {
				case <-stop:
					return
				default:
				}
				e := evs[i%len(evs)]
				got, err := l.Get(ctx, e.EventID)
				if err != nil || got.EventID != e.EventID || got.OccurredAt != e.OccurredAt {
					errc <- errors.Join(errors.New("Get "+string(e.EventID)), err)
					return
				}
				if i%5 == 0 {
					// At least the sealed events of this tenant (the
					// appends below add more).
					rs, err := l.QueryEvents(ctx, ledger.EventQuery{TenantID: &tenant})
					if err != nil || len(rs) < want {
						errc <- errors.Join(errors.New("QueryEvents: too few results"), err)
						return
					}
				}
			}
		}()
	}
	for i := 0; i < 40; i++ {
		e := evs[(i*37)%len(evs)]
		if err := l.AppendEvent(ctx, changedEnv(e)); !errors.Is(err, ledger.ErrInvalidQuery) {
			t.Errorf("append %d, a reused id: got %v, want ErrInvalidQuery", i, err)
			break
		}
		last := l.LastSeq()
		if err := l.AppendEvents(ctx, append(g.Batch(5), e)); err != nil {
			t.Errorf("append %d: %v", i, err)
			break
		}
		if got := l.LastSeq(); got != last+5 {
			t.Errorf("append %d: LastSeq %d, want %d (the repeat is a no-op)", i, got, last+5)
			break
		}
	}
	waitIDFilterReady(t, l)
	close(stop)
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	checkDups(t, l, evs, 17, "after the build")
}
