package ledger

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDot32AVX: dot32 (the AVX kernel where the CPU has it) gives bit for
// bit dot32Go's result, for every length 0..300 and some long ones, with
// values of very different magnitudes (so that any change in the order of
// the additions would show in the rounding), subnormals, zeros and
// alternating signs.
func TestDot32AVX(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	gen := func(n, kind int) []float32 {
		v := make([]float32, n)
		for i := range v {
			switch kind {
			case 0:
				v[i] = float32(r.NormFloat64())
			case 1:
				v[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(24)-12)))
			case 2:
				v[i] = math.Float32frombits(uint32(r.IntN(1 << 23))) // subnormal
			case 3:
				v[i] = float32(1-2*(i%2)) * float32(1+r.IntN(1000))
			}
		}
		return v
	}
	lens := []int{1536, 1537, 3072, 4099}
	for n := range 301 {
		lens = append(lens, n)
	}
	for _, n := range lens {
		for kind := range 4 {
			a, b := gen(n, kind), gen(n, (kind+1)%4)
			got, want := dot32(a, b), dot32Go(a, b)
			if math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("n=%d kind=%d: dot32 %v (%#x), dot32Go %v (%#x)", n, kind, got, math.Float32bits(got), want, math.Float32bits(want))
			}
			// Unaligned starts.
			if n > 3 {
				got, want = dot32(a[1:n-2], b[3:n]), dot32Go(a[1:n-2], b[3:n])
				if math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("n=%d kind=%d unaligned: %v vs %v", n, kind, got, want)
				}
			}
		}
	}
	// Special values propagate as in the Go loop.
	for _, x := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32} {
		a, b := gen(64, 0), gen(64, 0)
		a[13] = x
		got, want := dot32(a, b), dot32Go(a, b)
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("special %v: %v vs %v", x, got, want)
		}
	}
}

func BenchmarkDot32(b *testing.B) {
	for _, n := range []int{384, 1536} {
		r := rand.New(rand.NewPCG(1, 1))
		x, y := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i], y[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
		}
		var s float32
		b.Run("go/"+itoa(n), func(b *testing.B) {
			for b.Loop() {
				s += dot32Go(x, y)
			}
		})
		b.Run("dot32/"+itoa(n), func(b *testing.B) {
			for b.Loop() {
				s += dot32(x, y)
			}
		})
		_ = s
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
