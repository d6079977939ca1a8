package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exledger/exledger/ledger"
)

type runner struct {
	cfg     config
	started time.Time
	elapsed time.Duration
	machine []string
	probes  []probe
	results []*caseResult
	// query-phase facts for the report
	qinfo   map[int]queries
	corpus  corpusFacts
	writers map[int]*caseResult // writer sweep by writer count
	plotDir string
}

type corpusFacts struct {
	events             int
	jsonAvg, canonAvg  float64
	buildRate          map[string]float64 // unsynced build events/s per engine
	footprint          map[string][3]int64
	footprintEvents    int
	footprintJSONBytes int64
}

// sample is one engine's figure for one round.
type sample struct {
	v      float64         // events/s, or latency µs (the round's median), or ms
	lat    []time.Duration // per-operation latencies of the round
	fsyncs float64         // fsyncs per commit (NaN = not measurable)
	wbytes float64         // /proc/self/io write_bytes per event (NaN = n/a)
	cpu    float64         // CPU µs per event (NaN = n/a)
	alt    float64         // sustained events/s: appends plus draining deferred work (= v when none)
	note   string
}

type cell struct{ samples []sample }

// drainer is an engine that defers work past the acknowledgement of an
// append (exledger seals segments, Pebble flushes memtables in the
// background); drain does that work now, synchronously.
type drainer interface{ drain() error }

type caseResult struct {
	id, title, unit string
	size            int  // store size for query cases (0 = n/a)
	higherBetter    bool // events/s: higher is better; latency: lower
	engines         []string
	cells           map[string]*cell
	errs            []string
}

func (r *runner) newCase(id, title, unit string, higher bool, engines []string) *caseResult {
	c := &caseResult{id: id, title: title, unit: unit, higherBetter: higher, engines: engines, cells: map[string]*cell{}}
	for _, e := range engines {
		c.cells[e] = &cell{}
	}
	r.results = append(r.results, c)
	return c
}

func (c *caseResult) errorf(f string, a ...any) {
	msg := fmt.Sprintf(f, a...)
	logf("ERROR %s: %s", c.id, msg)
	if !slices.Contains(c.errs, msg) {
		c.errs = append(c.errs, msg)
	}
}

// alternate runs one warm-up round then r.cfg.rounds measured rounds; in
// each round every engine runs once, the order reversed every other round
// (A B C, C B A, ...) so that no engine always follows the same neighbour.
func (r *runner) alternate(c *caseResult, rounds int, f func(eng string, round int) (sample, error)) {
	order := slices.Clone(c.engines)
	for round := 0; round <= rounds; round++ {
		for _, eng := range order {
			var s sample
			var err error
			labelled(c.id, eng, func() { s, err = f(eng, round) })
			if err != nil {
				c.errorf("%s round %d: %v", eng, round, err)
				continue
			}
			if round > 0 {
				c.cells[eng].samples = append(c.cells[eng].samples, s)
			}
		}
		slices.Reverse(order)
		if round == 0 {
			logf("%s: warm-up done", c.id)
		}
	}
	logf("%s: %s", c.id, c.summary())
}

func (c *caseResult) summary() string {
	s := ""
	for _, e := range c.engines {
		s += fmt.Sprintf("%s=%s ", e, fmtVal(c.median(e), c.unit))
	}
	return s
}

func (c *caseResult) values(eng string) []float64 {
	var v []float64
	for _, s := range c.cells[eng].samples {
		v = append(v, s.v)
	}
	return v
}

func (c *caseResult) median(eng string) float64 { return median(c.values(eng)) }

// ratio is the median over rounds of exledger's figure ÷ eng's figure in
// the same round (paired), and how many of the pairs lie within 25% of it.
func (c *caseResult) ratio(eng string) (med float64, within, pairs int) {
	return c.ratioOf(eng, func(s sample) float64 { return s.v })
}

// ratioOf is ratio over another figure of the samples.
func (c *caseResult) ratioOf(eng string, f func(sample) float64) (med float64, within, pairs int) {
	var a, b []float64
	for _, s := range c.cells["exledger"].samples {
		a = append(a, f(s))
	}
	for _, s := range c.cells[eng].samples {
		b = append(b, f(s))
	}
	var rs []float64
	for i := 0; i < min(len(a), len(b)); i++ {
		if b[i] > 0 {
			rs = append(rs, a[i]/b[i])
		}
	}
	med = median(rs)
	for _, x := range rs {
		if math.Abs(x-med) <= 0.25*med {
			within++
		}
	}
	return med, within, len(rs)
}

