package index

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/exledger/exledger/vfs"
)

// TestCacheBounded: several indexes share a Cache much smaller than their
// sections; every answer equals the uncached index's and the brute force,
// the cache never holds more than its capacity, and evicted sections are
// read again.
func TestCacheBounded(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	dir := t.TempDir()
	const nix = 6
	var es [nix][]entry
	var paths [nix]string
	var sectionBytes int64
	for i := range nix {
		es[i] = genWorkload(r, 2000)
		data, err := buildIndex(es[i], nil)
		if err != nil {
			t.Fatal(err)
		}
		paths[i] = filepath.Join(dir, fmt.Sprintf("%08d.idx", i))
		if err := WriteFile(vfs.OS, paths[i], data); err != nil {
			t.Fatal(err)
		}
		ref, _ := Decode("ref", data)
		for s := secDict; s <= secIDs; s++ {
			sectionBytes += ref.secs[s].len
		}
	}
	capacity := sectionBytes / 5
	c := NewCache(capacity)
	var ixs [nix]*Index
	for i := range nix {
		ix, err := OpenCached(vfs.OS, paths[i], c)
		if err != nil {
			t.Fatal(err)
		}
		defer ix.Close()
		ixs[i] = ix
	}
	for round := range 3 {
		for i, ix := range ixs {
			for range 10 {
				q := randomQuery(r, es[i])
				it, err := Eval(ix, q, ix.Count())
				if err != nil {
					t.Fatal(err)
				}
				if got, want := drain(it, -1), brute(es[i], q); !slices.Equal(got, want) {
					t.Fatalf("round %d index %d %s: got %d want %d", round, i, queryString(q), len(got), len(want))
				}
				if st := c.Stats(); st.Bytes > st.Capacity {
					t.Fatalf("cache holds %d bytes, capacity %d", st.Bytes, st.Capacity)
				}
			}
			checkTerms(t, es[i], ix, buildMem(es[i]))
		}
	}
	st := c.Stats()
	if st.Loads <= int64(nix*(secIDs-secDict+1)) {
		t.Fatalf("%d loads: nothing was evicted and read again (capacity %d of %d section bytes)", st.Loads, capacity, sectionBytes)
	}
	// Concurrent lookups through the shared cache agree with brute force.
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			rr := rand.New(rand.NewPCG(uint64(g), 9))
			for range 40 {
				i := rr.IntN(nix)
				q := randomQuery(rr, es[i])
				it, err := Eval(ixs[i], q, ixs[i].Count())
				if err != nil {
					errc <- err
					return
				}
				if !slices.Equal(drain(it, -1), brute(es[i], q)) {
					errc <- fmt.Errorf("index %d %s differs", i, queryString(q))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}

// TestCacheReverifies: a section damaged on disk after it was loaded and
// evicted is detected when it is read again (every load verifies).
func TestCacheReverifies(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	es := genWorkload(r, 500)
	data, _ := buildIndex(es, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "x.idx")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	c := NewCache(1) // holds nothing: every lookup reads
	ix, err := OpenCached(vfs.OS, path, c)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	tm := es[0].terms[0]
	if _, err := ix.Postings(tm); err != nil {
		t.Fatal(err)
	}
	if ix.dict.v.Load() != nil {
		t.Fatal("a 1-byte cache kept the dictionary")
	}
	bad := slices.Clone(data)
	bad[ix.secs[secDict].off+3] ^= 0x10
	if err := os.WriteFile(path, bad, 0o600); err != nil { // same inode: the open file sees it
		t.Fatal(err)
	}
	if _, err := ix.Postings(tm); !isCorruption(err) {
		t.Fatalf("damaged dictionary after eviction: %v, want a CorruptionError", err)
	}
}
