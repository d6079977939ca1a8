package ledger_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// TestScanMap: ScanMap yields f's results in log order for exactly the
// events ScanSeq yields (sealed segments read in parallel, and the
// memtable), with the canonical size, and the bytes f appends to the
// arena stay intact after the scan has moved on.
func TestScanMap(t *testing.T) {
	ctx := context.Background()
	l := openT(t, "/l", smallOpts(vfs.NewMem()))
	defer l.Close()
	g := workload.New(workload.Config{Seed: 34})
	for i := 0; i < 20; i++ {
		if err := l.AppendEvents(ctx, g.Batch(150)); err != nil {
			t.Fatal(err)
		}
		if i == 12 {
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	type res struct {
		json []byte
		size int
		id   ledger.EventID
	}
	var calls atomic.Int64
	f := func(env *ledger.ExperienceEventEnvelope, size int, arena *[]byte) res {
		calls.Add(1)
		start := len(*arena)
		b, err := ledger.AppendEnvelopeJSON(*arena, env)
		if err != nil {
			panic(err)
		}
		*arena = b
		return res{json: b[start:len(b):len(b)], size: size, id: env.EventID}
	}
	tn := g.Tenants()[0]
	kind := ledger.ExperienceEventKind("OutcomeRecorded")
	lim := uint64(700)
	queries := map[string]ledger.EventQuery{
		"all":    {},
		"tenant": {TenantID: &tn},
		"kind":   {Kinds: []ledger.ExperienceEventKind{kind}},
		"limit":  {Limit: &lim},
	}
	for name, q := range queries {
		for _, from := range []uint64{0, 1234, 2950} {
			t.Run(fmt.Sprintf("%s/from=%d", name, from), func(t *testing.T) {
				var want []ledger.SeqEnvelope
				for e, err := range l.ScanSeq(ctx, q, from) {
					if err != nil {
						t.Fatal(err)
					}
					want = append(want, e)
				}
				calls.Store(0)
				var got []ledger.SeqResult[res]
				for r, err := range ledger.ScanMap(ctx, l, q, from, f) {
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, r)
				}
				if len(got) != len(want) {
					t.Fatalf("%d results, want %d", len(got), len(want))
				}
				if len(want) == 0 && name != "limit" {
					t.Fatal("query matched nothing: the test checks nothing")
				}
				// Checked after the whole scan: the arenas were not reused.
				for i, w := range want {
					r := got[i]
					if r.Seq != w.Seq || r.V.id != w.Envelope.EventID {
						t.Fatalf("result %d: seq %d id %s, want %d %s", i, r.Seq, r.V.id, w.Seq, w.Envelope.EventID)
					}
					js, err := ledger.AppendEnvelopeJSON(nil, &w.Envelope)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(r.V.json, js) {
						t.Fatalf("seq %d: arena bytes changed or wrong:\n%s\nwant\n%s", r.Seq, r.V.json, js)
					}
					c, err := ledger.MarshalCanonical(&w.Envelope)
					if err != nil {
						t.Fatal(err)
					}
					if r.V.size != len(c) {
						t.Fatalf("seq %d: size %d, want %d", r.Seq, r.V.size, len(c))
					}
				}
			})
		}
	}
	// A consumer that stops early stops the scan.
	n := 0
	for _, err := range ledger.ScanMap(ctx, l, ledger.EventQuery{}, 1, f) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 10 {
			break
		}
	}
	if n != 10 {
		t.Fatalf("%d results before stopping", n)
	}
}
