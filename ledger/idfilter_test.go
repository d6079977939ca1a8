package ledger

import (
	"math/rand/v2"
	"testing"
)

func TestIDFilterNoFalseNegativesLowFalsePositives(t *testing.T) {
	var f idFilter
	r := rand.New(rand.NewPCG(1, 2))
	in := make([]uint32, 3<<20) // crosses two growth steps
	for i := range in {
		in[i] = r.Uint32()
	}
	f.add(in)
	if f.maySealed(12345) != true {
		t.Fatal("a filter that is not ready must answer maybe")
	}
	f.ready.Store(true)
	for _, h := range in {
		if !f.maySealed(h) {
			t.Fatalf("false negative for %d", h)
		}
	}
	if len(f.filters) != 2 {
		t.Fatalf("filters: %d, want 2 after growth", len(f.filters))
	}
	fp := 0
	const probes = 200000
	for i := 0; i < probes; i++ {
		if f.maySealed(r.Uint32()) {
			fp++
		}
	}
	// Two filters at ~12 bits/key, k=7: a few percent at most, plus the
	// hash collisions of 3M keys in 2^32 (0.07%).
	if rate := float64(fp) / probes; rate > 0.05 {
		t.Fatalf("false-positive rate %.3f", rate)
	}
}
