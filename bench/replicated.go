package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exledger/exledger/jetstream"
	"github.com/exledger/exledger/jetstream/jstest"
	"github.com/exledger/exledger/ledger"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// The "replicated" case: 64 writers append batches of 1000 events (3 each
// per round), into the embedded ledger (durable defaults: SyncAlways) and
// through a three-server loopback R3 JetStream cluster embedded in this
// process (package jetstream: one Store per server, writer w appends
// through Store w%3; the servers keep JetStream's default sync_interval;
// the Stores' local ledgers use SyncNever, the stream being the durable
// copy). The second table is the lag from an append's return (the
// acknowledgement to the caller) to the batch being applied by the Store
// of the next server. "jetstream-r1" is the same through one server and
// one Store: the cost of the stream path without the three
// materializations an in-process cluster runs on the same cores.
const (
	replWriters   = 64
	replBatch     = 1000
	replPerWriter = 3 // batches per writer and round: 192k events
)

// benchTB gives jstest the testing.TB methods it uses.
type benchTB struct {
	root     string
	n        int
	cleanups []func()
}

func (t *benchTB) Helper() {}
func (t *benchTB) Fatalf(f string, a ...any) {
	panic(fmt.Sprintf(f, a...))
}
func (t *benchTB) TempDir() string {
	t.n++
	d := filepath.Join(t.root, strconv.Itoa(t.n))
	if err := os.MkdirAll(d, 0o700); err != nil {
		panic(err)
	}
	return d
}
func (t *benchTB) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }
func (t *benchTB) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

func (r *runner) replicated() error {
	c := &r.cfg
	pool := newStream().next(min(c.appendN, 20_000))
	cs := r.newCase("replicated", fmt.Sprintf("Replicated appends, batch %d, %d writers: embedded ledger vs 3-server loopback R3 JetStream", replBatch, replWriters),
		"events/s", true, []string{"exledger", "jetstream-r3", "jetstream-r1"})
	lag := r.newCase("replicated-lag", "Replicated: append acknowledged → visible on another server (batch 1000, 64 writers)", "µs", false, []string{"jetstream-r3"})

	tb := &benchTB{root: r.scratch("js")}
	defer tb.cleanup()
	cl := jstest.StartCluster(tb, 3)
	var ncs []*nats.Conn
	for i := range 3 {
		ncs = append(ncs, cl.Connect(i))
	}
	single := jstest.StartServer(tb)
	nc1 := []*nats.Conn{single.Connect(0)}
	var ids atomic.Uint64
	// batchOf returns replBatch events from the pool with fresh ids (the
	// ledger would take a repeated id as an idempotent no-op).
	batchOf := func(k uint64) []ledger.ExperienceEventEnvelope {
		out := make([]ledger.ExperienceEventEnvelope, replBatch)
		for i := range out {
			out[i] = pool[(int(k)*replBatch+i)%len(pool)]
			out[i].EventID = ledger.EventID("r" + strconv.FormatUint(ids.Add(1), 36))
		}
		return out
	}
	r.alternate(cs, c.rounds, func(name string, round int) (sample, error) {
		switch name {
		case "exledger":
			return r.replEmbedded(round, batchOf)
		case "jetstream-r1":
			s, _, err := r.replJetStream(round, nc1, batchOf)
			return s, err
		}
		s, ls, err := r.replJetStream(round, ncs, batchOf)
		if err == nil && round > 0 {
			lag.cells["jetstream-r3"].samples = append(lag.cells["jetstream-r3"].samples, ls)
		}
		return s, err
	})
	logf("%s: %s", lag.id, lag.summary())
	return nil
}

