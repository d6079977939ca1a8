package ledger

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/exledger/exledger/internal/corrupt"
)

func sampleVecFile() []byte {
	ords := []uint32{0, 2, 3}
	data := []float32{1, 0, 0, 0.5, -1, 2, 3, 4, 0, 0, 0, 1e-3}
	return encodeVecFileV1(4, 5, ords, data, nil)
}

func TestVecFileRoundTrip(t *testing.T) {
	b := sampleVecFile()
	s, err := decodeVecFile("x.vec", b, 4, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.ords) != 3 || s.vec(1)[0] != -1 || s.norms[1] != float32(math.Sqrt(30)) {
		t.Fatalf("decoded %+v", s)
	}
	if _, ok := s.find(3); !ok {
		t.Fatal("ordinal 3 not found")
	}
	if _, ok := s.find(1); ok {
		t.Fatal("ordinal 1 found")
	}
	if got := encodeVecFileV1(s.dim, s.count, s.ords, s.data, nil); !bytes.Equal(got, b) {
		t.Fatal("re-encoding differs")
	}
	// What the manifest says must match.
	for _, c := range []struct {
		dim     int
		count   uint64
		vectors uint64
	}{{5, 5, 3}, {4, 6, 3}, {4, 5, 2}} {
		if _, err := decodeVecFile("x.vec", b, c.dim, c.count, c.vectors); !errors.Is(err, corrupt.ErrCorrupt) {
			t.Fatalf("manifest %+v accepted: %v", c, err)
		}
	}
}

// Every single-bit flip and every truncation of a vector file is refused
// as corruption.
func TestVecFileEveryFlipDetected(t *testing.T) {
	b := sampleVecFile()
	for i := range 8 * len(b) {
		c := bytes.Clone(b)
		c[i/8] ^= 1 << (i % 8)
		if _, err := decodeVecFile("x.vec", c, 0, 0, 0); !errors.Is(err, corrupt.ErrCorrupt) {
			t.Fatalf("flip of bit %d: %v", i, err)
		}
	}
	for n := range len(b) {
		if _, err := decodeVecFile("x.vec", b[:n], 0, 0, 0); !errors.Is(err, corrupt.ErrCorrupt) {
			t.Fatalf("truncation to %d bytes: %v", n, err)
		}
	}
}

// FuzzDecodeVecFile: the vector file decoder never panics, allocates no
// more than its input justifies, and what it accepts re-encodes to the
// same bytes and holds only finite vectors with a nonzero norm.
func FuzzDecodeVecFile(f *testing.F) {
	f.Add(sampleVecFile())
	f.Add(encodeVecFileV1(1, 1, []uint32{0}, []float32{-2}, nil))
	f.Add(encodeVecFileV1(3, 100, []uint32{7, 99}, []float32{1, 2, 3, 4, 5, 6}, nil))
	f.Add([]byte(vecMagic))
	{
		ords := make([]uint32, annMinVectors)
		data := make([]float32, annMinVectors)
		for i := range ords {
			ords[i], data[i] = uint32(i), float32(i%5)+1
		}
		f.Add(encodeVecFileV1(1, annMinVectors, ords, data, buildANN(1, ords, data)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeVecFile("f.vec", b, 0, 0, 0)
		if err != nil {
			if !errors.Is(err, corrupt.ErrCorrupt) {
				t.Fatalf("non-corruption error %v", err)
			}
			return
		}
		if 4*len(s.data)+4*len(s.ords)+4*len(s.norms) > 3*len(b) {
			t.Fatalf("decoded %d floats from %d bytes", len(s.data), len(b))
		}
		for i := range s.ords {
			if n := s.norms[i]; n == 0 || math.IsInf(float64(n), 0) || math.IsNaN(float64(n)) {
				t.Fatalf("vector %d norm %v", i, n)
			}
		}
		if s.ann == nil {
			if got := encodeVecFileV1(s.dim, s.count, s.ords, s.data, nil); !bytes.Equal(got, b) {
				t.Fatal("accepted bytes do not re-encode identically")
			}
		}
	})
}

// A vector file with an approximate index: decoded, and every byte of its
// index section is covered by the checksum.
func TestVecFileWithANN(t *testing.T) {
	const n, dim = 3000, 3
	ords := make([]uint32, n)
	data := make([]float32, n*dim)
	for i := range ords {
		ords[i] = uint32(2 * i)
		for j := range dim {
			data[i*dim+j] = float32((i*7+j*13)%17) - 8 + 0.5
		}
	}
	b := encodeVecFileV1(dim, 2*n, ords, data, buildANN(dim, ords, data))
	s, err := decodeVecFile("x.vec", b, dim, 2*n, n)
	if err != nil {
		t.Fatal(err)
	}
	if s.ann == nil || s.ann.nlist != annLists(n) || s.annBytes == 0 {
		t.Fatalf("index %+v", s.ann)
	}
	again := encodeVecFileV1(dim, 2*n, ords, data, buildANN(dim, ords, data))
	if !bytes.Equal(again, b) {
		t.Fatal("the index build is not deterministic")
	}
	start := len(b) - 8 - int(s.annBytes)
	for i := start; i < len(b); i += 7 {
		c := bytes.Clone(b)
		c[i] ^= 0x40
		if _, err := decodeVecFile("x.vec", c, 0, 0, 0); !errors.Is(err, corrupt.ErrCorrupt) {
			t.Fatalf("flip at %d: %v", i, err)
		}
	}
}
