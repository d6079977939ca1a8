package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"time"
)

// queryPhase grows one store per engine through the sizes of -sizes (all
// engines get the same chunk of 1000 events in turn, unsynced), and at each
// size closes and reopens every store with its durable settings, then runs
// the query cases; at -scale it also times a clean open and measures the
// bytes on disk.
func (r *runner) queryPhase() error {
	c := &r.cfg
	want := c.cases["selective"] || c.cases["selective1pct"] || c.cases["timerange"] || c.cases["trace"] || c.cases["scan"] || c.cases["scanraw"] || c.cases["open"] || c.cases["bytes"]
	if !want {
		return nil
	}
	names := r.pick("exledger", "pebble", "sqlite", "bbolt")
	engs := map[string]engine{}
	dirs := map[string]string{}
	// cached: stores of -store-cache that are complete (not rebuilt).
	cached := map[string]storeMeta{}
	if c.storeCache != "" && len(c.sizes) != 1 {
		return fmt.Errorf("-store-cache needs a single size (-sizes), got %v", c.sizes)
	}
	for _, n := range names {
		engs[n] = newEngine(n)
		if c.storeCache != "" {
			dirs[n] = storeCacheDir(c.storeCache, n, c.sizes[0])
			if m, ok := loadStoreMeta(dirs[n], c.sizes[0]); ok {
				cached[n] = m
				logf("%s: cached store %s", n, dirs[n])
			} else {
				os.RemoveAll(dirs[n])
				os.Remove(dirs[n] + ".json")
			}
		} else {
			dirs[n] = r.scratch("q", n)
		}
		if err := engs[n].open(dirs[n], false); err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	var build []string // the engines whose stores are built here
	for _, n := range names {
		if _, ok := cached[n]; !ok {
			build = append(build, n)
		}
	}
	defer func() {
		for _, e := range engs {
			e.close()
		}
	}()
	r.qinfo = map[int]queries{}
	r.corpus.buildRate = map[string]float64{}
	buildTime := map[string]time.Duration{}
	st := newStream()
	for _, size := range c.sizes {
		var q queries
		if len(build) == 0 {
			// Every store is cached: take the corpus facts from one.
			m := cached[names[0]]
			q = m.queries()
			for _, n := range names {
				r.corpus.buildRate[n] = cached[n].BuildRate
			}
			r.corpus.events = size
			r.corpus.jsonAvg = float64(m.JSONBytes) / float64(size)
			r.corpus.canonAvg = float64(m.CanonBytes) / float64(size)
		} else {
			logf("building query stores of %v up to %d events", build, size)
			for st.n < size {
				chunk := st.next(min(1000, size-st.n))
				for _, n := range build {
					t := time.Now()
					if err := engs[n].append(chunk); err != nil {
						return fmt.Errorf("build %s: %w", n, err)
					}
					buildTime[n] += time.Since(t)
				}
			}
			for _, n := range names {
				if m, ok := cached[n]; ok {
					r.corpus.buildRate[n] = m.BuildRate
					continue
				}
				r.corpus.buildRate[n] = float64(st.n) / buildTime[n].Seconds()
				if ab, ok := engs[n].(interface{ afterBuild() error }); ok {
					if err := ab.afterBuild(); err != nil {
						return fmt.Errorf("%s: %w", n, err)
					}
				}
			}
			q = st.queries()
			r.corpus.events = st.n
			r.corpus.jsonAvg = float64(st.jsonBytes) / float64(st.n)
			r.corpus.canonAvg = float64(st.canonBytes) / float64(st.n)
		}
		r.qinfo[size] = q
		logf("size %d: selective %s+%s (%d events, %.3f%%), time range %s [%s, %s] (%d events), %d trace ids",
			size, q.selTenant, q.selKind, q.selWant, 100*float64(q.selWant)/float64(size), q.trTenant, q.trStart, q.trEnd, q.trWant, len(q.traces))

		// Reopen with durable settings: what a restarted application sees.
		for _, n := range names {
			if err := engs[n].close(); err != nil {
				return fmt.Errorf("%s close: %w", n, err)
			}
			if _, ok := cached[n]; !ok && c.storeCache != "" {
				// Closed cleanly: the store is complete.
				if err := writeStoreMeta(dirs[n], q, st, r.corpus.buildRate[n]); err != nil {
					return fmt.Errorf("%s: %w", n, err)
				}
			}
			if err := engs[n].open(dirs[n], true); err != nil {
				return fmt.Errorf("%s reopen: %w", n, err)
			}
		}
		if size == c.scale && c.cases["open"] {
			cs := r.newCase("open", fmt.Sprintf("Open after a clean close, %d events", size), "ms", false, names)
			cs.size = size
			r.alternate(cs, c.rounds, func(name string, round int) (sample, error) {
				e := engs[name]
				if err := e.close(); err != nil {
					return sample{}, err
				}
				t := time.Now()
				err := e.open(dirs[name], true)
				el := time.Since(t)
				s := sample{v: float64(el.Microseconds()) / 1000, lat: []time.Duration{el}, fsyncs: math.NaN(), wbytes: math.NaN(), cpu: math.NaN()}
				if le, ok := e.(*ledgerEngine); ok && err == nil {
					m := le.l.Metrics()
					s.note = fmt.Sprintf("WAL replayed %d events, %d segments", m.RecoveredWAL, m.Segments)
				}
				return s, err
			})
		}
		if err := r.queries(engs, names, q, size); err != nil {
			return err
		}
		if size == c.scale && c.cases["bytes"] {
			r.corpus.footprint = map[string][3]int64{}
			r.corpus.footprintEvents = st.n
			r.corpus.footprintJSONBytes = st.jsonBytes
			for _, n := range names {
				d, ix, o, err := engs[n].footprint(dirs[n])
				if err != nil {
					return fmt.Errorf("%s footprint: %w", n, err)
				}
				r.corpus.footprint[n] = [3]int64{d, ix, o}
				logf("bytes %s: data %.1f B/event, index %.1f B/event, other %.1f B/event", n,
					float64(d)/float64(st.n), float64(ix)/float64(st.n), float64(o)/float64(st.n))
			}
		}
	}
	return nil
}

// timed runs op repeatedly for about qdur (at least 3 times), and returns
// the latencies.
func (r *runner) timed(op func(i int) error) ([]time.Duration, error) {
	var lat []time.Duration
	start := time.Now()
	for i := 0; i < 100_000 && (i < 3 || time.Since(start) < r.cfg.qdur); i++ {
		t := time.Now()
		if err := op(i); err != nil {
			return lat, err
		}
		lat = append(lat, time.Since(t))
	}
	return lat, nil
}

func latSample(lat []time.Duration) sample {
	s := sample{lat: lat, fsyncs: math.NaN(), wbytes: math.NaN(), cpu: math.NaN()}
	sorted := slices.Clone(lat)
	slices.Sort(sorted)
	s.v = float64(pct(sorted, 0.5).Nanoseconds()) / 1000
	return s
}

func (r *runner) queries(engs map[string]engine, names []string, q queries, size int) error {
	c := &r.cfg
	if c.cases["selective"] {
		cs := r.newCase(fmt.Sprintf("selective@%d", size), fmt.Sprintf("Selective query tenant+kind (%d of %d events, %.2f%%)", q.selWant, size, 100*float64(q.selWant)/float64(size)), "µs", false, names)
		cs.size = size
		r.alternate(cs, c.rounds, func(name string, round int) (sample, error) {
			lat, err := r.timed(func(int) error {
				n, err := engs[name].tenantKind(q.selTenant, q.selKind)
				if err == nil && n != q.selWant {
					err = fmt.Errorf("returned %d events, want %d", n, q.selWant)
				}
				return err
			})
			return latSample(lat), err
		})
	}
	if c.cases["selective1pct"] {
		cs := r.newCase(fmt.Sprintf("selective1pct@%d", size), fmt.Sprintf("Medium-selectivity query tenant+kind (%d of %d events, %.2f%%)", q.sel1Want, size, 100*float64(q.sel1Want)/float64(size)), "µs", false, names)
		cs.size = size
		r.alternate(cs, c.rounds, func(name string, round int) (sample, error) {
			lat, err := r.timed(func(int) error {
				n, err := engs[name].tenantKind(q.sel1Tenant, q.sel1Kind)
				if err == nil && n != q.sel1Want {
					err = fmt.Errorf("returned %d events, want %d", n, q.sel1Want)
				}
				return err
			})
			return latSample(lat), err
		})
	}
	if c.cases["timerange"] {
		cs := r.newCase(fmt.Sprintf("timerange@%d", size), fmt.Sprintf("Time range of one tenant (%d of %d events, %.2f%%)", q.trWant, size, 100*float64(q.trWant)/float64(size)), "µs", false, names)
		cs.size = size
		r.alternate(cs, c.rounds, func(name string, round int) (sample, error) {
			lat, err := r.timed(func(int) error {
				n, err := engs[name].timeRange(q.trTenant, q.trStart, q.trEnd)
				if err == nil && n != q.trWant {
					err = fmt.Errorf("returned %d events, want %d", n, q.trWant)
				}
				return err
			})
			return latSample(lat), err
		})
	}
	if c.cases["trace"] {
		cs := r.newCase(fmt.Sprintf("trace@%d", size), fmt.Sprintf("Trace-link lookup (latest record of an id), %d events", size), "µs", false, names)
		cs.size = size
		r.alternate(cs, c.rounds, func(name string, round int) (sample, error) {
			lat, err := r.timed(func(i int) error {
				id := q.traces[(i*7919+round*104729)%len(q.traces)]
				ok, err := engs[name].trace(id)
				if err == nil && !ok {
					err = fmt.Errorf("trace %s not found", id)
				}
				return err
			})
			return latSample(lat), err
		})
	}
	scanCase := func(id, title string, read func(engine) (int, error)) {
		if !c.cases[id] {
			return
		}
		cs := r.newCase(fmt.Sprintf("%s@%d", id, size), fmt.Sprintf("%s, %d events", title, size), "events/s", true, names)
		cs.size = size
		r.alternate(cs, c.rounds, func(name string, round int) (sample, error) {
			c0 := cpuTime()
			t := time.Now()
			n, err := read(engs[name])
			el := time.Since(t)
			s := sample{v: float64(n) / el.Seconds(), lat: []time.Duration{el}, fsyncs: math.NaN(), wbytes: math.NaN(),
				cpu: float64((cpuTime() - c0).Microseconds()) / float64(max(n, 1))}
			if err == nil && n != size {
				err = fmt.Errorf("scanned %d events, want %d", n, size)
			}
			return s, err
		})
	}
	scanCase("scan", "Full scan, every event decoded", engine.scan)
	scanCase("scanraw", "Full scan, every event's header decoded", engine.scanRaw)
	return nil
}
