package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/exledger/exledger/vfs"
)

// reseal recomputes every checksum of a file whose trailer still parses
// (the chunk checksums of a version 2 file, then every section checksum,
// then the trailer checksum), so structural checks can be exercised past
// the checksums. It returns data unchanged otherwise.
func reseal(data []byte) []byte {
	nsec := numSections
	if FileVersion(data) == 1 {
		nsec = numSectionsV1
	}
	trLen := trailerLenOf(nsec)
	if len(data) < headerLen+trLen {
		return data
	}
	out := slices.Clone(data)
	trOff := len(out) - trLen
	tr := out[trOff:]
	var secs [numSections][]byte
	for i := 0; i < nsec; i++ {
		off := binary.LittleEndian.Uint64(tr[i*24:])
		n := binary.LittleEndian.Uint64(tr[i*24+8:])
		if off > uint64(trOff) || n > uint64(trOff)-off {
			return data
		}
		secs[i] = out[off : off+n]
	}
	if nsec == numSections {
		// The chunk sums, where the section has room for them (its
		// size and count fields are left as they are).
		want := encodeChunkSums(secs[secDict], secs[secPostings])
		if len(secs[secChunks]) == len(want) {
			copy(secs[secChunks][8:], want[8:])
		}
	}
	for i := 0; i < nsec; i++ {
		binary.LittleEndian.PutUint64(tr[i*24+16:], checksum(secs[i]))
	}
	binary.LittleEndian.PutUint64(tr[trLen-8:], trailerChecksum(out[:headerLen], tr[:trLen-8]))
	return out
}

func isCorruption(err error) bool {
	var ce *CorruptionError
	return errors.As(err, &ce)
}

// loadAll forces every section through its loader and full verification.
func loadAll(ix *Index) error {
	return ix.Verify()
}

func TestBitFlips(t *testing.T) {
	for _, v := range []int{1, formatVersion} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) { testBitFlips(t, v) })
	}
}

func testBitFlips(t *testing.T, version int) {
	r := rand.New(rand.NewPCG(11, 12))
	es := genWorkload(r, 60)
	data, err := buildIndexV(es, nil, version)
	if err != nil {
		t.Fatal(err)
	}
	flips, detected, atOpen := 0, 0, 0
	for bit := 0; bit < len(data)*8; bit++ {
		bad := slices.Clone(data)
		bad[bit/8] ^= 1 << (bit % 8)
		flips++
		ix, err := Decode("flip", bad)
		if err != nil {
			if !isCorruption(err) {
				t.Fatalf("bit %d: Decode error is not a CorruptionError: %v", bit, err)
			}
			detected++
			atOpen++
			continue
		}
		err = loadAll(ix)
		if err == nil {
			t.Fatalf("bit %d (byte %d) undetected", bit, bit/8)
		}
		if !isCorruption(err) {
			t.Fatalf("bit %d: %v is not a CorruptionError", bit, err)
		}
		detected++
	}
	fmt.Printf("RELIABILITY test=index-bitflip version=%d flips=%d detected=%d\n", version, flips, detected)
	t.Logf("%d flips, %d detected (%d at Decode, rest at first use of the section)", flips, detected, atOpen)
	if detected != flips {
		t.Fatalf("%d of %d flips detected", detected, flips)
	}
}

// TestBitFlipsLazyFile: through Open on a real file, a flip outside the
// header, trailer and summary passes Open and is reported by the first
// lookup that loads the damaged section; lookups never return data from
// an unverified section.
func TestBitFlipsLazyFile(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	es := genWorkload(r, 40)
	data, _ := buildIndex(es, nil)
	ref, _ := Decode("ref", data)
	dir := t.TempDir()
	path := filepath.Join(dir, "x.idx")
	mid := es[20].time
	probe := func(ix *Index) error {
		if _, err := ix.Postings(es[3].terms[0]); err != nil {
			return err
		}
		if _, err := ix.Postings(Term{FieldCorrelation, "zzz-absent"}); err != nil {
			return err
		}
		if _, err := ix.TimeRange(&mid, nil); err != nil {
			return err
		}
		_, err := ix.EventID(es[5].terms[len(es[5].terms)-1].Value)
		return err
	}
	lazy := 0
	step := 7
	if testing.Short() {
		step = 31
	}
	for bit := 0; bit < len(data)*8; bit += step {
		bad := slices.Clone(data)
		bad[bit/8] ^= 1 << (bit % 8)
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		ix, err := Open(vfs.OS, path)
		if err != nil {
			if !isCorruption(err) {
				t.Fatalf("bit %d: %v", bit, err)
			}
			continue
		}
		off := int64(bit / 8)
		sec := -1
		for i, s := range ix.secs {
			if off >= s.off && off < s.off+s.len {
				sec = i
			}
		}
		if sec <= secSummary {
			t.Fatalf("bit %d in section %d passed Open", bit, sec)
		}
		err = probe(ix)
		if err != nil {
			if !isCorruption(err) {
				t.Fatalf("bit %d: %v", bit, err)
			}
			lazy++
		} else {
			// The probe did not touch the damaged section: its answers
			// must equal the undamaged index's.
			for _, tm := range es[3].terms[:1] {
				a, _ := ix.Postings(tm)
				b, _ := ref.Postings(tm)
				if !a.Equals(b) {
					t.Fatalf("bit %d: wrong postings returned silently", bit)
				}
			}
			if err := ix.Verify(); !isCorruption(err) {
				t.Fatalf("bit %d: Verify = %v", bit, err)
			}
		}
		_ = ix.Close()
	}
	if lazy == 0 {
		t.Fatal("no flip was detected lazily")
	}
}

