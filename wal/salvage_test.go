package wal

import (
	"bytes"
	"errors"
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

// dirSizes returns path -> size of the WAL files in mem.
func dirSizes(t testing.TB, mem *vfs.MemFS) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, p := range walFiles(t, mem) {
		d, err := mem.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = int64(len(d))
	}
	return out
}

// frameStart is the offset of frame i of file f of the fixture.
func (fx *fixture) frameStart(f, i int) int64 {
	if i == 0 {
		return fileHeaderSize
	}
	return fx.ends[f][i-1]
}

// salvageCase is one damaged image and what Salvage must make of it.
type salvageCase struct {
	name  string
	files map[string][]byte
	keep  int // batches of fx.all in the valid prefix
	// first bad point
	badFile string
	badOff  int64
	reason  string // substring of FirstBad.Reason
	// recognisable dropped frames: batches fx.all[dropFrom:dropTo]
	dropFrom, dropTo int
	corrupt          bool // Open refuses the image
}

func salvageCases(t *testing.T, fx *fixture) []salvageCase {
	nf := len(fx.paths)
	framesIn := func(f int) int { return len(fx.ends[f]) }
	before := func(f int) int { return fx.batchesBefore(f, 0) }
	last := nf - 1
	for framesIn(last) == 0 {
		last--
	}

	// A flipped byte in the middle frame of file 0 (of >= 3 with frames).
	mid := framesIn(0) / 2
	f0 := bytes.Clone(fx.data[0])
	f0[fx.frameStart(0, mid)+41] ^= 0x10

	three := map[string][]byte{fx.paths[0]: f0, fx.paths[1]: fx.data[1], fx.paths[2]: fx.data[2]}

	// A bad header in file 1.
	h1 := bytes.Clone(fx.data[1])
	h1[20] ^= 1

	// A missing file 1.
	missing := fx.files(nf-1, fx.data[nf-1], true)
	delete(missing, fx.paths[1])

	// A duplicated frame (valid checksum) at the end of file 0's frames,
	// with the rest of the log kept: a sequence overlap.
	e0 := fx.ends[0]
	dup := append(bytes.Clone(fx.data[0][:e0[len(e0)-1]]), fx.data[0][fx.frameStart(0, len(e0)-1):e0[len(e0)-1]]...)

	// A torn tail: the last frame of the last file with frames damaged.
	torn := bytes.Clone(fx.data[last])
	torn[fx.frameStart(last, framesIn(last)-1)+44] ^= 0xff

	all := len(fx.all)
	return []salvageCase{
		{
			name: "middle of file 1 of 3", files: three,
			keep: mid, badFile: fx.paths[0], badOff: fx.frameStart(0, mid), reason: "checksum",
			dropFrom: mid + 1, dropTo: before(3), corrupt: true,
		},
		{
			name: "middle of file 1 of all", files: fx.files(0, f0, true),
			keep: mid, badFile: fx.paths[0], badOff: fx.frameStart(0, mid), reason: "checksum",
			dropFrom: mid + 1, dropTo: all, corrupt: true,
		},
		{
			name: "bad header of file 2", files: fx.files(1, h1, true),
			keep: before(1), badFile: fx.paths[1], badOff: 0, reason: "header",
			dropFrom: before(1), dropTo: all, corrupt: true,
		},
		{
			name: "missing file 2", files: missing,
			keep: before(1), badFile: fx.paths[2], badOff: 0, reason: "missing",
			dropFrom: before(2), dropTo: all, corrupt: true,
		},
		{
			name: "duplicated frame", files: fx.files(0, dup, true),
			keep: framesIn(0), badFile: fx.paths[0], badOff: e0[len(e0)-1], reason: "sequence",
			dropFrom: framesIn(0) - 1, dropTo: all, corrupt: true,
		},
		{
			name: "torn tail", files: fx.files(last, torn, true),
			keep: all - 1, badFile: fx.paths[last], badOff: fx.frameStart(last, framesIn(last)-1), reason: "checksum",
			dropFrom: all, dropTo: all, corrupt: false,
		},
	}
}