// replWrite runs replWriters goroutines each calling app with
// replPerWriter fresh batches and returns the sample: events/s over the
// whole round, per-append latencies, CPU µs and written bytes per event
// (process-wide: with JetStream that includes the servers and every
// Store).
func replWrite(batchOf func(uint64) []ledger.ExperienceEventEnvelope,
	app func(w int, es []ledger.ExperienceEventEnvelope) error) (sample, int, error) {
	var (
		next    atomic.Uint64
		mu      sync.Mutex
		firstEr error
		lat     []time.Duration
		wg      sync.WaitGroup
	)
	// Each writer builds its batches before the clock starts.
	work := make([][][]ledger.ExperienceEventEnvelope, replWriters)
	for w := range work {
		for range replPerWriter {
			work[w] = append(work[w], batchOf(next.Add(1)))
		}
	}
	w0, c0, t0 := ioWriteBytes(), cpuTime(), time.Now()
	for w := range replWriters {
		wg.Go(func() {
			var my []time.Duration
			for _, es := range work[w] {
				t := time.Now()
				if err := app(w, es); err != nil {
					mu.Lock()
					firstEr = err
					mu.Unlock()
					return
				}
				my = append(my, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, my...)
			mu.Unlock()
		})
	}
	wg.Wait()
	el := time.Since(t0)
	n := replWriters * replPerWriter * replBatch
	s := sample{v: float64(n) / el.Seconds(), lat: lat, fsyncs: math.NaN(), wbytes: math.NaN(),
		cpu: float64((cpuTime() - c0).Microseconds()) / float64(n)}
	if w := ioWriteBytes(); w >= 0 && w0 >= 0 {
		s.wbytes = float64(w-w0) / float64(n)
	}
	return s, n, firstEr
}

func (r *runner) replEmbedded(round int, batchOf func(uint64) []ledger.ExperienceEventEnvelope) (sample, error) {
	dir := r.scratch("w", fmt.Sprintf("repl-exledger-%d", round))
	defer os.RemoveAll(dir)
	l, err := ledger.Open(dir, nil)
	if err != nil {
		return sample{}, err
	}
	defer l.Close()
	ctx := context.Background()
	s, n, err := replWrite(batchOf, func(_ int, es []ledger.ExperienceEventEnvelope) error {
		return l.AppendEvents(ctx, es)
	})
	if err != nil {
		return sample{}, err
	}
	if l.LastSeq() != uint64(n) {
		return sample{}, fmt.Errorf("ledger holds %d events, %d acknowledged", l.LastSeq(), n)
	}
	return s, nil
}

// replJetStream runs a round through one Store per connection (each to
// its own server), replicas = len(ncs).
func (r *runner) replJetStream(round int, ncs []*nats.Conn, batchOf func(uint64) []ledger.ExperienceEventEnvelope) (sample, sample, error) {
	// Generous: on a loaded machine a batch can take seconds.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	n := len(ncs)
	stream := fmt.Sprintf("BENCH%d%d", n, round)
	js, err := natsjs.New(ncs[0])
	if err != nil {
		return sample{}, sample{}, err
	}
	var stores []*jetstream.Store
	defer func() {
		for i, s := range stores {
			s.Close()
			os.RemoveAll(r.scratch("w", fmt.Sprintf("repl-js%d-%d-%d", n, round, i)))
		}
		js.DeleteStream(ctx, stream)
	}()
	for i, nc := range ncs {
		s, err := jetstream.Open(ctx, nc, jetstream.Options{Stream: stream, Replicas: n,
			Dir: r.scratch("w", fmt.Sprintf("repl-js%d-%d-%d", n, round, i))})
		if err != nil {
			return sample{}, sample{}, err
		}
		stores = append(stores, s)
	}
	var (
		lmu  sync.Mutex
		lags []time.Duration
		lwg  sync.WaitGroup
	)
	s, events, err := replWrite(batchOf, func(w int, es []ledger.ExperienceEventEnvelope) error {
		ack, err := stores[w%n].Append(ctx, es)
		if err != nil {
			return err
		}
		t := time.Now()
		other := stores[(w+1)%n]
		lwg.Go(func() {
			if other.WaitApplied(ctx, ack.Seq) == nil {
				d := time.Since(t)
				lmu.Lock()
				lags = append(lags, d)
				lmu.Unlock()
			}
		})
		return nil
	})
	lwg.Wait()
	if err != nil {
		return sample{}, sample{}, err
	}
	for i, st := range stores {
		if err := st.Sync(ctx); err != nil {
			return sample{}, sample{}, err
		}
		h, err := st.Head()
		if err != nil {
			return sample{}, sample{}, err
		}
		if h.Digest.Seq != uint64(events) {
			return sample{}, sample{}, fmt.Errorf("store %d holds %d events, %d acknowledged", i, h.Digest.Seq, events)
		}
	}
	slices.Sort(lags)
	ls := sample{v: float64(pct(lags, 0.5).Microseconds()), lat: lags}
	return s, ls, nil
}
