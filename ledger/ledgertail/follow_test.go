package ledgertail_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgertail"
	"github.com/exledger/exledger/workload"
)

// collector runs Follow in a goroutine and records what it yields.
type collector struct {
	mu     sync.Mutex
	seqs   []uint64
	ids    []ledger.EventID
	err    error
	done   chan struct{}
	cancel context.CancelFunc
}

func follow(t *testing.T, dir string, q ledger.EventQuery, from uint64, o *ledgertail.Options) *collector {
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(c.done)
		for e, err := range ledgertail.Follow(ctx, dir, q, from, o) {
			c.mu.Lock()
			if err != nil {
				c.err = err
				c.mu.Unlock()
				return
			}
			c.seqs = append(c.seqs, e.Seq)
			c.ids = append(c.ids, e.Envelope.EventID)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-c.done })
	return c
}

// waitFor waits until n events arrived (or 20 s passed).
func (c *collector) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		got, err := len(c.ids), c.err
		c.mu.Unlock()
		if err != nil {
			t.Fatalf("follow: %v", err)
		}
		if got >= n {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("timed out: %d of %d events", len(c.ids), n)
}

func (c *collector) check(t *testing.T, want []ledger.EventID, firstSeq uint64) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ids) != len(want) {
		t.Fatalf("got %d events, want %d", len(c.ids), len(want))
	}
	for i := range want {
		if c.ids[i] != want[i] {
			t.Fatalf("event %d: %s, want %s", i, c.ids[i], want[i])
		}
		if firstSeq > 0 && c.seqs[i] != firstSeq+uint64(i) {
			t.Fatalf("event %d: seq %d, want %d", i, c.seqs[i], firstSeq+uint64(i))
		}
	}
}

func ids(es []ledger.ExperienceEventEnvelope) []ledger.EventID {
	out := make([]ledger.EventID, len(es))
	for i, e := range es {
		out[i] = e.EventID
	}
	return out
}

// TestFollowBesideWriter follows a ledger while another handle writes it
// with tiny WAL files and segments (rotations, seals and WAL checkpoints
// all happen), closes it cleanly (WAL dropped) and reopens it; every
// event arrives once, in order. Both notification and polling modes.
func TestFollowBesideWriter(t *testing.T) {
	for _, mode := range []string{"notify", "poll"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			wopts := &ledger.Options{Sync: ledger.SyncNever, WALFileSize: 16 << 10, SegmentBytes: 24 << 10}
			l, err := ledger.Open(dir, wopts)
			if err != nil {
				t.Fatal(err)
			}
			g := workload.New(workload.Config{Seed: 11, OutlierRate: -1})
			ctx := context.Background()
			first := g.Batch(50)
			if err := l.AppendEvents(ctx, first); err != nil {
				t.Fatal(err)
			}
			o := &ledgertail.Options{ForcePoll: mode == "poll", PollInterval: 5 * time.Millisecond}
			var fellBack error
			if mode == "notify" {
				o.OnFallback = func(err error) { fellBack = err }
			}
			c := follow(t, dir, ledger.EventQuery{}, 1, o)
			all := append([]ledger.ExperienceEventEnvelope(nil), first...)
			for i := 0; i < 40; i++ {
				b := g.Batch(1 + i%7)
				if err := l.AppendEvents(ctx, b); err != nil {
					t.Fatal(err)
				}
				all = append(all, b...)
				if i == 20 {
					c.waitFor(t, len(all))
				}
			}
			c.waitFor(t, len(all))
			if l.Metrics().Seals == 0 {
				t.Fatal("no seal happened")
			}
			// A clean close seals everything and removes the WAL; a
			// reopened writer starts a new log.
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l, err = ledger.Open(dir, wopts)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			b := g.Batch(25)
			if err := l.AppendEvents(ctx, b); err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
			c.waitFor(t, len(all))
			c.check(t, ids(all), 1)
			if fellBack != nil {
				t.Fatalf("notification fell back to polling: %v", fellBack)
			}
		})
	}
}

// TestFollowFromSealedHistory starts in the middle of sealed segments
// (not in the WAL any more), with a filter and a limit.
func TestFollowFromSealedHistory(t *testing.T) {
	dir := t.TempDir()
	l, err := ledger.Open(dir, &ledger.Options{Sync: ledger.SyncNever, WALFileSize: 16 << 10, SegmentBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	g := workload.New(workload.Config{Seed: 12, OutlierRate: -1})
	evs := g.Batch(400)
	ctx := context.Background()
	for i := 0; i < len(evs); i += 50 {
		if err := l.AppendEvents(ctx, evs[i:i+50]); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	kind := ledger.KindProposalCreated
	var want []ledger.EventID
	for _, e := range evs[99:] {
		if e.Event.Kind() == kind {
			want = append(want, e.EventID)
		}
	}
	more := g.Batch(100)
	for _, e := range more {
		if e.Event.Kind() == kind {
			want = append(want, e.EventID)
		}
	}
	limit := uint64(len(want))
	ctx2, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var got []ledger.EventID
	appended := false
	for e, err := range ledgertail.Follow(ctx2, dir, ledger.EventQuery{Kinds: []ledger.ExperienceEventKind{kind}, Limit: &limit}, 100, nil) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Envelope.EventID)
		if !appended {
			appended = true
			if err := l.AppendEvents(ctx, more); err != nil {
				t.Fatal(err)
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
}

func TestFollowNotALedger(t *testing.T) {
	for _, err := range ledgertail.Follow(context.Background(), t.TempDir(), ledger.EventQuery{}, 1, nil) {
		if !errors.Is(err, ledger.ErrNotLedger) {
			t.Fatalf("err %v", err)
		}
		return
	}
	t.Fatal("no error")
}
