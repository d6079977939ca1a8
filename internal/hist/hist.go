package hist

import (
	"sync/atomic"
	"time"
)

// Histogram counts int64 observations into fixed buckets. The zero value
// is not usable; use New. It is safe for concurrent use.
type Histogram struct {
	bounds []int64
	counts []atomic.Uint64 // len(bounds)+1
	sum    atomic.Int64
}

// New returns a histogram with these upper bounds (strictly increasing;
// New panics otherwise: bounds are program constants).
func New(bounds []int64) *Histogram {
	for i := 1; i < len(bounds); i++ {
		if bounds[i] <= bounds[i-1] {
			panic("hist: bounds must be strictly increasing")
		}
	}
	return &Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// Observe records v.
func (h *Histogram) Observe(v int64) {
	// Binary search for the first bound >= v (bucket counts are small, but
	// this keeps the cost flat whatever the value).
	lo, hi := 0, len(h.bounds)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if h.bounds[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	h.counts[lo].Add(1)
	h.sum.Add(v)
}

// ObserveSince records the time elapsed since start, in nanoseconds.
func (h *Histogram) ObserveSince(start time.Time) { h.Observe(int64(time.Since(start))) }

// Snapshot is a copy of a histogram's state.
type Snapshot struct {
	Bounds []int64  // upper bounds, shared with the histogram (do not modify)
	Counts []uint64 // per bucket (not cumulative); len(Bounds)+1
	Count  uint64   // sum of Counts
	Sum    int64    // sum of the observed values
}

// Snapshot copies the current state.
func (h *Histogram) Snapshot() Snapshot {
	s := Snapshot{Bounds: h.bounds, Counts: make([]uint64, len(h.counts))}
	for i := range h.counts {
		c := h.counts[i].Load()
		s.Counts[i] = c
		s.Count += c
	}
	s.Sum = h.sum.Load()
	return s
}

// DurationBounds are the bucket bounds used for latencies, in
// nanoseconds: 1-2.5-5 steps from 1 µs to 10 s.
var DurationBounds = func() []int64 {
	var b []int64
	for d := int64(time.Microsecond); d <= int64(10*time.Second); d *= 10 {
		b = append(b, d, d*5/2, d*5)
	}
	return b[:len(b)-2] // end at 10 s
}()

// CountBounds are the bucket bounds used for sizes counted in items
// (commits per group, events per batch): powers of two up to 4096.
var CountBounds = []int64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096}
