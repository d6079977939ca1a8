package jetstream_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exledger/exledger/jetstream"
	"github.com/exledger/exledger/jetstream/jstest"
	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
	"github.com/nats-io/nats.go"
)

// relReport prints one machine-readable summary line to stdout (so it
// shows in `go test` output without -v) and to the test log, as the
// ledger's reliability tests do.
func relReport(t testing.TB, format string, args ...any) {
	line := "RELIABILITY " + fmt.Sprintf(format, args...)
	fmt.Println(line)
	t.Log(line)
}

// node is one Store per server; it is replaced while restarted.
type node struct {
	mu  sync.RWMutex
	s   *jetstream.Store // nil while down
	nc  *nats.Conn
	dir string
}

type faultEnv struct {
	t      *testing.T
	c      *jstest.Cluster
	stream string
	nodes  []*node

	mu        sync.Mutex
	acked     map[string]int // batch key -> events, for every acknowledged batch
	tried     map[string]int // batch key -> events, for every batch attempted
	ackedN    int
	failed    int // appends that returned a non-validation error (outcome unknown)
	replays   int // acknowledged batches appended again (must be no-ops)
	conflicts int // conflicting re-uses of an acknowledged id (must be rejected)
}

func newFaultEnv(t *testing.T, c *jstest.Cluster) *faultEnv {
	e := &faultEnv{t: t, c: c, stream: newStream(), acked: map[string]int{}, tried: map[string]int{}}
	for i := range c.N() {
		n := &node{nc: c.Connect(i), dir: t.TempDir()}
		e.nodes = append(e.nodes, n)
	}
	for _, n := range e.nodes {
		n.s = openStore(t, n.nc, e.opts(n))
	}
	t.Cleanup(func() {
		for _, n := range e.nodes {
			n.mu.Lock()
			if n.s != nil {
				n.s.Close()
			}
			n.mu.Unlock()
		}
	})
	return e
}

func (e *faultEnv) opts(n *node) jetstream.Options {
	return jetstream.Options{Stream: e.stream, Replicas: 3, Dir: n.dir, CheckpointInterval: 50 * time.Millisecond}
}

// withStore runs fn on the first open Store from node i on.
func (e *faultEnv) withStore(i int, fn func(s *jetstream.Store)) bool {
	for k := range len(e.nodes) {
		n := e.nodes[(i+k)%len(e.nodes)]
		n.mu.RLock()
		if n.s != nil {
			fn(n.s)
			n.mu.RUnlock()
			return true
		}
		n.mu.RUnlock()
	}
	return false
}

