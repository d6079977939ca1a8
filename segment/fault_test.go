package segment

import (
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"testing"

	"github.com/exledger/exledger/vfs"
)

// TestWriteFaults fails each mutating file-system operation of a segment
// write in turn (create, every block write, footer write, sync, rename,
// directory sync): the error must surface, poison the writer, and leave no
// file at path nor a temp file behind.
func TestWriteFaults(t *testing.T) {
	recs := genRecords(31, 1, 60)
	for _, unordered := range []bool{false, true} {
		opts := Options{BlockSize: 4 << 10, Unordered: unordered}
		write := func(m *memFS) (Info, error) {
			w, err := NewWriter(m, "dir/seg", opts, [32]byte{})
			if err != nil {
				return Info{}, err
			}
			in := recs
			if unordered {
				in = clusterShuffle(recs)
			}
			for _, r := range in {
				if err := w.Append(r); err != nil {
					if aerr := w.Append(r); aerr == nil {
						t.Fatal("Append succeeded on a poisoned writer")
					}
					if _, ferr := w.Finish(nil); ferr == nil {
						t.Fatal("Finish succeeded on a poisoned writer")
					}
					return Info{}, err
				}
			}
			ch := refChain([32]byte{}, recs)
			if unordered {
				w.SetChain([32]byte{}, []Checkpoint{{Seq: recs[len(recs)-1].Seq, Hash: ch[len(ch)-1]}})
			}
			info, err := w.Finish(nil)
			if err != nil {
				if _, ferr := w.Finish(nil); ferr == nil {
					t.Fatal("second Finish succeeded after a failure")
				}
				w.Abort()
			}
			return info, err
		}
		clean := newMemFS()
		if _, err := write(clean); err != nil {
			t.Fatal(err)
		}
		total := clean.ops
		if total < 6 {
			t.Fatalf("only %d mutating ops: test is not exercising block writes", total)
		}
		for n := 1; n <= total; n++ {
			m := newMemFS()
			m.failAt = n
			_, err := write(m)
			if !errors.Is(err, errInjected) {
				t.Fatalf("fault at op %d of %d: error %v does not wrap the injected fault", n, total, err)
			}
			if _, serr := m.Stat("dir/seg"); serr == nil {
				t.Fatalf("fault at op %d: file left at path", n)
			}
			if _, serr := m.Stat("dir/seg.tmp"); serr == nil {
				t.Fatalf("fault at op %d: temp file left behind", n)
			}
		}
		fmt.Printf("RELIABILITY test=segment-write-faults unordered=%v fault_points=%d errors=%d files_left=0\n", unordered, total, total)
	}
}

// TestConcurrentReaders hammers one Reader (and a cache small enough to
// evict) from several goroutines; run with -race.
func TestConcurrentReaders(t *testing.T) {
	recs := genRecords(41, 1000, 2000)
	for _, unordered := range []bool{false, true} {
		m := newMemFS()
		in := recs
		if unordered {
			in = clusterShuffle(recs)
		}
		writeSegment(t, m, "s", Options{BlockSize: 16 << 10, Unordered: unordered}, [32]byte{}, in, nil)
		cache := NewCache(200 << 10)
		r, err := Open(m, "s", cache)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := Open(m, "s", cache) // a second reader sharing the cache
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errc := make(chan error, 8)
		for g := 0; g < 6; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				rd := r
				if g%2 == 1 {
					rd = r2
				}
				for i := 0; i < 300; i++ {
					k := (i*7919 + g*104729) % len(recs)
					got, err := rd.Get(recs[k].Seq)
					if err != nil || string(got.Data) != string(recs[k].Data) {
						errc <- fmt.Errorf("goroutine %d: Get(%d): %v", g, recs[k].Seq, err)
						return
					}
				}
				if g == 0 {
					n := 0
					if err := rd.Scan(0, func(Record) bool { n++; return true }); err != nil || n != len(recs) {
						errc <- fmt.Errorf("scan: %d records, %v", n, err)
					}
				}
			}(g)
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		hits, misses := cache.Stats()
		if hits == 0 || misses == 0 {
			t.Fatalf("cache stats hits=%d misses=%d", hits, misses)
		}
		if cache.Size() > 200<<10 {
			t.Fatalf("cache holds %d bytes over its bound", cache.Size())
		}
		r.Close()
		r2.Close()
		if cache.Size() != 0 {
			t.Fatalf("cache holds %d bytes after every reader closed", cache.Size())
		}
	}
}

