package ledger

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/exledger/exledger/vfs"
)

// TestSegSetRelease: a set taken before a compaction keeps the replaced
// segments open (and in Ledger.retired) until it is released; the release
// closes them, synchronously or (the append path's releaseSegsAsync) on
// another goroutine; the segments still live are never closed.
func TestSegSetRelease(t *testing.T) {
	ctx := context.Background()
	for _, async := range []bool{false, true} {
		t.Run(fmt.Sprintf("async=%v", async), func(t *testing.T) {
			l, err := Open("/l", &Options{FS: vfs.NewMem(), Sync: SyncNever, SegmentBytes: 16 << 10})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			ten := TenantID("t")
			for b := 0; b < 6; b++ {
				var evs []ExperienceEventEnvelope
				for i := 0; i < 40; i++ {
					evs = append(evs, ExperienceEventEnvelope{
						EventID: EventID(fmt.Sprintf("e%d-%d", b, i)), OccurredAt: "2026-01-01T00:00:00Z", TenantID: &ten,
						Event: &FactPromoted{ProposalID: "p", FactID: FactID(fmt.Sprintf("f%d", i)), PromotedBy: "a", Reason: "r"},
					})
				}
				if err := l.AppendEvents(ctx, evs); err != nil {
					t.Fatal(err)
				}
				if err := l.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			l.mu.RLock()
			held := l.acquireSegs()
			l.mu.RUnlock()
			if len(held.segs) < 3 {
				t.Fatalf("%d segments", len(held.segs))
			}
			if _, err := l.Compact(ctx, CompactOptions{TargetBytes: 1 << 40}); err != nil {
				t.Fatal(err)
			}
			if n := l.openRetired(); n != len(held.segs) {
				t.Fatalf("held across a compaction: %d retired open, want %d", n, len(held.segs))
			}
			for _, s := range held.segs {
				if s.closed.Load() {
					t.Fatalf("segment %s closed while a set holding it is held", s.name)
				}
			}
			if async {
				l.releaseSegsAsync(held)
			} else {
				l.releaseSegs(held)
				if n := l.openRetired(); n != 0 {
					t.Fatalf("released: %d retired still open", n)
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for l.openRetired() != 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			for _, s := range held.segs {
				if !s.closed.Load() {
					t.Fatalf("segment %s not closed after its last set's release", s.name)
				}
			}
			l.mu.RLock()
			live := l.live
			l.mu.RUnlock()
			for _, s := range live.segs {
				if s.closed.Load() || s.sets.Load() < 1 {
					t.Fatalf("live segment %s: closed %v, %d sets", s.name, s.closed.Load(), s.sets.Load())
				}
			}
			if got := live.refs.Load(); got != 1 {
				t.Fatalf("the live set is held %d times with no read running, want 1", got)
			}
		})
	}
}