// closeNode closes node i's Store (its process "dies" cleanly), optionally
// deleting its directory; openNode opens it again.
func (e *faultEnv) closeNode(i int, drop bool) {
	n := e.nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.s.Close(); err != nil {
		e.t.Errorf("close node %d: %v", i, err)
	}
	n.s = nil
	if drop {
		if err := os.RemoveAll(n.dir); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *faultEnv) openNode(i int) {
	n := e.nodes[i]
	s := openStore(e.t, n.nc, e.opts(n))
	n.mu.Lock()
	n.s = s
	n.mu.Unlock()
}

// batchKey is encoded in every event id: w<writer>-b<batch>-n<size>-e<i>.
func eventID(w, b, n, i int) ledger.EventID {
	return ledger.EventID(fmt.Sprintf("w%d-b%d-n%d-e%d", w, b, n, i))
}

func batchOf(id ledger.EventID) (key string, size int) {
	s := string(id)
	j := strings.LastIndex(s, "-e")
	k := strings.LastIndex(s[:j], "-n")
	fmt.Sscanf(s[k+2:j], "%d", &size)
	return s[:k], size
}

// writer appends batches of 1..20 events through node w%3 (or the next
// open one) until stop is closed. Now and then it appends an acknowledged
// batch again (must succeed as a no-op) or reuses an acknowledged event
// id with other content (must be rejected).
func (e *faultEnv) writer(w int, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(uint64(w), 7))
	g := workload.New(workload.Config{Seed: int64(w + 1)})
	var mine [][]ledger.ExperienceEventEnvelope
	for b := 0; ; b++ {
		select {
		case <-stop:
			return
		default:
		}
		var es []ledger.ExperienceEventEnvelope
		kind := "new"
		switch r := rng.IntN(100); {
		case r < 8 && len(mine) > 0:
			es, kind = mine[rng.IntN(len(mine))], "replay"
		case r < 11 && len(mine) > 0:
			old := mine[rng.IntN(len(mine))]
			x := g.Next()
			x.EventID = old[rng.IntN(len(old))].EventID
			es, kind = []ledger.ExperienceEventEnvelope{x}, "conflict"
		default:
			n := 1 + rng.IntN(20)
			es = g.Batch(n)
			for i := range es {
				es[i].EventID = eventID(w, b, n, i)
			}
		}
		if kind == "new" {
			key, _ := batchOf(es[0].EventID)
			e.mu.Lock()
			e.tried[key] = len(es)
			e.mu.Unlock()
		}
		var err error
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if !e.withStore(w, func(s *jetstream.Store) { _, err = s.Append(ctx, es) }) {
			err = errors.New("no store open")
		}
		cancel()
		e.mu.Lock()
		switch {
		case kind == "conflict":
			if err == nil {
				e.t.Errorf("writer %d: conflicting append of %s accepted", w, es[0].EventID)
			} else if errors.Is(err, ledger.ErrInvalidQuery) {
				if !strings.Contains(err.Error(), "duplicate event_id "+string(es[0].EventID)+" with different content") {
					e.t.Errorf("writer %d: conflict error %v", w, err)
				}
				e.conflicts++
			} else {
				e.failed++
			}
		case err == nil:
			if kind == "new" {
				key, _ := batchOf(es[0].EventID)
				e.acked[key] = len(es)
				e.ackedN += len(es)
				mine = append(mine, es)
			} else {
				e.replays++
			}
		case errors.Is(err, ledger.ErrInvalidQuery):
			e.t.Errorf("writer %d: %s append rejected: %v", w, kind, err)
		default:
			e.failed++
		}
		e.mu.Unlock()
	}
}

// run starts 8 writers, runs scenario, stops the writers and verifies.
func (e *faultEnv) run(name string, scenario func()) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() { e.writer(w, stop) })
	}
	start := time.Now()
	scenario()
	close(stop)
	wg.Wait()
	e.verify(name, time.Since(start))
}

