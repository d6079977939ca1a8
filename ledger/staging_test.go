package ledger_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// slowSyncFS makes every file Sync take a while, so that the window in
// which a batch's index entries are staged but the batch is not yet
// durable (Ledger.stage) is wide.
type slowSyncFS struct {
	vfs.FS
	delay time.Duration
}

type slowSyncFile struct {
	vfs.File
	delay time.Duration
}

func (f slowSyncFile) Sync() error { time.Sleep(f.delay); return f.File.Sync() }

func (s slowSyncFS) Create(name string) (vfs.File, error) {
	f, err := s.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return slowSyncFile{f, s.delay}, nil
}

func (s slowSyncFS) OpenRW(name string) (vfs.File, error) {
	f, err := s.FS.OpenRW(name)
	if err != nil {
		return nil, err
	}
	return slowSyncFile{f, s.delay}, nil
}

// TestStagedEntriesStayInvisible: while a batch's fsync is in flight its
// index entries are already in the memtable's index; no reader may see
// them (nor trip over them) before the batch is acknowledged. Readers run
// GetTraceLink, Get, QueryEvents and ScanRaw against a writer whose every
// batch records the same trace link.
func TestStagedEntriesStayInvisible(t *testing.T) {
	ctx := context.Background()
	l, err := ledger.Open("/l", &ledger.Options{FS: slowSyncFS{vfs.NewMem(), 2 * time.Millisecond}, SegmentBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	g := workload.New(workload.Config{Seed: 61, OutlierRate: -1})
	// Every batch: some events, then a ReplayTraceRecorded of trace "tl-x"
	// whose event id says which batch it is.
	var trace *ledger.ReplayTraceRecorded
	for trace == nil {
		if rt, ok := g.Next().Event.(*ledger.ReplayTraceRecorded); ok {
			trace = rt
		}
	}
	var acked atomic.Int64 // batches acknowledged
	acked.Store(-1)
	const batches = 60
	tenantOf := g.Tenants()[0]
	var wg sync.WaitGroup
	var fail atomic.Value
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // writer
		defer wg.Done()
		defer close(stop)
		for i := 0; i < batches; i++ {
			bt := g.Batch(20)
			rt := *trace
			rt.TraceLinkID = "tl-x"
			ev := bt[0]
			ev.EventID = ledger.EventID("trace-batch-" + itoa(i))
			ev.TenantID = &tenantOf
			ev.Event = &rt
			bt = append(bt, ev)
			if err := l.AppendEvents(ctx, bt); err != nil {
				fail.Store(err.Error())
				return
			}
			acked.Store(int64(i))
		}
	}()
	reader := func(check func(before int64) error) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			before := acked.Load()
			if err := check(before); err != nil {
				fail.Store(err.Error())
				return
			}
		}
	}
	wg.Add(3)
	go reader(func(before int64) error {
		tr, err := l.GetTraceLink(ctx, "tl-x")
		if err != nil || (tr == nil && before >= 0) {
			return errors.New("GetTraceLink lost an acknowledged trace")
		}
		return nil
	})
	go reader(func(before int64) error {
		// Every acknowledged batch is seen; a batch is seen whole or not
		// at all (its trace event is its last record).
		n, traces := 0, 0
		for r, err := range l.ScanRaw(ctx, ledger.EventQuery{TenantID: &tenantOf}, 0) {
			if err != nil {
				return err
			}
			n++
			if r.Header.Kind == ledger.KindReplayTraceRecorded && r.Header.TraceLinkID == "tl-x" {
				traces++
			}
		}
		if int64(traces) < before+1 {
			return errors.New("ScanRaw lost an acknowledged batch")
		}
		return nil
	})
	go reader(func(before int64) error {
		if before < 0 {
			return nil
		}
		if _, err := l.Get(ctx, ledger.EventID("trace-batch-"+itoa(int(before)))); err != nil {
			return errors.New("Get lost an acknowledged event: " + err.Error())
		}
		evs, err := l.QueryEvents(ctx, ledger.EventQuery{Kinds: []ledger.ExperienceEventKind{ledger.KindReplayTraceRecorded}, TenantID: &tenantOf})
		if err != nil {
			return err
		}
		seen := map[ledger.EventID]bool{}
		for _, e := range evs {
			seen[e.EventID] = true
		}
		if !seen[ledger.EventID("trace-batch-"+itoa(int(before)))] {
			return errors.New("QueryEvents lost an acknowledged event")
		}
		return nil
	})
	wg.Wait()
	if f := fail.Load(); f != nil {
		t.Fatal(f)
	}
	if acked.Load() != batches-1 {
		t.Fatalf("writer stopped after %d batches", acked.Load()+1)
	}
}