func (r *runner) scratch(parts ...string) string {
	d := filepath.Join(append([]string{r.cfg.root}, parts...)...)
	os.RemoveAll(d)
	return d
}

func (r *runner) has(eng string) bool { return slices.Contains(r.cfg.engines, eng) }

// pick keeps the configured engines among want, in want's order.
func (r *runner) pick(want ...string) []string {
	var out []string
	for _, e := range want {
		if r.has(e) {
			out = append(out, e)
		}
	}
	return out
}

type meter struct {
	fs0  uint64
	fsOK bool
	w0   int64
	c0   time.Duration
	t0   time.Time
}

func startMeter(e engine) meter {
	fs, ok := e.fsyncs()
	return meter{fs0: fs, fsOK: ok, w0: ioWriteBytes(), c0: cpuTime(), t0: time.Now()}
}

// stop fills s.v (events/s), per-event write bytes and CPU, and fsyncs per
// commit.
func (m meter) stop(e engine, s *sample, events, commits int) {
	el := time.Since(m.t0)
	s.v = float64(events) / el.Seconds()
	s.cpu = float64((cpuTime() - m.c0).Microseconds()) / float64(events)
	s.wbytes = math.NaN()
	if w := ioWriteBytes(); w >= 0 && m.w0 >= 0 {
		s.wbytes = float64(w-m.w0) / float64(events)
	}
	s.fsyncs = math.NaN()
	if fs, ok := e.fsyncs(); ok && m.fsOK && commits > 0 {
		s.fsyncs = float64(fs-m.fs0) / float64(commits)
	}
}

// ---- write cases ----

func (r *runner) writeCases() error {
	c := &r.cfg
	if c.cases["coldappend"] {
		r.coldAppendCase()
	}
	need := c.cases["append1000"] || c.cases["append1"] || c.cases["concurrent64"] || c.cases["writers"]
	if !need {
		return nil
	}
	logf("generating %d events for the write cases", c.appendN)
	evs := newStream().next(c.appendN)

	if c.cases["append1000"] {
		cs := r.newCase("append1000", "Durable appends, batch 1000, 1 writer", "events/s", true,
			r.pick("exledger", "pebble", "sqlite", "bbolt", "raw-codec", "raw-fsync"))
		r.alternate(cs, c.rounds, func(name string, round int) (sample, error) {
			return r.appendBatch(name, round, evs, 1000, 0)
		})
	}
	if c.cases["append1"] {
		cs := r.newCase("append1", "Durable appends, batch 1, 1 writer", "events/s", true,
			r.pick("exledger", "pebble", "sqlite", "bbolt", "raw-fsync"))
		r.alternate(cs, c.rounds, func(name string, round int) (sample, error) {
			return r.appendBatch(name, round, evs, 1, c.dur)
		})
	}
	r.writers = map[int]*caseResult{}
	if c.cases["concurrent64"] {
		cs := r.newCase("concurrent64", "64 concurrent single-event durable appenders", "events/s", true,
			r.pick("exledger", "pebble", "sqlite", "bbolt"))
		r.alternate(cs, c.rounds, func(name string, round int) (sample, error) {
			return r.concurrent(name, round, evs, 64)
		})
		r.writers[64] = cs
	}
	if c.cases["writers"] {
		for _, p := range []int{1, 4, 16} {
			cs := r.newCase(fmt.Sprintf("writers%d", p), fmt.Sprintf("%d concurrent single-event durable appenders (sweep)", p), "events/s", true,
				r.pick("exledger", "pebble", "sqlite", "bbolt"))
			r.alternate(cs, min(c.rounds, 3), func(name string, round int) (sample, error) {
				return r.concurrent(name, round, evs, p)
			})
			r.writers[p] = cs
		}
	}
	return nil
}

