package ledger_test

// Concurrency under -race (reliability research T16, guarantees G2, G3):
// writers, readers (filtered queries, full scans), Follow subscribers,
// sealing (Flush) and compaction run together. Readers must only ever see
// whole batches, dense and monotonic sequence numbers, snapshots that are
// prefixes of the log (each writer's batches in its order), and their own
// acknowledged writes.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

func TestStressConcurrentEverything(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dur := 3 * time.Second
	if testing.Short() {
		dur = time.Second
	}
	if relLong() {
		dur = 30 * time.Second
	}
	o := relOpts(relNewMem())
	o.Sync = ledger.SyncNever // group commit without fsync cost: more interleavings
	l, err := ledger.Open("/l", o)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	const writers, readers, followers = 4, 3, 2
	var (
		stop                                    atomic.Bool
		appends, scans, queries, follows, seals atomic.Int64
		compactions                             atomic.Int64
		mu                                      sync.Mutex
		batchSize                               = map[int]int{} // id -> events, once acknowledged
		errs                                    = make(chan error, 100)
	)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
		stop.Store(true)
	}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			g := workload.New(workload.Config{Seed: int64(900 + w), OutlierRate: -1, Tenants: 4})
			for i := 0; !stop.Load(); i++ {
				b := relNewBatch(g, w*1_000_000+i, 1+i%9)
				if err := relAppend(ctx, l, b); err != nil {
					report(fmt.Errorf("writer %d: %w", w, err))
					return
				}
				appends.Add(1)
				mu.Lock()
				batchSize[b.id] = len(b.evs)
				mu.Unlock()
				if i%16 == 0 { // read your own acknowledged write
					got, err := l.QueryEvents(ctx, ledger.EventQuery{CorrelationID: b.evs[0].CorrelationID})
					if err != nil || len(got) != len(b.evs) {
						report(fmt.Errorf("writer %d: own batch %d: %d of %d events (err %v)", w, b.id, len(got), len(b.evs), err))
						return
					}
				}
			}
		}(w)
	}
	// checkScan verifies one full scan: dense seqs from 1, whole batches,
	// and per writer a prefix of its batches.
	checkScan := func(who string) error {
		var prev uint64
		curID, curN, pos := -1, 0, 0
		lastOf := map[int]int{} // writer -> last batch index seen
		for e, err := range l.ScanSeq(ctx, ledger.EventQuery{}, 1) {
			if err != nil {
				return fmt.Errorf("%s: scan: %w", who, err)
			}
			if e.Seq != prev+1 {
				return fmt.Errorf("%s: seq %d after %d", who, e.Seq, prev)
			}
			prev = e.Seq
			id, n, ok := relParseTag(e.Envelope.CorrelationID)
			if !ok {
				return fmt.Errorf("%s: untagged event at seq %d", who, e.Seq)
			}
			if pos == 0 {
				curID, curN = id, n
				w, i := id/1_000_000, id%1_000_000
				if last, seen := lastOf[w]; (seen && i != last+1) || (!seen && i != 0) {
					return fmt.Errorf("%s: writer %d's batch %d visible after its batch %d", who, w, i, last)
				}
				lastOf[w] = i
			} else if id != curID {
				return fmt.Errorf("%s: torn batch %d: %d of %d events, then batch %d", who, curID, pos, curN, id)
			}
			pos++
			if pos == curN {
				pos = 0
			}
		}
		if pos != 0 {
			return fmt.Errorf("%s: torn batch %d at the end: %d of %d events", who, curID, pos, curN)
		}
		return nil
	}
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				if err := checkScan(fmt.Sprintf("reader %d", r)); err != nil {
					report(err)
					return
				}
				scans.Add(1)
				// A filtered query: a known acknowledged batch, whole.
				mu.Lock()
				var id, n int
				for k, v := range batchSize {
					id, n = k, v
					break
				}
				mu.Unlock()
				if n > 0 {
					got, err := l.QueryEvents(ctx, ledger.EventQuery{CorrelationID: relPtr(relTag(id, n))})
					if err != nil || len(got) != n {
						report(fmt.Errorf("reader %d: batch %d: %d of %d events (err %v)", r, id, len(got), n, err))
						return
					}
					queries.Add(1)
				}
				tenant := ledger.TenantID([]string{"acme", "globex", "initech"}[i%3])
				got, err := l.QueryEvents(ctx, ledger.EventQuery{TenantID: &tenant, Limit: relPtr(uint64(50))})
				if err != nil {
					report(fmt.Errorf("reader %d: tenant query: %w", r, err))
					return
				}
				for _, e := range got {
					if e.TenantID == nil || *e.TenantID != tenant {
						report(fmt.Errorf("reader %d: tenant query returned another tenant's event", r))
						return
					}
				}
				queries.Add(1)
			}
		}(r)
	}
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	var fwg sync.WaitGroup
	for f := 0; f < followers; f++ {
		fwg.Add(1)
		go func(f int) {
			defer fwg.Done()
			var prev uint64
			curID, pos, curN := -1, 0, 0
			for e, err := range l.Follow(fctx, ledger.EventQuery{}, 1) {
				if err != nil {
					if fctx.Err() == nil {
						report(fmt.Errorf("follower %d: %w", f, err))
					}
					return
				}
				if e.Seq != prev+1 {
					report(fmt.Errorf("follower %d: seq %d after %d", f, e.Seq, prev))
					return
				}
				prev = e.Seq
				id, n, _ := relParseTag(e.Envelope.CorrelationID)
				if pos == 0 {
					curID, curN = id, n
				} else if id != curID {
					report(fmt.Errorf("follower %d: torn batch %d", f, curID))
					return
				}
				pos = (pos + 1) % curN
				follows.Add(1)
			}
		}(f)
	}
	wg.Add(1)
	go func() { // sealing and compaction
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			if err := l.Flush(); err != nil {
				report(fmt.Errorf("flush: %w", err))
				return
			}
			seals.Add(1)
			if i%3 == 2 {
				if _, err := l.Compact(ctx, ledger.CompactOptions{TargetBytes: 64 << 10, NoCluster: i%2 == 0}); err != nil {
					report(fmt.Errorf("compact: %w", err))
					return
				}
				compactions.Add(1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(dur)
	stop.Store(true)
	wg.Wait()
	// Followers catch up with the end, then stop.
	last := l.LastSeq()
	deadline := time.Now().Add(20 * time.Second)
	for follows.Load() < int64(followers)*int64(last) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	fcancel()
	fwg.Wait()
	close(errs)
	violations := 0
	for err := range errs {
		violations++
		t.Error(err)
	}
	if got := follows.Load(); got != int64(followers)*int64(last) {
		violations++
		t.Errorf("followers delivered %d events, want %d", got, int64(followers)*int64(last))
	}
	if err := checkScan("final"); err != nil {
		violations++
		t.Error(err)
	}
	if _, err := l.Verify(ctx, nil); err != nil {
		violations++
		t.Errorf("verify: %v", err)
	}
	relReport(t, "test=T16-stress duration=%s writers=%d readers=%d followers=%d appends=%d events=%d scans=%d queries=%d followed=%d seals=%d compactions=%d violations=%d",
		dur, writers, readers, followers, appends.Load(), last, scans.Load(), queries.Load(), follows.Load(), seals.Load(), compactions.Load(), violations)
}

// Verify, Head and VerifyDigest read the ledger's manifest while the
// background sealer replaces it. Under -race this must be clean.
func TestStressVerifyDuringSeal(t *testing.T) {
	ctx := context.Background()
	o := relOpts(relNewMem())
	o.Sync = ledger.SyncNever
	o.SegmentBytes = 4 << 10 // background seals all the time
	l, err := ledger.Open("/l", o)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	g := workload.New(workload.Config{Seed: 13, OutlierRate: -1})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 150; i++ {
			if err := l.AppendEvents(ctx, g.Batch(3)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for {
		select {
		case <-done:
			if m := l.Metrics(); m.Seals == 0 {
				t.Fatal("no background seal happened")
			}
			return
		default:
		}
		d, err := l.Head()
		if err != nil {
			t.Fatal(err)
		}
		if err := l.VerifyDigest(ctx, d); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Verify(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
}
