package fuzz

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// FuzzDifferential interprets the fuzz input as a program of appends
// (valid batches with unique ids), seals, restarts, compactions and
// queries, runs it on a durable Ledger (on an in-memory file system, with
// tiny segments and WAL files) and on the reference MemStore, and requires
// every query answer to be identical (canonical JSON, in order). The SPEC
// §5 differences are kept out of the comparison: ids are unique, batches
// valid, and chain queries (where the durable rule also matches
// HypothesisResolved) are checked against a brute-force filter with the
// durable rule instead of MemStore.
func FuzzDifferential(f *testing.F) {
	f.Add([]byte{0x00, 0x10, 0x07, 0x21, 0x04, 0x37, 0x02, 0x05, 0x47, 0x06, 0x57, 0x67, 0x77})
	f.Add([]byte{0x01, 0x38, 0x38, 0x38, 0x04, 0x38, 0x05, 0x0f, 0x1f, 0x2f, 0x3f, 0x4f, 0x5f, 0x6f, 0x7f})
	f.Add([]byte{0x02, 0x78, 0x78, 0x04, 0x78, 0x06, 0x78, 0x05, 0x97, 0xa7, 0xb7, 0xc7, 0xd7, 0xe7, 0xf7})
	f.Add(bytes.Repeat([]byte{0x08, 0x17, 0x04}, 12))
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) == 0 {
			return
		}
		if len(prog) > 96 {
			prog = prog[:96]
		}
		ctx := context.Background()
		g := workload.New(workload.Config{Seed: int64(prog[0]), OutlierRate: -1, Tenants: 4, Correlations: 6, Chains: 5})
		prog = prog[1:]
		mem := vfs.NewMem()
		opts := &ledger.Options{FS: mem, Sync: ledger.SyncNever, SegmentBytes: 6 << 10, SegmentAge: -1, BlockSize: 1 << 10, WALFileSize: 8 << 10}
		l, err := ledger.Open("/l", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { l.Close() }()
		ms := ledger.NewMemStore()
		var all []ledger.ExperienceEventEnvelope
		next := func() byte {
			if len(prog) == 0 {
				return 0
			}
			b := prog[0]
			prog = prog[1:]
			return b
		}
		for len(prog) > 0 {
			op := next()
			switch op & 7 {
			case 0, 1, 2, 3:
				batch := g.Batch(1 + int(op>>3)%8)
				if err := l.AppendEvents(ctx, batch); err != nil {
					t.Fatalf("ledger append: %v", err)
				}
				if err := ms.AppendEvents(ctx, batch); err != nil {
					t.Fatalf("memstore append: %v", err)
				}
				all = append(all, batch...)
			case 4:
				if err := l.Flush(); err != nil {
					t.Fatalf("flush: %v", err)
				}
			case 5:
				if err := l.Close(); err != nil {
					t.Fatalf("close: %v", err)
				}
				if l, err = ledger.Open("/l", opts); err != nil {
					t.Fatalf("reopen: %v", err)
				}
			case 6:
				if _, err := l.Compact(ctx, ledger.CompactOptions{TargetBytes: int64(op>>3) << 10, NoCluster: op&0x80 != 0}); err != nil {
					t.Fatalf("compact: %v", err)
				}
			case 7:
				diffQuery(t, ctx, l, ms, all, g, op>>3, next(), next(), next())
			}
		}
		// A final full comparison.
		diffQuery(t, ctx, l, ms, all, g, 0, 0, 0, 0)
	})
}