// appendBatch writes evs in batches of size batch from one goroutine into a
// fresh store; with dur > 0 it stops after dur (or when evs run out).
func (r *runner) appendBatch(name string, round int, evs []ledger.ExperienceEventEnvelope, batch int, dur time.Duration) (sample, error) {
	dir := r.scratch("w", fmt.Sprintf("%s-%d", name, round))
	defer os.RemoveAll(dir)
	e := newEngine(name)
	if err := e.open(dir, true); err != nil {
		return sample{}, err
	}
	defer e.close()
	var s sample
	m := startMeter(e)
	n, commits := 0, 0
	for n+batch <= len(evs) {
		t := time.Now()
		if err := e.append(evs[n : n+batch]); err != nil {
			return s, err
		}
		s.lat = append(s.lat, time.Since(t))
		n += batch
		commits++
		if dur > 0 && time.Since(m.t0) >= dur {
			break
		}
	}
	m.stop(e, &s, n, commits)
	s.alt = s.v
	if d, ok := e.(drainer); ok {
		// Work the engine deferred (sealing, memtable flush) is part of
		// the sustained cost of these appends: time it separately.
		t := time.Now()
		if err := d.drain(); err != nil {
			return s, err
		}
		dt := time.Since(t)
		s.alt = float64(n) / (float64(n)/s.v + dt.Seconds())
		s.note = fmt.Sprintf("+drain %s → %s", fmtDur(dt), fmtVal(s.alt, "events/s"))
	}
	if got, err := e.lastSeq(); err != nil || got != uint64(n) {
		return s, fmt.Errorf("stored %d events, want %d (%v)", got, n, err)
	}
	return s, nil
}

// concurrent runs p goroutines appending single events for r.cfg.dur.
func (r *runner) concurrent(name string, round int, evs []ledger.ExperienceEventEnvelope, p int) (sample, error) {
	dir := r.scratch("w", fmt.Sprintf("%s-p%d-%d", name, p, round))
	defer os.RemoveAll(dir)
	e := newEngine(name)
	if err := e.open(dir, true); err != nil {
		return sample{}, err
	}
	defer e.close()
	var (
		next    atomic.Int64
		done    atomic.Bool
		wg      sync.WaitGroup
		mu      sync.Mutex
		lat     []time.Duration
		firstEr error
	)
	m := startMeter(e)
	for w := 0; w < p; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			my := make([]time.Duration, 0, 4096)
			for !done.Load() {
				i := next.Add(1) - 1
				if i >= int64(len(evs)) {
					done.Store(true)
					break
				}
				t := time.Now()
				var err error
				if p == 1 {
					err = e.append(evs[i : i+1])
				} else {
					err = e.appendOne(&evs[i])
				}
				if err != nil {
					mu.Lock()
					firstEr = err
					mu.Unlock()
					done.Store(true)
					break
				}
				my = append(my, time.Since(t))
				if time.Since(m.t0) >= r.cfg.dur {
					done.Store(true)
				}
			}
			mu.Lock()
			lat = append(lat, my...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	var s sample
	s.lat = lat
	m.stop(e, &s, len(lat), len(lat))
	if firstEr != nil {
		return s, firstEr
	}
	// fsyncs per commit is per event here: the batch is formed inside the
	// engine; report events per fsync in the note.
	if !math.IsNaN(s.fsyncs) && s.fsyncs > 0 {
		s.note = fmt.Sprintf("%.1f events/fsync", 1/s.fsyncs)
	}
	if got, err := e.lastSeq(); err != nil || got != uint64(len(lat)) {
		return s, fmt.Errorf("stored %d events, want %d (%v)", got, len(lat), err)
	}
	return s, nil
}

// ---- recovery ----

// recovery: a child process writes n events with the durable policy and is
// killed with SIGKILL right after its last append returned (no Close, locks
// released by the kernel); the parent then times the open that recovers the
// store and checks that every acknowledged event is there.
func (r *runner) recovery() error {
	c := &r.cfg
	cs := r.newCase("recovery", fmt.Sprintf("Open after kill -9 (%d events written durably, never closed)", c.recoveryN), "ms", false,
		r.pick("exledger", "pebble", "sqlite", "bbolt"))
	r.alternate(cs, c.rounds, func(name string, round int) (sample, error) {
		dir := r.scratch("rec", fmt.Sprintf("%s-%d", name, round))
		defer os.RemoveAll(dir)
		if err := spawnAndKill(name, dir, c.recoveryN); err != nil {
			return sample{}, err
		}
		e := newEngine(name)
		t := time.Now()
		if err := e.open(dir, true); err != nil {
			return sample{}, err
		}
		el := time.Since(t)
		defer e.close()
		s := sample{v: float64(el.Microseconds()) / 1000, lat: []time.Duration{el}, fsyncs: math.NaN(), wbytes: math.NaN(), cpu: math.NaN()}
		if le, ok := e.(*ledgerEngine); ok {
			m := le.l.Metrics()
			s.note = fmt.Sprintf("WAL replayed %d events, %d segments", m.RecoveredWAL, m.Segments)
		}
		if got, err := e.lastSeq(); err != nil || got != uint64(c.recoveryN) {
			return s, fmt.Errorf("recovered %d events, want %d (%v)", got, c.recoveryN, err)
		}
		return s, nil
	})
	return nil
}
