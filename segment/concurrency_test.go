package segment

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exledger/exledger/vfs"
)

// mixedRecords returns records of every shape a block can get: empty and
// tiny ones, typical events, and records larger than the block size, both
// compressible (stored zstd) and incompressible (stored raw); some without
// a time, times not in seq order.
func mixedRecords(seed uint64, first uint64, n, blockSize int) []Record {
	rng := rand.New(rand.NewPCG(seed, 7))
	ev := genRecords(seed, first, n)
	for i := range ev {
		switch rng.IntN(10) {
		case 0:
			ev[i].Data = ev[i].Data[:rng.IntN(3)] // 0..2 bytes
		case 1:
			ev[i].Data = bytes.Repeat(ev[i].Data[:40], (3*blockSize)/40) // > block, compressible
		case 2:
			b := make([]byte, blockSize+1+rng.IntN(blockSize))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			ev[i].Data = b // > block, incompressible
		case 3:
			ev[i].Time = ""
		case 4:
			ev[i].Time = fmt.Sprintf("1999-%02d", rng.IntN(12)) // out of order
		}
	}
	return ev
}

// writeScribbled writes recs like writeSegment, but passes each record's
// bytes in one reused buffer that it overwrites after every Append (the
// Append contract lets the caller reuse them).
func writeScribbled(t *testing.T, fsys vfs.FS, p string, opts Options, start [32]byte, recs []Record) (Info, error) {
	t.Helper()
	w, err := NewWriter(fsys, p, opts, start)
	if err != nil {
		return Info{}, err
	}
	var scratch []byte
	for _, r := range recs {
		scratch = append(scratch[:0], r.Data...)
		if err := w.Append(Record{Seq: r.Seq, Time: r.Time, Data: scratch}); err != nil {
			w.Abort()
			return Info{}, err
		}
		for i := range scratch {
			scratch[i] = 0xA5
		}
	}
	if opts.Unordered {
		w.SetChain(start, unorderedCheckpoints(start, recs))
	}
	info, err := w.Finish([]byte("meta"))
	if err != nil {
		w.Abort()
	}
	return info, err
}

// unorderedCheckpoints computes writeSegment's checkpoints (every 97th
// record in seq order, and the last).
func unorderedCheckpoints(start [32]byte, recs []Record) []Checkpoint {
	sorted := append([]Record(nil), recs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Seq < sorted[j].Seq })
	ch := refChain(start, sorted)
	var cps []Checkpoint
	for i := 0; i < len(sorted); i += 97 {
		cps = append(cps, Checkpoint{Seq: sorted[i].Seq, Hash: ch[i]})
	}
	if cps[len(cps)-1].Seq != sorted[len(sorted)-1].Seq {
		cps = append(cps, Checkpoint{Seq: sorted[len(sorted)-1].Seq, Hash: ch[len(ch)-1]})
	}
	return cps
}

// noCompressors fails if a compressor goroutine is still running: the
// count is decremented before a worker signals its WaitGroup, so it is
// exact once Finish, Abort or a failure has returned.
func noCompressors(t *testing.T, what string) {
	t.Helper()
	if n := liveCompressors.Load(); n != 0 {
		t.Fatalf("%s: %d compressor goroutines still running", what, n)
	}
}