// TestSalvage damages a three-file log in different ways and checks that
// Salvage keeps exactly the valid prefix, reports exactly what it
// dropped, leaves a log that Open accepts, and is idempotent.
func TestSalvage(t *testing.T) {
	fx := buildFixture(t, 20)
	withFrames := 0
	for _, e := range fx.ends {
		if len(e) > 0 {
			withFrames++
		}
	}
	if withFrames < 4 || len(fx.ends[0]) < 3 || len(fx.ends[2]) == 0 {
		t.Fatalf("fixture too small: %v", fx.ends)
	}
	t.Logf("fixture frame ends per file: %v", fx.ends)
	for _, tc := range salvageCases(t, fx) {
		t.Run(tc.name, func(t *testing.T) {
			mem := image(t, tc.files)
			sizesBefore := dirSizes(t, mem)
			_, _, openErr := openReplay(testOpts(image(t, tc.files), fixtureFileSize), 1)
			if got := errors.Is(openErr, corrupt.ErrCorrupt); got != tc.corrupt {
				t.Fatalf("precondition: Open error %v, want corrupt=%v", openErr, tc.corrupt)
			}

			rep, err := Salvage(testOpts(mem, fixtureFileSize))
			if err != nil {
				t.Fatal(err)
			}
			wantLast := uint64(0)
			if tc.keep > 0 {
				wantLast = fx.all[tc.keep-1].last()
			}
			if rep.LastGoodSeq != wantLast {
				t.Errorf("LastGoodSeq %d, want %d", rep.LastGoodSeq, wantLast)
			}
			if rep.FirstBad == nil || rep.FirstBad.File != tc.badFile || rep.FirstBad.Offset != tc.badOff ||
				!strings.Contains(rep.FirstBad.Reason, tc.reason) {
				t.Errorf("FirstBad %v, want %s at %d (%s)", rep.FirstBad, tc.badFile, tc.badOff, tc.reason)
			}
			if rep.Corrupt != tc.corrupt {
				t.Errorf("Corrupt %v, want %v", rep.Corrupt, tc.corrupt)
			}
			if want := tc.dropTo - tc.dropFrom; rep.DroppedFrames != want {
				t.Errorf("DroppedFrames %d, want %d", rep.DroppedFrames, want)
			}
			wantSeqs := [2]uint64{}
			if tc.dropTo > tc.dropFrom {
				wantSeqs = [2]uint64{fx.all[tc.dropFrom].seq, fx.all[tc.dropTo-1].last()}
			}
			if rep.DroppedSeqs != wantSeqs {
				t.Errorf("DroppedSeqs %v, want %v", rep.DroppedSeqs, wantSeqs)
			}

			// The byte and file accounting matches the directory.
			sizesAfter := dirSizes(t, mem)
			var lost int64
			var gone []string
			for p, n := range sizesBefore {
				if m, ok := sizesAfter[p]; ok {
					lost += n - m
				} else {
					lost += n
					gone = append(gone, p)
				}
			}
			slices.Sort(gone)
			if rep.DroppedBytes != lost || !slices.Equal(rep.DroppedFiles, gone) {
				t.Errorf("reported %d bytes, files %v; directory lost %d bytes, files %v", rep.DroppedBytes, rep.DroppedFiles, lost, gone)
			}
			if lost == 0 {
				t.Error("nothing was dropped")
			}

			// Open now succeeds and replays exactly the prefix.
			w, replay, err := openReplay(testOpts(mem, fixtureFileSize), 1)
			if err != nil {
				t.Fatalf("Open after Salvage: %v", err)
			}
			if err := checkPrefix(replay, fx.all, 1, tc.keep); err != nil || len(replay) != tc.keep {
				t.Fatalf("replayed %d batches, want %d: %v", len(replay), tc.keep, err)
			}
			if w.NextSeq() != wantLast+1 {
				t.Errorf("NextSeq %d, want %d", w.NextSeq(), wantLast+1)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}

			// Idempotent: a second Salvage finds a clean log, changes nothing.
			state, ops := dirState(t, mem), mem.Ops()
			rep2, err := Salvage(testOpts(mem, fixtureFileSize))
			if err != nil {
				t.Fatal(err)
			}
			if rep2.FirstBad != nil || rep2.DroppedBytes != 0 || len(rep2.DroppedFiles) != 0 ||
				rep2.DroppedFrames != 0 || rep2.Corrupt || rep2.LastGoodSeq != wantLast {
				t.Errorf("second Salvage: %+v", rep2)
			}
			if mem.Ops() != ops || dirState(t, mem) != state {
				t.Error("second Salvage changed the directory")
			}
		})
	}
}

