package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/exledger/exledger/vfs"
)

// ixTestN vectors of ixTestDim dimensions: one segment with an index.
const ixTestN, ixTestDim = annMinVectors + 52, 8

func ixTestVector(i int) []float32 {
	v := make([]float32, ixTestDim)
	x := uint32(i*2654435761 + 1)
	for j := range v {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		v[j] = float32(int(x%101) - 50)
	}
	v[i%ixTestDim] += 200
	return v
}

func ixTestOpts(fsys vfs.FS) *Options {
	return &Options{FS: fsys, EmbeddingDim: ixTestDim, VectorIndex: VectorIndexOptions{manual: true, MinCandidates: 1}}
}

// ixTestLedger makes a ledger with one sealed segment of ixTestN vectors
// and no index yet.
func ixTestLedger(t *testing.T, fsys vfs.FS) *Ledger {
	t.Helper()
	l, err := Open("/l", ixTestOpts(fsys))
	if err != nil {
		t.Fatal(err)
	}
	ten := TenantID("t")
	var batch []VectorEvent
	for i := range ixTestN {
		batch = append(batch, VectorEvent{
			Envelope: ExperienceEventEnvelope{
				EventID: EventID(fmt.Sprintf("e%05d", i)), OccurredAt: "2026-01-01T00:00:00Z", TenantID: &ten,
				Event: &FactPromoted{ProposalID: "p", FactID: FactID(fmt.Sprintf("f%d", i)), PromotedBy: "a", Reason: "r"},
			},
			Vector: ixTestVector(i),
		})
		if len(batch) == 700 || i == ixTestN-1 {
			if err := l.AppendVectorEvents(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	return l
}

// ixTestCheck checks a ledger holds every vector, each found by its own
// query, with the approximate index (if any) and exactly; it returns
// whether the segment's vector file has an index.
func ixTestCheck(t *testing.T, l *Ledger) bool {
	t.Helper()
	ctx := context.Background()
	st, err := l.Stat(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.Vectors < ixTestN {
		t.Fatalf("%d vectors, want %d", st.Vectors, ixTestN)
	}
	if _, err := l.Verify(ctx, nil); err != nil {
		t.Fatalf("verify: %v", err)
	}
	for _, i := range []int{0, 1, ixTestN / 2, ixTestN - 1} {
		res, err := l.SearchSimilar(ctx, SimilarQuery{Vector: ixTestVector(i), Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 || (res[0].Envelope.EventID != EventID(fmt.Sprintf("e%05d", i)) && !(i == 0 && res[0].Envelope.EventID == "after")) {
			t.Fatalf("query %d found %+v", i, res)
		}
	}
	vs, err := l.live.segs[0].vec.load()
	if err != nil {
		t.Fatal(err)
	}
	return vs.ann != nil
}

// TestVectorIndexBuildCrash: a power loss at every step of the background
// index build (write of the temp file, its fsync, the rename, the
// directory fsync), in every crash mode, leaves the segment's vector file
// either without an index or with a valid one, never loses a vector, and
// the next build completes.
func TestVectorIndexBuildCrash(t *testing.T) {
	ctx := context.Background()
	for _, mode := range vfs.CrashModes {
		without, with := 0, 0
		for k := 0; ; k++ {
			fs := vfs.NewMem()
			l := ixTestLedger(t, fs)
			fs.SetCrashAfter(fs.Ops() + k)
			err := l.BuildVectorIndexes(ctx)
			l.Close()
			done := err == nil
			if err != nil && !errors.Is(err, vfs.ErrCrashed) {
				t.Fatalf("%v k=%d: %v", mode, k, err)
			}
			c := fs.Crash(mode, rand.New(rand.NewSource(int64(k))))
			l2, err := Open("/l", ixTestOpts(c))
			if err != nil {
				t.Fatalf("%v k=%d: reopen: %v", mode, k, err)
			}
			if ixTestCheck(t, l2) {
				with++
			} else {
				without++
			}
			if err := l2.BuildVectorIndexes(ctx); err != nil {
				t.Fatalf("%v k=%d: build after the crash: %v", mode, k, err)
			}
			if !ixTestCheck(t, l2) {
				t.Fatalf("%v k=%d: no index after the build", mode, k)
			}
			l2.Close()
			if done {
				break
			}
		}
		t.Logf("%v: %d crash points: %d recovered without the index, %d with it", mode, without+with, without, with)
		if with == 0 || without == 0 {
			t.Fatalf("%v: both outcomes expected (without %d, with %d)", mode, without, with)
		}
	}
}

// TestVectorIndexBuildFault: an I/O error at each step of the build stops
// the indexer (BuildVectorIndexes reports it, again on the next call),
// leaves searches and appends working, and a reopen builds the index.
func TestVectorIndexBuildFault(t *testing.T) {
	ctx := context.Background()
	for _, op := range []vfs.Op{vfs.OpCreate, vfs.OpWrite, vfs.OpSync, vfs.OpRename, vfs.OpSyncDir} {
		mem := vfs.NewMem()
		ff := vfs.NewFault(mem)
		l := ixTestLedger(t, ff)
		ff.Inject(vfs.Fault{Op: op, N: ff.Count(op)})
		err := l.BuildVectorIndexes(ctx)
		if err == nil || !ff.Fired() {
			t.Fatalf("%v: build error %v (fired %v)", op, err, ff.Fired())
		}
		ff.Clear()
		if err2 := l.BuildVectorIndexes(ctx); err2 == nil {
			t.Fatalf("%v: the indexer was not stopped by %v", op, err)
		}
		ixTestCheck(t, l)
		ten := TenantID("t")
		if err := l.AppendVectorEvents(ctx, []VectorEvent{{Envelope: ExperienceEventEnvelope{
			EventID: "after", OccurredAt: "2026-01-01T00:00:00Z", TenantID: &ten,
			Event: &FactPromoted{ProposalID: "p", FactID: "f", PromotedBy: "a", Reason: "r"},
		}, Vector: ixTestVector(0)}}); err != nil {
			t.Fatalf("%v: append after a failed index build: %v", op, err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("%v: close: %v", op, err)
		}
		l2, err := Open("/l", ixTestOpts(mem))
		if err != nil {
			t.Fatal(err)
		}
		if err := l2.BuildVectorIndexes(ctx); err != nil {
			t.Fatalf("%v: build after reopen: %v", op, err)
		}
		if !ixTestCheck(t, l2) {
			t.Fatalf("%v: no index after reopen", op)
		}
		l2.Close()
	}
}

// TestVectorIndexBackground: without any call, the background indexer of
// a writable ledger builds the missing index once the ledger is open.
func TestVectorIndexBackground(t *testing.T) {
	fs := vfs.NewMem()
	l := ixTestLedger(t, fs) // manual: the file has no index yet
	if ixTestCheck(t, l) {
		t.Fatal("index built by a manual ledger")
	}
	l.Close()
	o2 := ixTestOpts(fs)
	o2.VectorIndex.manual = false
	l, err := Open("/l", o2)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 2000 {
		if l.live.segs[0].vec.ixStateOf() == ixPresent {
			break
		}
		l.vix.mu.Lock() // wait for a running build
		l.vix.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	if !ixTestCheck(t, l) {
		t.Fatal("the background indexer built no index")
	}
}