// verify checks that every node holds every acknowledged event exactly
// once, no partial batch, the same events in the same order, the same
// head digest at the same stream sequence, and that each node's directory
// passes the ledger's own Verify once closed (what ledgerctl verify runs).
func (e *faultEnv) verify(name string, elapsed time.Duration) {
	t := e.t
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, n := range e.nodes {
		n.mu.RLock()
		if n.s == nil {
			n.mu.RUnlock()
			e.openNode(i)
			n.mu.RLock()
		}
		if err := n.s.Sync(ctx); err != nil {
			t.Fatalf("node %d sync: %v", i, err)
		}
		n.mu.RUnlock()
	}
	// All nodes now applied at least the stream's end as of their Sync;
	// wait for the largest so the heads are comparable.
	var target uint64
	for _, n := range e.nodes {
		target = max(target, n.s.AppliedSeq())
	}
	var ids0 []ledger.EventID
	var head0 jetstream.Head
	var gaps, resets, retries, dups uint64
	for i, n := range e.nodes {
		if err := n.s.WaitApplied(ctx, target); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		h, err := n.s.Head()
		if err != nil {
			t.Fatal(err)
		}
		evs, err := n.s.QueryEvents(ctx, ledger.EventQuery{})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]ledger.EventID, len(evs))
		count := map[ledger.EventID]int{}
		batches := map[string]int{}
		for j := range evs {
			ids[j] = evs[j].EventID
			count[ids[j]]++
			k, _ := batchOf(ids[j])
			batches[k]++
		}
		for id, c := range count {
			if c != 1 {
				t.Errorf("node %d: event %s present %d times", i, id, c)
			}
		}
		for k, size := range e.acked {
			if batches[k] != size {
				t.Errorf("node %d: acknowledged batch %s has %d of %d events", i, k, batches[k], size)
			}
		}
		for k, got := range batches {
			if size, ok := e.tried[k]; !ok || got != size {
				t.Errorf("node %d: batch %s has %d events, want all %d or none", i, k, got, size)
			}
		}
		if i == 0 {
			ids0, head0 = ids, h
		} else {
			if !slices.Equal(ids, ids0) {
				t.Errorf("node %d: events differ from node 0's (%d vs %d)", i, len(ids), len(ids0))
			}
			if h.StreamSeq != head0.StreamSeq || h.Digest.Seq != head0.Digest.Seq || h.Digest.Hash != head0.Digest.Hash {
				t.Errorf("node %d head %d/%d/%s, node 0 %d/%d/%s", i, h.StreamSeq, h.Digest.Seq, h.Digest.HashHex,
					head0.StreamSeq, head0.Digest.Seq, head0.Digest.HashHex)
			}
		}
		st := n.s.Stats()
		gaps += st.Gaps
		resets += st.Resets
		retries += st.Retries
		dups += st.Duplicates
	}
	if gaps != 0 {
		t.Errorf("stream gaps seen: %d", gaps)
	}
	// Each directory is a plain ledger: verify it closed, read-only.
	for i := range e.nodes {
		e.closeNode(i, false)
		l, err := ledger.Open(e.nodes[i].dir, &ledger.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("node %d: open ledger: %v", i, err)
		}
		rep, err := l.Verify(ctx, nil)
		if err != nil {
			t.Errorf("node %d: verify: %v", i, err)
		} else if rep.Head.Hash != head0.Digest.Hash {
			t.Errorf("node %d: verified head %s, want %s", i, rep.Head.HashHex, head0.Digest.HashHex)
		}
		l.Close()
	}
	if e.ackedN == 0 {
		t.Errorf("no append was acknowledged")
	}
	relReport(t, "jetstream scenario=%s nodes=%d replicas=3 writers=8 wall=%s acked_batches=%d acked_events=%d "+
		"replays=%d conflicts_rejected=%d unknown_outcome=%d stream_seq=%d ledger_seq=%d duplicates=%d retries=%d consumer_resets=%d gaps=%d digest_equal=%v",
		name, len(e.nodes), elapsed.Round(time.Millisecond), len(e.acked), e.ackedN, e.replays, e.conflicts, e.failed,
		head0.StreamSeq, head0.Digest.Seq, dups, retries, resets, gaps, !t.Failed())
}

func pause(d time.Duration) { time.Sleep(d) }

func TestFaults(t *testing.T) {
	c := jstest.StartCluster(t, 3)
	t.Run("LeaderShutdown", func(t *testing.T) {
		e := newFaultEnv(t, c)
		e.run("leader-shutdown", func() {
			pause(400 * time.Millisecond)
			l := c.WaitStreamLeader(e.stream)
			c.Shutdown(l)
			pause(1500 * time.Millisecond)
			c.Restart(l)
			pause(500 * time.Millisecond)
		})
	})
	t.Run("LaggingFollowerRestart", func(t *testing.T) {
		e := newFaultEnv(t, c)
		e.run("lagging-follower-restart", func() {
			pause(300 * time.Millisecond)
			f := (c.WaitStreamLeader(e.stream) + 1) % 3
			c.Shutdown(f)
			pause(1500 * time.Millisecond) // the others append on
			c.Restart(f)
			pause(500 * time.Millisecond)
		})
	})
	t.Run("StoreRestart", func(t *testing.T) {
		e := newFaultEnv(t, c)
		e.run("store-restart", func() {
			pause(300 * time.Millisecond)
			e.closeNode(2, false)
			pause(800 * time.Millisecond)
			e.openNode(2)
			pause(300 * time.Millisecond)
		})
	})
	t.Run("DropDirectory", func(t *testing.T) {
		e := newFaultEnv(t, c)
		e.run("drop-directory", func() {
			pause(600 * time.Millisecond)
			e.closeNode(1, true)
			pause(300 * time.Millisecond)
			e.openNode(1) // rebuilt from the stream
			pause(300 * time.Millisecond)
		})
	})
}
