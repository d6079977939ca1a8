package segment

import (
	"container/list"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// blockOf is a cache entry's stand-in: only its size matters to the cache.
func blockOf(size int64) *Block { return &Block{size: size} }

// access looks k up and, on a miss, puts a block of size, as Reader.block
// does; it reports a hit.
func access(c *Cache, reader uint64, block int, size int64) bool {
	k := cacheKey{reader: reader, block: block}
	if c.get(k) != nil {
		return true
	}
	c.put(k, blockOf(size))
	return false
}

// checkCache fails unless the cache's accounting matches its lists and
// stays within its bounds.
func checkCache(t testing.TB, c *Cache) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var win, main int64
	n := 0
	for _, l := range []*list.List{&c.win, &c.main} {
		for e := l.Front(); e != nil; e = e.Next() {
			ent := e.Value.(*cacheEntry)
			if ent.inWin != (l == &c.win) {
				t.Fatalf("entry %v: inWin %v in the other list", ent.key, ent.inWin)
			}
			if c.items[ent.key] != e {
				t.Fatalf("entry %v not indexed", ent.key)
			}
			if l == &c.win {
				win += ent.b.size
			} else {
				main += ent.b.size
			}
			n++
		}
	}
	if n != len(c.items) {
		t.Fatalf("%d entries in the lists, %d indexed", n, len(c.items))
	}
	if win != c.winUsed || main != c.mainUsed {
		t.Fatalf("accounted window %d main %d, held %d %d", c.winUsed, c.mainUsed, win, main)
	}
	if win > c.winMax || win+main > c.max {
		t.Fatalf("window %d (bound %d) + main %d over the bound %d", win, c.winMax, main, c.max)
	}
}

// TestCacheLoopKeepsWhatFits: a loop over half as many blocks again as the
// cache holds (a big query repeated) hits, from its second run on, about
// as many blocks as the main part holds. A plain LRU evicts every block
// before it is read again: no hit at all.
func TestCacheLoopKeepsWhatFits(t *testing.T) {
	const size, n = 64 << 10, 1500 // 1500 blocks of 64 KiB against a cache of 1000
	c := NewCache(1000 * size)
	mainBlocks := int((c.max - c.winMax) / size)
	for run := range 6 {
		hits := 0
		for i := range n {
			if access(c, 1, i, size) {
				hits++
			}
		}
		checkCache(t, c)
		if run == 0 && hits != 0 {
			t.Fatalf("first run: %d hits in an empty cache", hits)
		}
		if run > 0 && hits < mainBlocks*95/100 {
			t.Fatalf("run %d: %d hits of %d, want about the %d blocks of the main part", run, hits, n, mainBlocks)
		}
		t.Logf("run %d: %d hits", run, hits)
	}
}

// TestCacheScanDoesNotFlush: a working set read a few times stays cached
// through a single pass over three times the cache's bytes of other
// blocks (a big query run once); a plain LRU would hold none of it.
func TestCacheScanDoesNotFlush(t *testing.T) {
	const size = 64 << 10
	c := NewCache(1000 * size)
	for range 3 {
		for i := range 400 {
			access(c, 1, i, size)
		}
	}
	for i := range 3000 {
		access(c, 2, i, size)
	}
	checkCache(t, c)
	hits := 0
	for i := range 400 {
		if access(c, 1, i, size) {
			hits++
		}
	}
	if hits != 400 {
		t.Fatalf("working set: %d of 400 blocks kept through the pass", hits)
	}
}