// diffQuery builds a query from the selector bytes and compares answers.
func diffQuery(t *testing.T, ctx context.Context, l *ledger.Ledger, ms *ledger.MemStore, all []ledger.ExperienceEventEnvelope, g *workload.Generator, sel, a, b, c byte) {
	t.Helper()
	var q ledger.EventQuery
	if sel&1 != 0 {
		ts := g.Tenants()
		x := ts[int(a)%len(ts)]
		q.TenantID = &x
	}
	if sel&2 != 0 {
		for i, k := range ledger.AllKinds {
			if (int(b)|int(c)<<8)>>(i%14)&1 != 0 && len(q.Kinds) < 4 {
				q.Kinds = append(q.Kinds, k)
			}
		}
	}
	if sel&4 != 0 && len(all) > 0 {
		s := all[int(a)%len(all)].OccurredAt
		e := all[int(b)%len(all)].OccurredAt
		tr := &ledger.TimeRange{}
		if c&1 != 0 {
			tr.Start = &s
		}
		if c&2 != 0 {
			tr.End = &e
		}
		q.TimeRange = tr
	}
	if sel&8 != 0 {
		cs := g.Correlations()
		x := cs[int(b)%len(cs)]
		q.CorrelationID = &x
	}
	if sel&16 != 0 {
		lim := uint64(c % 12)
		if c >= 250 {
			lim = ^uint64(0)
		}
		q.Limit = &lim
	}
	chain := sel&32 != 0
	if chain {
		ch := g.Chains()
		x := ch[int(c)%len(ch)]
		q.ChainID = &x
	}
	got, err := l.QueryEvents(ctx, q)
	if err != nil {
		t.Fatalf("ledger query: %v", err)
	}
	var want []ledger.ExperienceEventEnvelope
	if chain {
		want = bruteForce(all, q)
	} else if want, err = ms.QueryEvents(ctx, q); err != nil {
		t.Fatalf("memstore query: %v", err)
	}
	if len(got) != len(want) {
		qj, _ := ledger.MarshalEventQueryJSON(q)
		t.Fatalf("query %s: %d results, want %d", qj, len(got), len(want))
	}
	for i := range got {
		gj, err1 := ledger.MarshalEnvelopeJSON(got[i])
		wj, err2 := ledger.MarshalEnvelopeJSON(want[i])
		if err1 != nil || err2 != nil || !bytes.Equal(gj, wj) {
			qj, _ := ledger.MarshalEventQueryJSON(q)
			t.Fatalf("query %s: result %d differs:\n got %s\nwant %s", qj, i, gj, wj)
		}
	}
	// Trace links: the latest ReplayTraceRecorded wins in both.
	for i := len(all) - 1; i >= 0; i-- {
		if rt, ok := all[i].Event.(*ledger.ReplayTraceRecorded); ok {
			gt, err := l.GetTraceLink(ctx, rt.TraceLinkID)
			if err != nil || gt == nil {
				t.Fatalf("trace %s: %v %v", rt.TraceLinkID, gt, err)
			}
			wt, _ := ms.GetTraceLink(ctx, rt.TraceLinkID)
			gj, _ := ledger.MarshalReplayTraceJSON(*gt)
			wj, _ := ledger.MarshalReplayTraceJSON(*wt)
			if !bytes.Equal(gj, wj) {
				t.Fatalf("trace %s differs", rt.TraceLinkID)
			}
			break
		}
	}
}

// bruteForce applies the durable query semantics (SPEC §4 with the chain
// rule of SPEC §5: HypothesisResolved matches a chain filter).
func bruteForce(all []ledger.ExperienceEventEnvelope, q ledger.EventQuery) []ledger.ExperienceEventEnvelope {
	var out []ledger.ExperienceEventEnvelope
	if q.Limit != nil && *q.Limit == 0 {
		return out
	}
	for _, e := range all {
		if q.TenantID != nil && (e.TenantID == nil || *e.TenantID != *q.TenantID) {
			continue
		}
		if q.CorrelationID != nil && (e.CorrelationID == nil || *e.CorrelationID != *q.CorrelationID) {
			continue
		}
		if len(q.Kinds) > 0 && !slices.Contains(q.Kinds, e.Kind()) {
			continue
		}
		if q.ChainID != nil {
			c, ok := ledger.ChainIDOf(e.Event)
			if !ok || c != *q.ChainID {
				continue
			}
		}
		if tr := q.TimeRange; tr != nil {
			if tr.Start != nil && e.OccurredAt < *tr.Start {
				continue
			}
			if tr.End != nil && e.OccurredAt > *tr.End {
				continue
			}
		}
		out = append(out, e)
		if q.Limit != nil && uint64(len(out)) >= *q.Limit {
			break
		}
	}
	return out
}
