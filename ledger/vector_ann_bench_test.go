package ledger

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkBuildANN: the background indexer's training and assignment for
// one segment of 35,000 clustered 384-d vectors (the size of a default
// 64 MiB segment at that dimension).
func BenchmarkBuildANN(b *testing.B) {
	const n, dim = 35000, 384
	r := rand.New(rand.NewPCG(3, 3))
	centres := make([]float32, 1000*dim)
	for i := range centres {
		centres[i] = float32(r.NormFloat64())
	}
	ords := make([]uint32, n)
	flat := make([]float32, n*dim)
	for i := range n {
		ords[i] = uint32(i)
		c := r.IntN(1000)
		for j := range dim {
			flat[i*dim+j] = centres[c*dim+j] + float32(0.6*r.NormFloat64())
		}
	}
	b.ResetTimer()
	for range b.N {
		if buildANN(dim, ords, flat) == nil {
			b.Fatal("no index")
		}
	}
}
