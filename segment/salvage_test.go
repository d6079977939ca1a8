package segment

import (
	"bytes"
	"fmt"
	"testing"
)

// TestSalvageFlips flips one bit at sampled offsets of small ordered and
// unordered segments: SalvageFile never fails or returns a wrong record,
// and loses at most the records of the block holding the flipped byte (a
// flip in the footer or trailer loses nothing: the scan finds every block).
func TestSalvageFlips(t *testing.T) {
	for _, unordered := range []bool{false, true} {
		t.Run(fmt.Sprintf("unordered=%v", unordered), func(t *testing.T) {
			orig, recs := smallSegment(t, unordered)
			r, err := openReaderAt("s", bytesFile{bytes.NewReader(orig)}, int64(len(orig)), nil)
			if err != nil {
				t.Fatal(err)
			}
			want := map[uint64][]byte{}
			for _, rec := range recs {
				want[rec.Seq] = rec.Data
			}
			blockSeqs := make([][]uint64, r.NumBlocks())
			for i := range blockSeqs {
				b, err := r.Block(i)
				if err != nil {
					t.Fatal(err)
				}
				for j := 0; j < b.Len(); j++ {
					blockSeqs[i] = append(blockSeqs[i], b.Record(j).Seq)
				}
			}
			clean, err := salvageBytes(orig)
			if err != nil || !clean.FooterOK || len(clean.Records) != len(recs) || len(clean.BadBlocks) != 0 {
				t.Fatalf("clean salvage: %+v %v", clean, err)
			}
			flips := 0
			for off := 0; off < len(orig); off += 3 {
				b := bytes.Clone(orig)
				b[off] ^= 1 << (off % 8)
				s, err := salvageBytes(b)
				if err != nil {
					t.Fatalf("offset %d: %v", off, err)
				}
				got := map[uint64]bool{}
				for _, rec := range s.Records {
					if !bytes.Equal(rec.Data, want[rec.Seq]) {
						t.Fatalf("offset %d: seq %d salvaged with wrong bytes", off, rec.Seq)
					}
					got[rec.Seq] = true
				}
				allowed := map[uint64]bool{}
				for i := 0; i < r.NumBlocks(); i++ {
					bi := r.BlockInfo(i)
					if int64(off) >= bi.Offset && int64(off) < bi.Offset+int64(bi.Length) {
						for _, q := range blockSeqs[i] {
							allowed[q] = true
						}
					}
				}
				for _, rec := range recs {
					if !got[rec.Seq] && !allowed[rec.Seq] {
						t.Fatalf("offset %d: seq %d lost though its block is intact (footer ok %v)", off, rec.Seq, s.FooterOK)
					}
				}
				if s.FooterOK && len(s.Checkpoints) == 0 {
					t.Fatalf("offset %d: no checkpoints from a verified footer", off)
				}
				flips++
			}
			t.Logf("%d flips over %d bytes, %d blocks", flips, len(orig), r.NumBlocks())
		})
	}
}

func salvageBytes(b []byte) (*Salvaged, error) {
	m := newMemFS()
	m.put("s", b)
	return SalvageFile(m, "s")
}

// FuzzSalvage: SalvageFile never panics, never allocates beyond the file
// and returns records sorted by seq, each once.
func FuzzSalvage(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := salvageBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(s.Records); i++ {
			if s.Records[i].Seq <= s.Records[i-1].Seq {
				t.Fatalf("records not sorted and unique at %d", i)
			}
		}
	})
}