// TestSalvageCleanLogChangesNothing runs Salvage on clean logs (with a
// zero-filled spare and a leftover temporary file, an empty directory).
func TestSalvageCleanLogChangesNothing(t *testing.T) {
	fx := buildFixture(t, 20)
	files := fx.files(len(fx.paths)-1, fx.data[len(fx.paths)-1], false)
	files[testDir+"/"+fileName(uint64(len(fx.paths)+1))+".tmp"] = []byte{9, 9}
	for _, tc := range []struct {
		name  string
		files map[string][]byte
		last  uint64
	}{
		{"log", files, fx.all[len(fx.all)-1].last()},
		{"empty directory", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := image(t, tc.files)
			state, ops := dirState(t, mem), mem.Ops()
			rep, err := Salvage(testOpts(mem, fixtureFileSize))
			if err != nil {
				t.Fatal(err)
			}
			if rep.LastGoodSeq != tc.last || rep.FirstBad != nil || rep.DroppedBytes != 0 || rep.DroppedFiles != nil ||
				rep.DroppedFrames != 0 || rep.DroppedSeqs != [2]uint64{} || rep.Corrupt {
				t.Fatalf("report %+v, want only LastGoodSeq %d", rep, tc.last)
			}
			if mem.Ops() != ops || dirState(t, mem) != state {
				t.Fatal("Salvage changed a clean log")
			}
		})
	}
	if _, err := Salvage(testOpts(vfs.NewMem(), 0)); err == nil {
		t.Fatal("Salvage of a missing directory succeeded")
	}
}

// TestSalvageCrashAtEveryOp interrupts Salvage after each of its
// mutating operations, simulates every kind of power loss, and runs
// Salvage again on what survived: the result is always the same valid
// prefix.
func TestSalvageCrashAtEveryOp(t *testing.T) {
	fx := buildFixture(t, 20)
	rng := rand.New(rand.NewSource(7))
	points := 0
	for _, tc := range salvageCases(t, fx) {
		for n := 0; ; n++ {
			mem := image(t, tc.files)
			mem.SetCrashAfter(mem.Ops() + n)
			_, err := Salvage(testOpts(mem, fixtureFileSize))
			if err != nil && !errors.Is(err, vfs.ErrCrashed) {
				t.Fatalf("%s op %d: %v", tc.name, n, err)
			}
			for _, cm := range vfs.CrashModes {
				points++
				img := mem.Crash(cm, rng)
				if _, err := Salvage(testOpts(img, fixtureFileSize)); err != nil {
					t.Fatalf("%s op %d %s: rerun: %v", tc.name, n, cm, err)
				}
				w, replay, err := openReplay(testOpts(img, fixtureFileSize), 1)
				if err != nil {
					t.Fatalf("%s op %d %s: Open: %v", tc.name, n, cm, err)
				}
				w.Close()
				if err := checkPrefix(replay, fx.all, 1, tc.keep); err != nil || len(replay) != tc.keep {
					t.Fatalf("%s op %d %s: replayed %d, want %d: %v", tc.name, n, cm, len(replay), tc.keep, err)
				}
			}
			if err == nil {
				// A completed Salvage is durable: Open needs no rerun.
				for _, cm := range vfs.CrashModes {
					img := mem.Crash(cm, rng)
					w, replay, err := openReplay(testOpts(img, fixtureFileSize), 1)
					if err != nil || len(replay) != tc.keep {
						t.Fatalf("%s: crash (%s) after Salvage: Open replayed %d, want %d: %v", tc.name, cm, len(replay), tc.keep, err)
					}
					w.Close()
				}
				break
			}
			if n > 100 {
				t.Fatal("crash loop does not terminate")
			}
		}
	}
	t.Logf("%d crash points", points)
}