// TestStructuralDamage corrupts bytes inside sections and reseals the
// checksums: decoding must still never panic, and whatever is reported
// is a CorruptionError.
func TestStructuralDamage(t *testing.T) {
	for _, v := range []int{1, formatVersion} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) { testStructuralDamage(t, v) })
	}
}

func testStructuralDamage(t *testing.T, version int) {
	r := rand.New(rand.NewPCG(15, 16))
	es := genWorkload(r, 300)
	data, _ := buildIndexV(es, nil, version)
	iters := 3000
	if testing.Short() {
		iters = 800
	}
	caught := 0
	for i := 0; i < iters; i++ {
		bad := slices.Clone(data)
		for range 1 + r.IntN(3) {
			p := headerLen + r.IntN(len(bad)-headerLen-trailerLen)
			bad[p] = byte(r.Uint32())
		}
		bad = reseal(bad)
		if err := exercise(bad); err != nil {
			if !isCorruption(err) {
				t.Fatalf("iteration %d: non-corruption error %v", i, err)
			}
			caught++
		}
	}
	t.Logf("%d/%d resealed mutations reported as corruption (the rest changed values only)", caught, iters)
}

// exercise decodes data and runs every kind of lookup on it. It returns
// the first error (which must be a CorruptionError) and panics never.
func exercise(data []byte) error {
	ix, err := Decode("fuzz", data)
	if err != nil {
		return err
	}
	var first error
	note := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	note(ix.Verify())
	for _, tm := range []Term{{FieldKind, "ProposalCreated"}, {FieldTenant, "tenant-00"}, {FieldCorrelation, "corr-000001"}, {FieldChain, "zz"}} {
		_, err := ix.Postings(tm)
		note(err)
		_, err = Eval(ix, Query{All: [][]Term{{tm}}}, ix.Count())
		note(err)
	}
	for _, b := range []string{"", epochTime, "2025-03-01T12:00:01", "zzzz"} {
		b := b
		_, err := ix.TimeRange(&b, nil)
		note(err)
		_, err = ix.TimeRange(nil, &b)
		note(err)
	}
	for i := range 4 {
		_, err := ix.EventID("evt-01J" + strconv.Itoa(i))
		note(err)
	}
	_ = ix.Bytes()
	return first
}

func allocBytes() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

func FuzzIndexDecode(f *testing.F) {
	for _, n := range []int{0, 1, 3, 40, 400} {
		for _, v := range []int{1, formatVersion} {
			data, err := buildIndexV(genWorkload(rand.New(rand.NewPCG(uint64(n), 99)), n), nil, v)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range [][]byte{data, reseal(data)} {
			before := allocBytes()
			ix, err := Decode("fuzz", d)
			if err != nil {
				if !isCorruption(err) {
					t.Fatalf("Decode: %v", err)
				}
				continue
			}
			// Loading every section allocates at most ~4x the input.
			for _, load := range []func() error{
				func() error { _, err := ix.loadDict(); return err },
				func() error { _, err := ix.loadPostings(); return err },
				func() error { _, err := ix.loadTime(); return err },
				func() error { _, err := ix.loadIDFilter(); return err },
				func() error { _, err := ix.loadIDs(); return err },
				func() error {
					if ix.version < 2 {
						return nil
					}
					_, err := ix.regionBytes(0, ix.secs[secDict].len+ix.secs[secPostings].len, true)
					return err
				},
			} {
				if err := load(); err != nil && !isCorruption(err) {
					t.Fatalf("load: %v", err)
				}
			}
			if got, limit := allocBytes()-before, uint64(4*len(d)+64<<10); got > limit {
				t.Fatalf("decoding %d bytes allocated %d (limit %d)", len(d), got, limit)
			}
			if err := exercise(d); err != nil && !isCorruption(err) {
				t.Fatalf("lookup: %v", err)
			}
			// Answers (bitmaps) are proportional to the claimed event
			// count in containers, never to anything else.
			containers := uint64(ix.Count())/65536 + 1
			if got, limit := allocBytes()-before, uint64(64*len(d)+1<<20)+containers*4096; got > limit {
				t.Fatalf("lookups on %d bytes allocated %d (limit %d)", len(d), got, limit)
			}
		}
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzIndexDecode when
// EXLEDGER_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("EXLEDGER_WRITE_SEEDS") != "1" {
		t.Skip("set EXLEDGER_WRITE_SEEDS=1 to regenerate the fuzz seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzIndexDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 2, 5, 20, 64, 1000} {
		for _, v := range []int{1, formatVersion} {
			prefix := "" // version 2; version 1 seeds keep the old files open
			if v == 1 {
				prefix = "v1-"
			}
			data, err := buildIndexV(genWorkload(rand.New(rand.NewPCG(uint64(n), 5)), n), nil, v)
			if err != nil {
				t.Fatal(err)
			}
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%sseed-%03d", prefix, n)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			// A damaged variant of each, resealed, to start the fuzzer past
			// the checksums.
			if len(data) > headerLen+trailerLen+4 {
				bad := slices.Clone(data)
				bad[headerLen+len(bad)/3%(len(bad)-headerLen-trailerLenV1)] ^= 0x5a
				bad = reseal(bad)
				body = "go test fuzz v1\n[]byte(" + strconv.Quote(string(bad)) + ")\n"
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%sdamaged-%03d", prefix, n)), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
