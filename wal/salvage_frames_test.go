package wal

import (
	"bytes"
	"slices"
	"testing"

	"github.com/exledger/exledger/vfs"
)

// TestSalvageFramesFlips flips one bit at sampled offsets of every file of
// a multi-file WAL (and zeroes whole 4 KiB sectors): SalvageFrames never
// returns a wrong batch and keeps every frame the damage did not touch,
// including all frames after the damaged one.
func TestSalvageFramesFlips(t *testing.T) {
	fx := buildFixture(t, 60)
	type frame struct {
		file       int
		start, end int64
		batch      int
	}
	var frames []frame
	for f := range fx.paths {
		for i, end := range fx.ends[f] {
			frames = append(frames, frame{file: f, start: fx.frameStart(f, i), end: end, batch: fx.batchAt[f][i]})
		}
	}
	check := func(what string, f int, img []byte, lo, hi int64) {
		mem := vfs.NewMem()
		if err := mem.MkdirAll(testDir); err != nil {
			t.Fatal(err)
		}
		for i, p := range fx.paths {
			d := fx.data[i]
			if i == f {
				d = img
			}
			if err := mem.WriteFile(p, d); err != nil {
				t.Fatal(err)
			}
		}
		fs, err := SalvageFrames(testOpts(mem, fixtureFileSize))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := map[uint64][][]byte{}
		for _, b := range fs.Batches {
			got[b.FirstSeq] = b.Records
		}
		for _, fr := range frames {
			c := fx.all[fr.batch]
			recs, ok := got[c.seq]
			if ok && !slices.EqualFunc(recs, c.recs, bytes.Equal) {
				t.Fatalf("%s: batch at seq %d salvaged with wrong records", what, c.seq)
			}
			touched := fr.file == f && fr.start < hi && fr.end > lo
			if !ok && !touched {
				t.Fatalf("%s: untouched frame at seq %d (file %d, %d-%d) lost", what, c.seq, fr.file, fr.start, fr.end)
			}
		}
	}
	n := 0
	for f := range fx.paths {
		for off := int64(0); off < int64(len(fx.data[f])); off += 37 {
			img := bytes.Clone(fx.data[f])
			img[off] ^= 1 << (off % 8)
			check("flip", f, img, off, off+1)
			n++
		}
		for off := int64(0); off < int64(len(fx.data[f])); off += 4096 {
			img := bytes.Clone(fx.data[f])
			end := min(off+4096, int64(len(img)))
			clear(img[off:end])
			check("zeroed sector", f, img, off, end)
			n++
		}
	}
	t.Logf("%d damaged images of %d files, %d frames", n, len(fx.paths), len(frames))
}