// TestCacheSmallRepeats: a small query repeated between runs of a big
// query (every 100 of its blocks) hits in the window; a point lookup
// repeated at longer intervals is admitted to the main part once it has
// been looked up more often than the big query's blocks.
func TestCacheSmallRepeats(t *testing.T) {
	const size = 64 << 10
	c := NewCache(1000 * size)
	small := func() int { // 20 blocks, the window holds 100
		h := 0
		for i := range 20 {
			if access(c, 9, i, size) {
				h++
			}
		}
		return h
	}
	small()
	for run := range 4 {
		hits := 0
		for i := range 1500 {
			access(c, 1, i, size)
			if i%100 == 0 {
				hits += small()
			}
		}
		checkCache(t, c)
		if hits != 15*20 {
			t.Fatalf("run %d: the small query hit %d of %d blocks", run, hits, 15*20)
		}
	}
	// Point lookups: a block looked up again only after the window has
	// pushed it out misses while the big query's blocks (5 lookups each)
	// were looked up more often, and is held once it has been looked up
	// more often than they.
	first := -1
	for round := range 12 {
		hit := access(c, 7, 0, size)
		if round == 1 && hit {
			t.Fatal("a block looked up twice held over blocks looked up 5 times")
		}
		if first >= 0 && !hit {
			t.Fatalf("round %d: the point lookup's block, held from round %d, was evicted", round, first)
		}
		if hit && first < 0 {
			first = round
		}
		for i := range 200 {
			access(c, 8, round*200+i, size) // read once each: pushes 7/0 out of the window
		}
	}
	if first < 0 || first > 7 {
		t.Fatalf("the point lookup's block is held from round %d, want by round 7 (6 lookups)", first)
	}
	t.Logf("the point lookup's block is held from round %d", first)
	checkCache(t, c)
}

// TestCacheAging: frequencies fade, so that a second big query repeated
// after the first one's many runs takes over the cache within a few runs.
func TestCacheAging(t *testing.T) {
	const size = 64 << 10
	c := NewCache(1000 * size)
	for range 15 {
		for i := range 900 {
			access(c, 1, i, size)
		}
	}
	var hits int
	for run := range 30 {
		hits = 0
		for i := range 900 {
			if access(c, 2, i, size) {
				hits++
			}
		}
		if hits >= 800 {
			t.Logf("second query: %d of 900 blocks hit at run %d", hits, run)
			break
		}
	}
	if hits < 800 {
		t.Fatalf("second query: %d of 900 blocks hit after 30 runs", hits)
	}
	checkCache(t, c)
}

// TestCacheBounds: random sizes, repeats, drops and oversize blocks never
// break the accounting or exceed the bounds.
func TestCacheBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, max := range []int64{0, 1, 10 << 10, 100 << 10, 1 << 20} {
		c := NewCache(max)
		for op := range 20000 {
			r := uint64(rng.IntN(4))
			switch x := rng.IntN(100); {
			case x < 2:
				c.dropReader(r)
			default:
				access(c, r, rng.IntN(300), int64(1+rng.IntN(40<<10)))
			}
			if op%97 == 0 {
				checkCache(t, c)
			}
		}
		checkCache(t, c)
		for r := range uint64(4) {
			c.dropReader(r)
		}
		if c.Size() != 0 || len(c.items) != 0 || c.win.Len() != 0 || c.main.Len() != 0 {
			t.Fatalf("max %d: %d bytes, %d items after dropping every reader", max, c.Size(), len(c.items))
		}

	}
}

// TestCacheCountsBounded: the lookup counts of blocks never held (and of
// closed readers, which dropReader leaves to fade) do not accumulate:
// halving forgets the ones, so at most about twice the halving period's
// keys are counted.
func TestCacheCountsBounded(t *testing.T) {
	c := NewCache(64 * 64 << 10) // 64 blocks of 64 KiB
	for i := range 200_000 {
		access(c, uint64(i/1000), i, 64<<10) // every key once; a new reader every 1,000
		if i%1000 == 999 {
			c.dropReader(uint64(i / 1000))
		}
		if n, bound := len(c.freq), 2*10*max(len(c.items), 64); n > bound {
			t.Fatalf("after %d lookups: %d counts kept, bound %d", i+1, n, bound)
		}
	}
	checkCache(t, c)
}

// TestCacheConcurrent: lookups, puts and drops from many goroutines (run
// with -race) keep the accounting right and the bytes within the bound.
func TestCacheConcurrent(t *testing.T) {
	const size = 8 << 10
	c := NewCache(200 * size)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := range 5000 {
				r := uint64(rng.IntN(3))
				if i%500 == 499 {
					c.dropReader(r)
					continue
				}
				b := rng.IntN(400)
				if g%2 == 0 {
					b = i % 300 // loops
				}
				access(c, r, b, size+int64(rng.IntN(size)))
				if s := c.Size(); s > c.max {
					t.Errorf("size %d over the bound %d", s, c.max)
					return
				}
			}
		})
	}
	wg.Wait()
	checkCache(t, c)
	if h, m := c.Stats(); h == 0 || m == 0 {
		t.Fatalf("hits %d misses %d", h, m)
	}
}

