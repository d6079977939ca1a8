package ledger

import "testing"

// TestResultChunks: the results come back in the order added, all of
// them, in a slice of the exact length past one chunk, and never nil.
func TestResultChunks(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 257, 767, 768, 769, 40_000, 100_003} {
		var r resultChunks[int]
		for i := range n {
			r.add(i)
		}
		got := r.slice()
		if got == nil || len(got) != n {
			t.Fatalf("n=%d: %d results (nil %v)", n, len(got), got == nil)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("n=%d: result %d is %d", n, i, v)
			}
		}
		if n > 256 && cap(got) != n {
			t.Fatalf("n=%d: capacity %d, want the exact length", n, cap(got))
		}
		for _, c := range r.full {
			if cap(c) > 1<<14 {
				t.Fatalf("n=%d: a chunk of capacity %d", n, cap(c))
			}
		}
	}
}

// BenchmarkResultChunks compares gathering 100,000 query results (the
// size of an envelope) in chunks with appending them to one slice.
func BenchmarkResultChunks(b *testing.B) {
	const n = 100_000
	var e ExperienceEventEnvelope
	b.Run("chunks", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r resultChunks[ExperienceEventEnvelope]
			for range n {
				r.add(e)
			}
			if len(r.slice()) != n {
				b.Fatal("lost results")
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out []ExperienceEventEnvelope
			for range n {
				out = append(out, e)
			}
			if len(out) != n {
				b.Fatal("lost results")
			}
		}
	})
}