// TestConcurrencyIdentical: every Concurrency, with and without Yield,
// writes the same bytes and returns the same Info, for several block sizes
// and record mixes.
func TestConcurrencyIdentical(t *testing.T) {
	start := [32]byte{1, 2, 3}
	for _, bs := range []int{MinBlockSize, 4 << 10, 16 << 10, DefaultBlockSize} {
		events := genRecords(61, 500, 1500)
		mixed := mixedRecords(62, 1, 400, bs)
		cases := map[string]struct {
			recs      []Record
			unordered bool
		}{
			"events":          {events, false},
			"mixed":           {mixed, false},
			"single":          {events[:1], false},
			"single-large":    {mixedRecords(63, 9, 1, bs)[:1], false},
			"unordered":       {clusterShuffle(events), true},
			"unordered-mixed": {clusterShuffle(mixed), true},
		}
		// A single record larger than the block.
		big := cases["single-large"]
		big.recs[0].Data = bytes.Repeat([]byte("large "), bs)
		for name, c := range cases {
			t.Run(fmt.Sprintf("block=%d/%s", bs, name), func(t *testing.T) {
				var want []byte
				var wantInfo Info
				for i, conc := range []int{0, 1, 2, 3, 4, 8, 1, 3} {
					m := newMemFS()
					opts := Options{BlockSize: bs, Unordered: c.unordered, Concurrency: conc, Yield: i >= 6}
					info, err := writeScribbled(t, m, "s", opts, start, c.recs)
					if err != nil {
						t.Fatalf("concurrency %d: %v", conc, err)
					}
					noCompressors(t, "after Finish")
					got := m.get("s")
					if want == nil {
						want, wantInfo = got, info
						r, err := Open(m, "s", nil)
						if err != nil {
							t.Fatal(err)
						}
						checkSegment(t, r, c.recs, start, []byte("meta"))
						r.Close()
						continue
					}
					if info != wantInfo {
						t.Fatalf("concurrency %d: info %+v, want %+v", conc, info, wantInfo)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("concurrency %d: %d bytes differ from the inline writer's %d", conc, len(got), len(want))
					}
				}
			})
		}
	}
}