func TestCacheLRU(t *testing.T) {
	recs := genRecords(51, 1, 400)
	m := newMemFS()
	writeSegment(t, m, "s", Options{BlockSize: 16 << 10}, [32]byte{}, recs, nil)
	c := NewCache(1 << 30)
	r, err := Open(m, "s", c)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b0, _ := r.Block(0)
	b0again, _ := r.Block(0)
	if b0 != b0again {
		t.Fatal("second Block(0) not served from the cache")
	}
	if h, mi := c.Stats(); h != 1 || mi != 1 {
		t.Fatalf("stats %d/%d, want 1/1", h, mi)
	}
	// A cache sized for about two blocks (its window, a tenth, holds
	// none): a block read once is not kept over blocks read as often, a
	// block read again is, in place of the least recently used block
	// read less often.
	small := NewCache(2*b0.size + b0.size/2)
	r2, err := Open(m, "s", small)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	step := func(i int, hit bool, what string) {
		t.Helper()
		h0, m0 := small.Stats()
		if _, err := r2.Block(i); err != nil {
			t.Fatal(err)
		}
		h1, m1 := small.Stats()
		if got := h1 == h0+1 && m1 == m0; got != hit || (!hit && m1 != m0+1) {
			t.Fatalf("block %d: hit %v, want %v (%s)", i, got, hit, what)
		}
	}
	step(0, false, "empty cache")
	step(1, false, "empty cache")
	step(0, true, "room for both") // 0 read twice, 1 once
	step(2, false, "never read")   // not admitted over 1, read once too
	step(0, true, "recently used")
	step(1, true, "not evicted for a block read as often") // now 0: 3 lookups, 1: 2, 2: 1; 0 least recent
	step(2, false, "read twice, the least recent (0) three times")
	step(2, false, "read three times, as often as 0")
	step(2, false, "read a fourth time: admitted now, over 0")
	step(2, true, "admitted at its fourth lookup")
	step(1, true, "more recent than 0: kept")
	step(0, false, "evicted for 2")
	if small.Size() > small.max {
		t.Fatalf("holds %d bytes over its bound %d", small.Size(), small.max)
	}
	// A nil cache works and caches nothing.
	r3, err := Open(m, "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r3.Close()
	a, _ := r3.Block(0)
	b, _ := r3.Block(0)
	if a == b {
		t.Fatal("nil cache returned the same block")
	}
}

// TestVFSFaults repeats the fault loop with the project's vfs.FaultFS over
// vfs.MemFS, with torn (short) writes.
func TestVFSFaults(t *testing.T) {
	recs := genRecords(33, 1, 60)
	points := 0
	for n := 0; ; n++ {
		mem := vfs.NewMem()
		if err := mem.MkdirAll("d"); err != nil {
			t.Fatal(err)
		}
		ffs := vfs.NewFault(mem)
		ffs.Inject(vfs.Fault{Op: vfs.OpAny, N: n, Short: true})
		var err error
		w, err := NewWriter(ffs, "d/seg", Options{BlockSize: 4 << 10}, [32]byte{})
		if err == nil {
			for _, r := range recs {
				if err = w.Append(r); err != nil {
					break
				}
			}
			if err == nil {
				_, err = w.Finish([]byte("m"))
			}
			if err != nil {
				w.Abort()
			}
		}
		if !ffs.Fired() {
			if err != nil {
				t.Fatal(err)
			}
			r, err := Open(mem, "d/seg", nil)
			if err != nil {
				t.Fatal(err)
			}
			checkSegment(t, r, recs, [32]byte{}, []byte("m"))
			break
		}
		points++
		if err == nil {
			t.Fatalf("fault at op %d fired but the write succeeded", n)
		}
		for _, p := range []string{"d/seg", "d/seg.tmp"} {
			if _, serr := mem.Stat(p); serr == nil {
				t.Fatalf("fault at op %d (%v): %s left behind", n, err, p)
			}
		}
	}
	if points < 6 {
		t.Fatalf("only %d fault points", points)
	}
	fmt.Printf("RELIABILITY test=segment-vfs-faults fault_points=%d errors=%d files_left=0\n", points, points)
}

// TestCrashDuringWrite stops the simulated process after each mutating
// operation of a segment write, then simulates a power loss in every
// crash mode: a file at path, if any, must open and verify with the right
// records; after Finish returns, the file must survive every crash mode.
func TestCrashDuringWrite(t *testing.T) {
	recs := genRecords(34, 1, 60)
	rng := rand.New(rand.NewSource(5))
	survived, absent := 0, 0
	for n := 0; ; n++ {
		mem := vfs.NewMem()
		mem.MkdirAll("d")
		mem.SyncDir(".")
		mem.SetCrashAfter(mem.Ops() + n)
		finished := false
		w, err := NewWriter(mem, "d/seg", Options{BlockSize: 4 << 10}, [32]byte{})
		if err == nil {
			for _, r := range recs {
				if err = w.Append(r); err != nil {
					break
				}
			}
			if err == nil {
				_, err = w.Finish(nil)
				finished = err == nil
			}
		}
		if err != nil && !errors.Is(err, vfs.ErrCrashed) {
			t.Fatalf("crash after %d ops: unexpected error %v", n, err)
		}
		for _, mode := range vfs.CrashModes {
			c := mem.Crash(mode, rng)
			if _, serr := c.Stat("d/seg"); serr != nil {
				if finished {
					t.Fatalf("crash mode %v after Finish: segment lost", mode)
				}
				absent++
				continue
			}
			r, err := Open(c, "d/seg", nil)
			if err != nil {
				t.Fatalf("crash after %d ops, mode %v: %v", n, mode, err)
			}
			checkSegment(t, r, recs, [32]byte{}, nil)
			r.Close()
			survived++
		}
		if finished {
			break
		}
	}
	fmt.Printf("RELIABILITY test=segment-crash-write crash_images=%d complete=%d absent=%d partial=0\n", survived+absent, survived, absent)
}
