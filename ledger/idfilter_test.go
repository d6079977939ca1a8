package ledger

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestIDFilterNoFalseNegativesLowFalsePositives(t *testing.T) {
	var f idFilter
	r := rand.New(rand.NewPCG(1, 2))
	in := make([]uint64, 3<<20) // crosses two growth steps
	for i := range in {
		in[i] = r.Uint64()
	}
	f.add(45, in)
	if f.maySealed(12345) != true {
		t.Fatal("a filter that is not ready must answer maybe")
	}
	f.ready.Store(true)
	for _, h := range in {
		if !f.maySealed(h) {
			t.Fatalf("false negative for %d", h)
		}
		// Only the leading 45 bits are the key.
		if !f.maySealed(h ^ 1<<(64-46)) {
			t.Fatalf("false negative for %d with other trailing bits", h)
		}
	}
	if len(f.filters) != 2 {
		t.Fatalf("filters: %d, want 2 after growth", len(f.filters))
	}
	fp := 0
	const probes = 200000
	for i := 0; i < probes; i++ {
		if f.maySealed(r.Uint64()) {
			fp++
		}
	}
	// Two filters at ~12 bits/key, k=7: a few percent at most.
	if rate := float64(fp) / probes; rate > 0.05 {
		t.Fatalf("false-positive rate %.3f", rate)
	}
}

// TestIDFilterPrefixLengths: ids added with different prefix lengths are
// all found, and a new id sharing only the top 32 bits of a sealed one is
// not a "maybe" (it was, with 32-bit keys, for N/2³² of new ids).
func TestIDFilterPrefixLengths(t *testing.T) {
	var f idFilter
	r := rand.New(rand.NewPCG(3, 4))
	a, b := make([]uint64, 50000), make([]uint64, 50000)
	for i := range a {
		a[i], b[i] = r.Uint64(), r.Uint64()
	}
	f.reserve(40, len(a))
	f.add(40, a)
	f.add(52, b)
	f.ready.Store(true)
	if len(f.filters) != 2 {
		t.Fatalf("filters: %d, want one per prefix length", len(f.filters))
	}
	for i := range a {
		if !f.maySealed(a[i]) || !f.maySealed(b[i]) {
			t.Fatalf("false negative at %d", i)
		}
	}
	fp := 0
	for i := range a {
		// Same top 32 bits as a sealed id, the next bits differ.
		if f.maySealed(a[i] ^ 1<<(64-33)) {
			fp++
		}
	}
	if rate := float64(fp) / float64(len(a)); rate > 0.05 {
		t.Fatalf("ids sharing the top 32 bits: false-positive rate %.3f", rate)
	}
}

// BenchmarkIDFilterFallback measures the share of new ids the ledger-wide
// filter cannot rule out ("maybe", each then probing every segment's
// index) against the number of sealed ids, with keys of 32 bits (the
// filter before 64-bit prefixes) and of 45 bits (a segment of ~100k
// events keeps 32+13 bits). Reported as fallback-%.
func BenchmarkIDFilterFallback(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000, 50_000_000, 100_000_000} {
		for _, bits := range []uint8{32, 45} {
			b.Run(fmt.Sprintf("n=%dM/bits=%d", n/1_000_000, bits), func(b *testing.B) {
				var f idFilter
				r := rand.New(rand.NewPCG(uint64(n), 7))
				f.reserve(bits, n+n/4)
				buf := make([]uint64, 1<<16)
				for done := 0; done < n; done += len(buf) {
					k := min(len(buf), n-done)
					for i := range buf[:k] {
						buf[i] = r.Uint64()
					}
					f.add(bits, buf[:k])
				}
				f.ready.Store(true)
				b.ResetTimer()
				maybe := 0
				for i := 0; i < b.N; i++ {
					if f.maySealed(r.Uint64()) {
						maybe++
					}
				}
				b.ReportMetric(100*float64(maybe)/float64(b.N), "fallback-%")
				b.ReportMetric(float64(f.filters[0].cap*12/8)/float64(n), "filter-B/id")
			})
		}
	}
}

// TestIDFilterReserveAfterSeal: a seal that adds ids before the build
// (a WAL tail sealed at Open, before the first append) creates a small
// filter of the build's prefix length; the build's reserve must still size
// one filter for the ledger's ids instead of growing the seal's by
// doubling (up to twice the memory, several filters to probe).
func TestIDFilterReserveAfterSeal(t *testing.T) {
	var f idFilter
	r := rand.New(rand.NewPCG(5, 6))
	seal := make([]uint64, 1000)
	for i := range seal {
		seal[i] = r.Uint64()
	}
	f.add(45, seal)
	const n = 5 << 20
	f.reserve(45, n+n/4) // as build does
	big := make([]uint64, n)
	for i := range big {
		big[i] = r.Uint64()
	}
	f.add(45, big)
	if len(f.filters) != 2 {
		t.Fatalf("filters: %d, want the seal's and one sized for the build", len(f.filters))
	}
	if c := f.filters[1].cap; c < n {
		t.Fatalf("reserved filter holds %d, want >= %d", c, n)
	}
	f.ready.Store(true)
	for _, h := range append(seal, big...) {
		if !f.maySealed(h) {
			t.Fatalf("false negative for %d", h)
		}
	}
	// Room enough in the last filter: no new one.
	f.reserve(45, 10)
	if len(f.filters) != 2 {
		t.Fatalf("filters: %d after a reserve that fits", len(f.filters))
	}
}