// TestSalvageIOError: an I/O error is returned, not taken for corruption,
// and a later Salvage finishes the job.
func TestSalvageIOError(t *testing.T) {
	fx := buildFixture(t, 20)
	tc := salvageCases(t, fx)[0]
	for _, op := range []vfs.Op{vfs.OpRead, vfs.OpRemove, vfs.OpSyncDir, vfs.OpTruncate, vfs.OpSync} {
		mem := image(t, tc.files)
		ffs := vfs.NewFault(mem)
		ffs.Inject(vfs.Fault{Op: op, N: 0})
		_, err := Salvage(testOpts(ffs, fixtureFileSize))
		if err == nil || errors.Is(err, corrupt.ErrCorrupt) || !ffs.Fired() {
			t.Fatalf("%s fault: err %v, fired %v", op, err, ffs.Fired())
		}
		rep, err := Salvage(testOpts(mem, fixtureFileSize))
		if err != nil || rep.LastGoodSeq != fx.all[tc.keep-1].last() {
			t.Fatalf("%s fault, then: %+v, %v", op, rep, err)
		}
		w, replay, err := openReplay(testOpts(mem, fixtureFileSize), 1)
		if err != nil || len(replay) != tc.keep {
			t.Fatalf("%s fault: Open after: %d batches, %v", op, len(replay), err)
		}
		w.Close()
	}
}

// FuzzWALSalvage checks, on arbitrary one-file logs: a read-only Open
// changes nothing and agrees with a read-write Open; Salvage never fails
// on a working file system, says Corrupt exactly when Open would refuse
// the log, keeps exactly what a successful Open replays, always leaves a
// log that Open accepts, and is idempotent.
func FuzzWALSalvage(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(checkSalvageProperties)
}

func checkSalvageProperties(t *testing.T, data []byte) {
	{
		opts := func(m *vfs.MemFS, readOnly bool) Options {
			o := testOpts(m, 4096)
			o.MaxBatchBytes = 1 << 16
			o.ReadOnly = readOnly
			return o
		}
		mem := fuzzImage(data)
		state, ops := dirState(t, mem), mem.Ops()
		ro, roRep, roErr := openReplay(opts(mem, true), 1)
		if roErr == nil {
			ro.Close()
		}
		_, _, checkErr := openReplay(opts(mem, true), math.MaxUint64) // no start check
		if mem.Ops() != ops || dirState(t, mem) != state {
			t.Fatal("read-only open changed the directory")
		}
		rw, rwRep, rwErr := openReplay(opts(fuzzImage(data), false), 1)
		if (roErr == nil) != (rwErr == nil) {
			t.Fatalf("read-only open: %v; read-write open: %v", roErr, rwErr)
		}
		if rwErr == nil {
			rw.Close()
			if err := sameReplay(roRep, rwRep); err != nil {
				t.Fatalf("read-only replay differs: %v", err)
			}
		}

		rep, err := Salvage(opts(mem, false))
		if err != nil {
			t.Fatalf("Salvage: %v", err)
		}
		if rep.Corrupt != errors.Is(checkErr, corrupt.ErrCorrupt) {
			t.Fatalf("Corrupt %v, but Open says %v", rep.Corrupt, checkErr)
		}
		if rwErr == nil {
			_, after, err := openReplay(opts(mem, true), 1)
			if err != nil {
				t.Fatalf("Open after Salvage of an acceptable log: %v", err)
			}
			if err := sameReplay(after, rwRep); err != nil {
				t.Fatalf("Salvage kept something else than Open: %v", err)
			}
		}
		w, _, err := openReplay(opts(mem, false), rep.LastGoodSeq+1)
		if err != nil {
			t.Fatalf("Open after Salvage (%+v): %v", rep, err)
		}
		if w.NextSeq() != rep.LastGoodSeq+1 {
			t.Fatalf("NextSeq %d after Salvage, LastGoodSeq %d", w.NextSeq(), rep.LastGoodSeq)
		}
		w.Close()
		rep2, err := Salvage(opts(mem, false))
		if err != nil || rep2.FirstBad != nil || rep2.DroppedBytes != 0 || rep2.LastGoodSeq != rep.LastGoodSeq {
			t.Fatalf("second Salvage: %+v, %v", rep2, err)
		}
	}
}