// lruCache is the plain LRU the block cache was until 2026-12-03, for the
// benchmark's comparison.
type lruCache struct {
	max, used int64
	ll        list.List
	items     map[cacheKey]*list.Element
}

func (c *lruCache) access(k cacheKey, size int64) bool {
	if e, ok := c.items[k]; ok {
		c.ll.MoveToFront(e)
		return true
	}
	c.items[k] = c.ll.PushFront(&cacheEntry{key: k, b: blockOf(size)})
	c.used += size
	for c.used > c.max {
		e := c.ll.Back()
		c.ll.Remove(e)
		delete(c.items, e.Value.(*cacheEntry).key)
		c.used -= e.Value.(*cacheEntry).b.size
	}
	return false
}

// BenchmarkCache replays access patterns against the block cache and the
// plain LRU it replaced, reporting the hit ratio (hit%) beside the time
// per access:
//
//   - loop: a query over 1.4× the cache's blocks, repeated (the 0.1% query
//     at 100M: ~90 MB of blocks against 64 MiB);
//   - loop+points: the same with a Zipf-distributed point lookup (over
//     2,000 other blocks) after every 4th block;
//   - scan-then-set: a working set of half the cache read 3 times, a
//     one-off pass over 3× the cache, the working set again (hit% of the
//     last pass only; ns/access over every access);
//   - zipf: point lookups alone (Zipf over 5,000 blocks).
func BenchmarkCache(b *testing.B) {
	const size, blocks = 64 << 10, 1000 // a 64 MiB cache of 64 KiB blocks
	type pattern struct {
		name string
		run  func(access func(reader uint64, block int) bool) (hits, n int)
	}
	// accesses counts every access of a run (hits and n may count only
	// the measured part of it), for ns/access.
	accesses := 0
	zipfOf := func(n uint64) *rand.Zipf { return rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 1, n-1) }
	patterns := []pattern{
		{"loop", func(access func(uint64, int) bool) (int, int) {
			h := 0
			for i := range blocks * 14 / 10 {
				if access(1, i) {
					h++
				}
			}
			return h, blocks * 14 / 10
		}},
		{"loop+points", func() func(access func(uint64, int) bool) (int, int) {
			z := zipfOf(2000)
			return func(access func(uint64, int) bool) (int, int) {
				h, n := 0, 0
				for i := range blocks * 14 / 10 {
					if access(1, i) {
						h++
					}
					n++
					if i%4 == 0 {
						if access(2, int(z.Uint64())) {
							h++
						}
						n++
					}
				}
				return h, n
			}
		}()},
		{"scan-then-set", func() func(access func(uint64, int) bool) (int, int) {
			pass := 0
			return func(access func(uint64, int) bool) (int, int) {
				for range 3 {
					for i := range blocks / 2 {
						access(1, i)
					}
				}
				for i := range 3 * blocks {
					access(3, pass*3*blocks+i) // new blocks every pass
				}
				pass++
				h := 0
				for i := range blocks / 2 {
					if access(1, i) {
						h++
					}
				}
				return h, blocks / 2
			}
		}()},
		{"zipf", func() func(access func(uint64, int) bool) (int, int) {
			z := zipfOf(5000)
			return func(access func(uint64, int) bool) (int, int) {
				h := 0
				for range blocks {
					if access(2, int(z.Uint64())) {
						h++
					}
				}
				return h, blocks
			}
		}()},
	}
	for _, p := range patterns {
		for _, policy := range []string{"wtinylfu", "lru"} {
			b.Run(fmt.Sprintf("%s/%s", p.name, policy), func(b *testing.B) {
				var acc func(uint64, int) bool
				if policy == "lru" {
					c := &lruCache{max: blocks * size, items: map[cacheKey]*list.Element{}}
					acc = func(r uint64, i int) bool { accesses++; return c.access(cacheKey{r, i}, size) }
				} else {
					c := NewCache(blocks * size)
					acc = func(r uint64, i int) bool { accesses++; return access(c, r, i, size) }
				}
				p.run(acc) // the first run fills the cache
				hits, n := 0, 0
				accesses = 0
				b.ResetTimer()
				for b.Loop() {
					h, k := p.run(acc)
					hits += h
					n += k
				}
				b.ReportMetric(100*float64(hits)/float64(max(n, 1)), "hit%")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(accesses, 1)), "ns/access")
			})
		}
	}
}
