package segment

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// Cache is a bounded LRU of decompressed, verified blocks shared by any
// number of Readers. It is safe for concurrent use. A nil *Cache is valid
// and caches nothing.
type Cache struct {
	max    int64
	mu     sync.Mutex
	used   int64
	ll     *list.List // front = most recently used; values are *cacheEntry
	items  map[cacheKey]*list.Element
	hits   atomic.Uint64
	misses atomic.Uint64
}

type cacheKey struct {
	reader uint64
	block  int
}

type cacheEntry struct {
	key cacheKey
	b   *Block
}

// NewCache returns a cache holding at most maxBytes of decompressed blocks
// (approximately: the payload plus its per-record index). A block larger
// than maxBytes is never cached. maxBytes <= 0 gives a cache that holds
// nothing but still counts misses.
func NewCache(maxBytes int64) *Cache {
	return &Cache{max: maxBytes, ll: list.New(), items: make(map[cacheKey]*list.Element)}
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
	return c.used
}

func (c *Cache) get(k cacheKey) *Block {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	e, ok := c.items[k]
	if ok {
		c.ll.MoveToFront(e)
	}
	c.mu.Unlock()
	if !ok {
		c.misses.Add(1)
		return nil
	}
	c.hits.Add(1)
	return e.Value.(*cacheEntry).b
}

func (c *Cache) put(k cacheKey, b *Block) {
	if c == nil || b.size > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok { // raced with another reader: keep one
		c.ll.MoveToFront(e)
		return
	}
	c.items[k] = c.ll.PushFront(&cacheEntry{key: k, b: b})
	c.used += b.size
	for c.used > c.max {
		back := c.ll.Back()
		ent := back.Value.(*cacheEntry)
		c.ll.Remove(back)
		delete(c.items, ent.key)
		c.used -= ent.b.size
	}
}

// dropReader removes every block of one reader (on Close).
func (c *Cache) dropReader(id uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.ll.Front(); e != nil; {
		next := e.Next()
		ent := e.Value.(*cacheEntry)
		if ent.key.reader == id {
			c.ll.Remove(e)
			delete(c.items, ent.key)
			c.used -= ent.b.size
		}
		e = next
	}
}
