package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

// fuzzImage turns fuzz bytes into a WAL directory. If the first byte is
// even the rest follows a valid file header (so the fuzzer works on
// frames); otherwise the rest is the whole file.
func fuzzImage(data []byte) *vfs.MemFS {
	mem := vfs.NewMem()
	mem.MkdirAll(testDir)
	var file []byte
	if len(data) > 0 && data[0]%2 == 0 {
		file = appendFileHeader(nil, 0x5a17, 1)
		file = append(file, data[1:]...)
	} else if len(data) > 0 {
		file = data[1:]
	}
	mem.WriteFile(filepath.Join(testDir, fileName(1)), file)
	return mem
}

func FuzzWALRecover(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := fuzzImage(data)
		opts := testOpts(mem, 4096)
		opts.MaxBatchBytes = 1 << 16
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		w, rep, err := openReplay(opts, 1)
		runtime.ReadMemStats(&after)
		if err != nil {
			var ce *CorruptionError
			if !errors.As(err, &ce) || !errors.Is(err, corrupt.ErrCorrupt) {
				t.Fatalf("non-corruption error on a MemFS: %v", err)
			}
			return
		}
		// Bounded memory: c*n + K for an n-byte file.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(16*len(data)+(2<<20)) {
			t.Fatalf("open of %d bytes allocated %d", len(data), alloc)
		}
		// Whatever was accepted is dense and survives a second open.
		for i := 1; i < len(rep); i++ {
			if rep[i].seq != rep[i-1].seq+uint64(len(rep[i-1].recs)) {
				t.Fatalf("replay not dense: %d then %d", rep[i-1].seq, rep[i].seq)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		w2, rep2, err := openReplay(opts, 1)
		if err != nil {
			t.Fatalf("second open failed after a successful first: %v", err)
		}
		w2.Close()
		if len(rep2) != len(rep) {
			t.Fatalf("not idempotent: %d then %d", len(rep), len(rep2))
		}
	})
}

// fuzzSeeds returns real WAL content: whole frames, a torn frame, a flipped
// bit, a raw file.
func fuzzSeeds(tb testing.TB) [][]byte {
	mem := vfs.NewMem()
	w, err := Open(testOpts(mem, 1<<20), 1, nil)
	if err != nil {
		tb.Fatal(err)
	}
	commitN(tb, w, 0, 6)
	w.Close()
	file, _ := mem.ReadFile(filepath.Join(testDir, fileName(1)))
	frames := file[fileHeaderSize:]
	flipped := append([]byte(nil), frames...)
	flipped[len(flipped)/2] ^= 4
	seeds := [][]byte{
		append([]byte{0}, frames...),
		append([]byte{0}, frames[:len(frames)-13]...),
		append([]byte{0}, flipped...),
		append([]byte{1}, file...),
		{0},
		{1},
	}
	return seeds
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzWALRecover when
// WAL_WRITE_FUZZ_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("WAL_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set WAL_WRITE_FUZZ_SEEDS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzWALRecover")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range fuzzSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
