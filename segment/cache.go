package segment

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// Cache is a bounded cache of decompressed, verified blocks shared by any
// number of Readers. It is safe for concurrent use. A nil *Cache is valid
// and caches nothing.
//
// It is scan-resistant (a W-TinyLFU: a small LRU window in front of a main
// LRU, with admission to the main part by frequency). A block read from
// the file enters the window (a tenth of the bytes); the block the window
// then pushes out moves to the main part if the main part has room, or if
// it has been looked up more often, recently, than each block the main
// part would evict for it (the least recently used ones); otherwise it is
// dropped. Frequencies count the lookups of each block (cached or not)
// and are halved every few lookups (ten per block held, at least 640), so
// that what was used often long ago fades.
//
// What this buys, measured on the 0.1% query at 100M (docs/benchmarks-100m.md,
// sixth round): a query that reads more blocks than the cache holds no
// longer flushes it (its blocks, read once, lose to the ones used before),
// and the same query repeated keeps what fits in the main part instead of
// none of it: under a plain LRU, a loop over more blocks than the cache
// holds evicts every block before it is read again. Blocks looked up
// repeatedly (point lookups, small queries) hit in the window first and
// win admission once evicted from it.
type Cache struct {
	max    int64 // bytes of window + main
	winMax int64 // bytes of the window

	mu        sync.Mutex
	win, main list.List // front = most recently used; values are *cacheEntry
	winUsed   int64
	mainUsed  int64
	items     map[cacheKey]*list.Element
	freq      map[cacheKey]uint8 // lookups since the last halving, at most maxFreq
	lookups   int                // counted into freq since the last halving

	hits     atomic.Uint64
	misses   atomic.Uint64
	rejected atomic.Uint64 // window evictees not admitted to the main part
}

// maxFreq bounds a block's frequency count (4 bits, as TinyLFU's sketch).
const maxFreq = 15

type cacheKey struct {
	reader uint64
	block  int
}

type cacheEntry struct {
	key   cacheKey
	b     *Block
	inWin bool
}

// NewCache returns a cache holding at most maxBytes of decompressed blocks
// (approximately: the payload plus its per-record index). A block larger
// than maxBytes is never cached. maxBytes <= 0 gives a cache that holds
// nothing but still counts misses.
func NewCache(maxBytes int64) *Cache {
	c := &Cache{max: maxBytes, winMax: maxBytes / 10, items: make(map[cacheKey]*list.Element), freq: make(map[cacheKey]uint8)}
	c.win.Init()
	c.main.Init()
	return c
}

// Stats returns the number of lookups that found and did not find a block.
func (c *Cache) Stats() (hits, misses uint64) {
	if c == nil {
		return 0, 0
	}
	return c.hits.Load(), c.misses.Load()
}

// Size returns the bytes currently held.
func (c *Cache) Size() int64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.winUsed + c.mainUsed
}

// get looks block k up; a lookup counts toward the block's frequency (see
// Cache).
func (c *Cache) get(k cacheKey) *Block {
	return c.lookup(k, true)
}

// getBulk looks block k up for a read that visits blocks once and does not
// add what it reads (GetManyBulk, Scan, ScanBulk): a block found counts as
// used (recency), but the lookup does not raise its frequency, so a full
// scan neither promotes nor ages the blocks that queries use.
func (c *Cache) getBulk(k cacheKey) *Block {
	return c.lookup(k, false)
}

func (c *Cache) lookup(k cacheKey, count bool) *Block {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	if count {
		c.countLocked(k)
	}
	e, ok := c.items[k]
	if ok {
		c.listOf(e).MoveToFront(e)
	}
	c.mu.Unlock()
	if !ok {
		c.misses.Add(1)
		return nil
	}
	c.hits.Add(1)
	return e.Value.(*cacheEntry).b
}

func (c *Cache) listOf(e *list.Element) *list.List {
	if e.Value.(*cacheEntry).inWin {
		return &c.win
	}
	return &c.main
}

// countLocked adds a lookup of k to its frequency, halving every count
// (and forgetting the zeros) once the lookups since the last halving reach
// ten per block held (at least 640).
func (c *Cache) countLocked(k cacheKey) {
	if f := c.freq[k]; f < maxFreq {
		c.freq[k] = f + 1
	}
	c.lookups++
	if c.lookups >= 10*max(len(c.items), 64) {
		c.lookups = 0
		for key, f := range c.freq {
			if f >>= 1; f == 0 {
				delete(c.freq, key)
			} else {
				c.freq[key] = f
			}
		}
	}
}

func (c *Cache) put(k cacheKey, b *Block) {
	if c == nil || b.size > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok { // raced with another reader: keep one
		c.listOf(e).MoveToFront(e)
		return
	}
	c.items[k] = c.win.PushFront(&cacheEntry{key: k, b: b, inWin: true})
	c.winUsed += b.size
	for c.winUsed > c.winMax {
		e := c.win.Back()
		ent := e.Value.(*cacheEntry)
		c.win.Remove(e)
		c.winUsed -= ent.b.size
		c.admitLocked(ent)
	}
}

// admitLocked moves ent, just evicted from the window, to the main part if
// it fits there, or if it was looked up more often than each of the least
// recently used blocks that must leave to make room (which then leave);
// otherwise ent is dropped.
func (c *Cache) admitLocked(ent *cacheEntry) {
	mainMax := c.max - c.winMax
	need := c.mainUsed + ent.b.size - mainMax
	admit := ent.b.size <= mainMax
	if admit && need > 0 {
		f := c.freq[ent.key]
		freed := int64(0)
		for v := c.main.Back(); v != nil && freed < need; v = v.Prev() {
			if c.freq[v.Value.(*cacheEntry).key] >= f {
				admit = false
				break
			}
			freed += v.Value.(*cacheEntry).b.size
		}
		for admit && need > 0 {
			v := c.main.Back()
			vent := v.Value.(*cacheEntry)
			c.main.Remove(v)
			delete(c.items, vent.key)
			c.mainUsed -= vent.b.size
			need -= vent.b.size
		}
	}
	if !admit {
		delete(c.items, ent.key)
		c.rejected.Add(1)
		return
	}
	ent.inWin = false
	c.items[ent.key] = c.main.PushFront(ent)
	c.mainUsed += ent.b.size
}

// dropReader removes every block of one reader (on Close).
func (c *Cache) dropReader(id uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range []*list.List{&c.win, &c.main} {
		for e := l.Front(); e != nil; {
			next := e.Next()
			ent := e.Value.(*cacheEntry)
			if ent.key.reader == id {
				l.Remove(e)
				delete(c.items, ent.key)
				if ent.inWin {
					c.winUsed -= ent.b.size
				} else {
					c.mainUsed -= ent.b.size
				}
			}
			e = next
		}
	}
	// Its lookup counts are left to fade: reader ids are never reused,
	// the halvings forget them, and going through every count for each
	// of the hundreds of readers a ledger closes would cost more.
}
