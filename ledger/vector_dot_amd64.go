//go:build amd64 && !purego

package ledger

import "golang.org/x/sys/cpu"

// useAVX selects the AVX kernel of dot32 (the CPU and the OS support the
// 256-bit registers).
var useAVX = cpu.X86.HasAVX

// dot8AVX multiplies and accumulates a[0:n] and b[0:n] (n a multiple of 8,
// n > 0) in 8 lanes: lane j of acc gets, in order, the float32 products
// a[i]*b[i] for i ≡ j (mod 8), each rounded to float32 before it is added
// (VMULPS then VADDPS, no fused multiply-add), which is exactly what the
// eight accumulators of dot32Go compute.
//
//go:noescape
func dot8AVX(a, b *float32, n int, acc *[8]float32)

// dot32 is the float32 dot product every search path uses (MemStore, the
// exact scan, the approximate index's build and re-ranking), so a query
// gives the same distances whichever path answers it; its result is bit
// for bit the one of dot32Go, with or without AVX (TestDot32AVX).
func dot32(a, b []float32) float32 {
	b = b[:len(a)]
	n := len(a) &^ 7
	if !useAVX || n == 0 {
		return dot32Go(a, b)
	}
	var acc [8]float32
	dot8AVX(&a[0], &b[0], n, &acc)
	s0 := acc[0]
	for i := n; i < len(a); i++ {
		s0 += float32(a[i] * b[i])
	}
	return ((s0 + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}
