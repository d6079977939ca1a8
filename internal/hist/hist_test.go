package hist

import (
	"sync"
	"testing"
	"time"
)

func TestObserveBuckets(t *testing.T) {
	h := New([]int64{10, 20, 30})
	cases := []struct {
		v      int64
		bucket int
	}{
		{-5, 0}, {0, 0}, {10, 0}, {11, 1}, {20, 1}, {21, 2}, {30, 2}, {31, 3}, {1 << 40, 3},
	}
	var sum int64
	for _, c := range cases {
		before := h.Snapshot().Counts[c.bucket]
		h.Observe(c.v)
		sum += c.v
		if got := h.Snapshot().Counts[c.bucket]; got != before+1 {
			t.Errorf("Observe(%d): bucket %d went %d -> %d, want +1", c.v, c.bucket, before, got)
		}
	}
	s := h.Snapshot()
	if s.Count != uint64(len(cases)) || s.Sum != sum {
		t.Fatalf("count %d sum %d, want %d %d", s.Count, s.Sum, len(cases), sum)
	}
}

func TestConcurrentObserve(t *testing.T) {
	h := New(CountBounds)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 1000; i++ {
				h.Observe(int64(i % 100))
			}
		})
	}
	wg.Wait()
	if s := h.Snapshot(); s.Count != 8000 || s.Sum != 8*10*4950 {
		t.Fatalf("count %d sum %d", s.Count, s.Sum)
	}
}

func TestDurationBounds(t *testing.T) {
	b := DurationBounds
	if b[0] != int64(time.Microsecond) || b[len(b)-1] != int64(10*time.Second) {
		t.Fatalf("bounds %v", b)
	}
	New(b) // strictly increasing, or it panics
}

func TestNewRejectsUnsortedBounds(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	New([]int64{2, 1})
}

func BenchmarkObserve(b *testing.B) {
	h := New(DurationBounds)
	for i := 0; b.Loop(); i++ {
		h.Observe(int64(i) * 997)
	}
}
