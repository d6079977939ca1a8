package ledger_test

import (
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/proof"
	"github.com/exledger/exledger/workload"
)

// appendRun appends n events in batches of 1000 into a new ledger opened
// with opts and the tree on or off, and flushes (so the sealer's work,
// tree maintenance included, is in the time). It returns the time taken.
func appendRun(b *testing.B, evs []ledger.ExperienceEventEnvelope, opts ledger.Options, noTree bool, round int) time.Duration {
	dir := filepath.Join(b.TempDir(), "l"+strconv.Itoa(round))
	opts.NoMerkleTree = noTree
	l, err := ledger.Open(dir, &opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	for i := 0; i < len(evs); i += 1000 {
		if err := l.AppendEvents(ctx, evs[i:min(i+1000, len(evs))]); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		b.Fatal(err)
	}
	d := time.Since(start)
	l.Close()
	os.RemoveAll(dir)
	return d
}

// BenchmarkAppendTreeOnOff appends the same 200,000 events with the
// Merkle tree on and off, alternating in one process, and reports both
// throughputs and their ratio (sealing included: Flush ends each run).
//
// The ledger is sealing-bound here (SyncNever, 16 MiB segments: appends
// outrun the sealer, which the tree's hashing slows down);
// BenchmarkAppendTreeOnOffDurable is the same with the default options.
func BenchmarkAppendTreeOnOff(b *testing.B) {
	benchTreeOnOff(b, ledger.Options{Sync: ledger.SyncNever, SegmentBytes: 16 << 20})
}

// BenchmarkAppendTreeOnOffDurable is BenchmarkAppendTreeOnOff with the
// default (durable) options: every batch of 1000 is fsynced before it is
// acknowledged (SyncAlways), 64 MiB segments.
func BenchmarkAppendTreeOnOffDurable(b *testing.B) {
	benchTreeOnOff(b, ledger.Options{})
}

func benchTreeOnOff(b *testing.B, opts ledger.Options) {
	const n = 200_000
	evs := workload.New(workload.Config{Seed: 1}).Batch(n)
	var on, off time.Duration
	rounds := 0
	for b.Loop() {
		off += appendRun(b, evs, opts, true, rounds)
		on += appendRun(b, evs, opts, false, rounds)
		rounds++
	}
	b.ReportMetric(float64(n*rounds)/off.Seconds(), "events/s-tree-off")
	b.ReportMetric(float64(n*rounds)/on.Seconds(), "events/s-tree-on")
	b.ReportMetric(off.Seconds()/on.Seconds(), "on/off-throughput")
}

// millionLedger writes n workload events (SyncNever, default segments)
// into dir and returns their ids.
func millionLedger(tb testing.TB, dir string, n int) []ledger.EventID {
	l, err := ledger.Open(dir, &ledger.Options{Sync: ledger.SyncNever})
	if err != nil {
		tb.Fatal(err)
	}
	g := workload.New(workload.Config{Seed: 42})
	ids := make([]ledger.EventID, 0, n)
	ctx := context.Background()
	for len(ids) < n {
		bt := g.Batch(min(2000, n-len(ids)))
		for _, e := range bt {
			ids = append(ids, e.EventID)
		}
		if err := l.AppendEvents(ctx, bt); err != nil {
			tb.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	return ids
}

func pct(ds []time.Duration, p float64) time.Duration {
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// BenchmarkProof1M builds a 1M-event ledger, reopens it, and measures
// inclusion proof generation and verification at random indexes and
// consistency proofs from random older sizes: p50/p99 in µs, and the
// TREE bytes per event.
func BenchmarkProof1M(b *testing.B) { benchProof(b, 1_000_000) }

// BenchmarkProof10M is BenchmarkProof1M at 10M events (EXLEDGER_10M=1:
// about 7 GB of canonical events written).
func BenchmarkProof10M(b *testing.B) {
	if os.Getenv("EXLEDGER_10M") != "1" {
		b.Skip("set EXLEDGER_10M=1")
	}
	benchProof(b, 10_000_000)
}

func benchProof(b *testing.B, n int) {
	ctx := context.Background()
	dir := filepath.Join(b.TempDir(), "l")
	ids := millionLedger(b, dir, n)
	s, v := testKeys(b, "bench")
	openStart := time.Now()
	l, err := ledger.Open(dir, &ledger.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	cp, err := l.Checkpoint(ctx, s)
	if err != nil {
		b.Fatal(err)
	}
	firstCheckpoint := time.Since(openStart)
	st, _ := l.Stat(ctx, false)
	rng := rand.New(rand.NewSource(1))
	var gen, ver, cgen []time.Duration
	olds := map[int64][]byte{}
	for b.Loop() {
		i := rng.Intn(len(ids))
		t0 := time.Now()
		p, err := l.ProveInclusion(ctx, ids[i], cp)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := p.Verify(v); err != nil {
			b.Fatal(err)
		}
		ver = append(ver, time.Since(t1))
		gen = append(gen, t1.Sub(t0))
		if p.Index != int64(i) {
			b.Fatalf("index %d, want %d", p.Index, i)
		}
		// A consistency proof from an older checkpoint.
		if len(cgen) < 200 {
			old := int64(rng.Intn(n-1) + 1)
			oc, ok := olds[old]
			if !ok {
				oc = signedAt(b, l, s, old)
				olds[old] = oc
			}
			t2 := time.Now()
			if _, err := l.ProveConsistency(ctx, oc, cp); err != nil {
				b.Fatal(err)
			}
			cgen = append(cgen, time.Since(t2))
		}
	}
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	b.ReportMetric(us(pct(gen, 0.5)), "prove-p50-µs")
	b.ReportMetric(us(pct(gen, 0.99)), "prove-p99-µs")
	b.ReportMetric(us(pct(ver, 0.5)), "verify-p50-µs")
	b.ReportMetric(us(pct(ver, 0.99)), "verify-p99-µs")
	b.ReportMetric(us(pct(cgen, 0.5)), "consistency-p50-µs")
	b.ReportMetric(us(pct(cgen, 0.99)), "consistency-p99-µs")
	b.ReportMetric(float64(st.TreeBytes)/float64(st.Events), "tree-B/event")
	b.ReportMetric(float64(st.DataBytes)/float64(st.Events), "segment-B/event")
	b.ReportMetric(firstCheckpoint.Seconds()*1e3, "open+first-checkpoint-ms")
}

// signedAt signs a checkpoint of the ledger's tree at an older size (the
// root from TreeHeadAt), standing in for one saved back then.
func signedAt(tb testing.TB, l *ledger.Ledger, s note.Signer, old int64) []byte {
	th, err := l.TreeHeadAt(context.Background(), old)
	if err != nil {
		tb.Fatal(err)
	}
	cp, err := proof.SignCheckpoint(proof.Checkpoint{Origin: s.Name(), Size: th.Size, Root: th.Root}, s)
	if err != nil {
		tb.Fatal(err)
	}
	return cp
}

// TestTreeMillion proves random indexes of a 1M-event ledger and checks
// each with tlog.CheckRecord against a root computed independently from
// the events (EXLEDGER_LONG=1; about a minute).
func TestTreeMillion(t *testing.T) {
	if !relLong() {
		t.Skip("set EXLEDGER_LONG=1")
	}
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "l")
	ids := millionLedger(t, dir, 1_000_000)
	l, err := ledger.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ref := refFromLedger(t, l)
	s, v := testKeys(t, "m")
	cp, err := l.Checkpoint(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	root := ref.root(t, ref.n)
	rng := rand.New(rand.NewSource(7))
	for k := 0; k < 500; k++ {
		i := rng.Intn(len(ids))
		p, err := l.ProveInclusion(ctx, ids[i], cp)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckRecord(p.Path, ref.n, root, int64(i), tlog.RecordHash(ref.recs[i])); err != nil {
			t.Fatalf("index %d: %v", i, err)
		}
		if _, err := p.Verify(v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Verify(ctx, nil); err != nil {
		t.Fatal(err)
	}
}