// TestConcurrencyEmptyAndOptions: an empty segment is refused the same way
// whatever the concurrency, starts no goroutine, and a negative
// concurrency is invalid.
func TestConcurrencyEmptyAndOptions(t *testing.T) {
	if _, err := NewWriter(newMemFS(), "s", Options{Concurrency: -1}, [32]byte{}); !errors.Is(err, ErrBadOptions) {
		t.Fatalf("Concurrency -1: %v", err)
	}
	for _, conc := range []int{1, 4} {
		m := newMemFS()
		w, err := NewWriter(m, "d/s", Options{Concurrency: conc}, [32]byte{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Finish(nil); !errors.Is(err, ErrEmpty) {
			t.Fatalf("concurrency %d: Finish of an empty segment: %v", conc, err)
		}
		noCompressors(t, "empty Finish")
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Stat("d/s.tmp"); err == nil {
			t.Fatal("temp file left after Abort")
		}
	}
}

// TestConcurrencyFinishRefusedThenRetried: a refused Finish (unordered
// writer without SetChain) leaves no goroutine running and the writer
// usable; the retried Finish writes the same bytes as the inline writer.
func TestConcurrencyFinishRefusedThenRetried(t *testing.T) {
	recs := clusterShuffle(genRecords(64, 1, 600))
	want := newMemFS()
	writeSegment(t, want, "s", Options{BlockSize: 4 << 10, Unordered: true}, [32]byte{}, recs, []byte("meta"))
	m := newMemFS()
	w, err := NewWriter(m, "s", Options{BlockSize: 4 << 10, Unordered: true, Concurrency: 4}, [32]byte{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Finish([]byte("meta")); !errors.Is(err, ErrChain) {
		t.Fatalf("Finish without SetChain: %v", err)
	}
	noCompressors(t, "refused Finish")
	w.SetChain([32]byte{}, unorderedCheckpoints([32]byte{}, recs))
	if _, err := w.Finish([]byte("meta")); err != nil {
		t.Fatal(err)
	}
	noCompressors(t, "Finish")
	if !bytes.Equal(m.get("s"), want.get("s")) {
		t.Fatal("retried Finish wrote different bytes")
	}
}

// TestConcurrencyVFSFaults runs the fault loop of TestVFSFaults (torn
// writes, every operation in turn) with compressors: the writes, and so
// the fault points, are the inline writer's, every fault surfaces and
// poisons the writer, no file is left and no goroutine keeps running.
func TestConcurrencyVFSFaults(t *testing.T) {
	recs := genRecords(65, 1, 80)
	for _, unordered := range []bool{false, true} {
		in := recs
		if unordered {
			in = clusterShuffle(recs)
		}
		pointsByConc := map[int]int{}
		for _, conc := range []int{1, 2, 4} {
			opts := Options{BlockSize: 2 << 10, Unordered: unordered, Concurrency: conc}
			points := 0
			for n := 0; ; n++ {
				mem := vfs.NewMem()
				if err := mem.MkdirAll("d"); err != nil {
					t.Fatal(err)
				}
				ffs := vfs.NewFault(mem)
				ffs.Inject(vfs.Fault{Op: vfs.OpAny, N: n, Short: true})
				var err error
				w, err := NewWriter(ffs, "d/seg", opts, [32]byte{})
				if err == nil {
					for _, r := range in {
						if err = w.Append(r); err != nil {
							if w.Append(r) == nil {
								t.Fatal("Append succeeded on a poisoned writer")
							}
							break
						}
					}
					if unordered {
						w.SetChain([32]byte{}, unorderedCheckpoints([32]byte{}, recs))
					}
					if err == nil {
						_, err = w.Finish(nil)
					}
					if err != nil {
						if _, ferr := w.Finish(nil); ferr == nil {
							t.Fatal("Finish succeeded on a poisoned writer")
						}
						noCompressors(t, "failed write")
						w.Abort()
					}
				}
				noCompressors(t, "write")
				if !ffs.Fired() {
					if err != nil {
						t.Fatal(err)
					}
					r, err := Open(mem, "d/seg", nil)
					if err != nil {
						t.Fatal(err)
					}
					checkSegment(t, r, recs, [32]byte{}, nil)
					r.Close()
					break
				}
				points++
				if !errors.Is(err, syscall.EIO) {
					t.Fatalf("concurrency %d, fault at op %d: error %v does not wrap the injected fault", conc, n, err)
				}
				for _, p := range []string{"d/seg", "d/seg.tmp"} {
					if _, serr := mem.Stat(p); serr == nil {
						t.Fatalf("concurrency %d, fault at op %d (%v): %s left behind", conc, n, err, p)
					}
				}
			}
			pointsByConc[conc] = points
		}
		if pointsByConc[2] != pointsByConc[1] || pointsByConc[4] != pointsByConc[1] || pointsByConc[1] < 10 {
			t.Fatalf("unordered=%v: fault points by concurrency %v", unordered, pointsByConc)
		}
	}
}

var errBoom = errors.New("compressor boom")

// TestConcurrencyCompressError fails (or, with compressors, panics in) the
// compression of one block: the error is returned by an Append or by
// Finish, poisons the writer, stops the compressors and removes the
// temporary file. (Inline, a panic reaches the caller as it always did.)
func TestConcurrencyCompressError(t *testing.T) {
	recs := genRecords(66, 1, 300)
	firsts := blockFirsts(t, recs, 4<<10)
	for _, conc := range []int{1, 2, 4} {
		for _, panics := range []bool{false, true} {
			if panics && conc == 1 {
				continue
			}
			for _, bad := range []int{0, 3, len(firsts) - 1} {
				what := fmt.Sprintf("concurrency %d, panics %v, block %d", conc, panics, bad)
				m := newMemFS()
				w, err := NewWriter(m, "s", Options{BlockSize: 4 << 10, Concurrency: conc}, [32]byte{})
				if err != nil {
					t.Fatal(err)
				}
				w.compressHook = func(j *blockJob) error {
					if j.bi.FirstSeq != firsts[bad] {
						return nil
					}
					if panics {
						panic("boom")
					}
					return errBoom
				}
				for _, r := range recs {
					if err = w.Append(r); err != nil {
						break
					}
				}
				if err == nil {
					_, err = w.Finish(nil)
				}
				switch {
				case err == nil:
					t.Fatalf("%s: write succeeded", what)
				case panics && !strings.Contains(err.Error(), "panic: boom"):
					t.Fatalf("%s: %v", what, err)
				case !panics && !errors.Is(err, errBoom):
					t.Fatalf("%s: %v", what, err)
				}
				noCompressors(t, what)
				if err := w.Append(Record{Seq: 1 << 40}); !errors.Is(err, errWriterBroke) {
					t.Fatalf("%s: Append after the failure: %v", what, err)
				}
				if _, err := w.Finish(nil); !errors.Is(err, errWriterBroke) {
					t.Fatalf("%s: Finish after the failure: %v", what, err)
				}
				for _, p := range []string{"s", "s.tmp"} {
					if _, err := m.Stat(p); err == nil {
						t.Fatalf("%s: %s left behind", what, p)
					}
				}
				if err := w.Abort(); err != nil {
					t.Fatalf("%s: Abort: %v", what, err)
				}
			}
		}
	}
}

// TestConcurrencyErrorNextCall: once a compressor has failed, the very
// next call reports it, even an Append that does not cut a block, and
// nothing more is written.
func TestConcurrencyErrorNextCall(t *testing.T) {
	recs := genRecords(67, 1, 200)
	m := newMemFS()
	w, err := NewWriter(m, "s", Options{BlockSize: 4 << 10, Concurrency: 2}, [32]byte{})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	w.compressHook = func(j *blockJob) error { <-release; return errBoom }
	i := 0
	for ; w.nblk == 0; i++ {
		if err := w.Append(recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for !w.pool.failed.Load() {
		if time.Now().After(deadline) {
			t.Fatal("compressor did not fail")
		}
		time.Sleep(time.Millisecond)
	}
	ops := m.ops
	if err := w.Append(recs[i]); !errors.Is(err, errBoom) {
		t.Fatalf("next Append: %v", err)
	}
	noCompressors(t, "failure")
	if m.ops != ops || len(w.blocks) != 0 {
		t.Fatalf("wrote after the failure: %d ops, %d blocks", m.ops-ops, len(w.blocks))
	}
	if _, err := m.Stat("s.tmp"); err == nil {
		t.Fatal("temp file left")
	}
}

// TestConcurrencyAbortNoLeak: Abort with blocks queued and being
// compressed stops every compressor and returns their encoders.
func TestConcurrencyAbortNoLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	recs := genRecords(68, 1, 2000)
	for _, at := range []int{1, 50, 700, len(recs)} {
		m := newMemFS()
		w, err := NewWriter(m, "s", Options{BlockSize: 4 << 10, Concurrency: 4}, [32]byte{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs[:at] {
			if err := w.Append(r); err != nil {
				t.Fatal(err)
			}
		}
		if at > 700 && liveCompressors.Load() == 0 {
			t.Fatal("no compressor started")
		}
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
		noCompressors(t, fmt.Sprintf("Abort after %d records", at))
		if _, err := m.Stat("s.tmp"); err == nil {
			t.Fatal("temp file left after Abort")
		}
		if err := w.Append(recs[at-1]); !errors.Is(err, ErrFinished) {
			t.Fatalf("Append after Abort: %v", err)
		}
	}
	waitGoroutines(t, base)
}

// TestConcurrencyAbandoned: a Writer dropped without Finish or Abort has
// its compressors stopped once it is collected.
func TestConcurrencyAbandoned(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		w, err := NewWriter(newMemFS(), "s", Options{BlockSize: 4 << 10, Concurrency: 3}, [32]byte{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range genRecords(69, 1, 500) {
			if err := w.Append(r); err != nil {
				t.Fatal(err)
			}
		}
		if liveCompressors.Load() == 0 {
			t.Fatal("no compressor started")
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for liveCompressors.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d compressors still running", liveCompressors.Load())
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	waitGoroutines(t, base)
}

// waitGoroutines waits until at most base goroutines run (a goroutine
// that has signalled its exit may take a moment to be gone).
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before", runtime.NumGoroutine(), base)
		}
		time.Sleep(time.Millisecond)
	}
}

// blockFirsts returns the first seq of each block of recs written with
// the given block size.
func blockFirsts(t *testing.T, recs []Record, bs int) []uint64 {
	m := newMemFS()
	writeSegment(t, m, "s", Options{BlockSize: bs}, [32]byte{}, recs, nil)
	r, err := Open(m, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []uint64
	for i := 0; i < r.NumBlocks(); i++ {
		out = append(out, r.BlockInfo(i).FirstSeq)
	}
	return out
}
