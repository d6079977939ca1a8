// Package lru is a byte-bounded least-recently-used list of values that
// live elsewhere: each Entry belongs to its owner (an index section, a
// segment footer), which publishes and forgets the value itself; the list
// only decides what to forget. The index and segment packages bound their
// lazily loaded structures with it.
package lru

import (
	"container/list"
	"sync"
)

// Cache holds at most its capacity of Entry bytes. It is safe for
// concurrent use.
type Cache struct {
	mu       sync.Mutex
	capacity int64
	size     int64
	lru      list.List // *Entry, most recently used at the front
	loads    int64
}

// Entry is one value's place in a Cache. Its zero value is not held.
// Drop must forget the value (for example store nil in an atomic pointer);
// it runs with the Cache's lock held and must not call the Cache.
type Entry struct {
	Drop  func()
	elem  *list.Element
	bytes int64
}

// New returns a cache bounded to capacity bytes (at least 1).
func New(capacity int64) *Cache {
	return &Cache{capacity: max(capacity, 1)}
}

// Stats is a snapshot of a Cache.
type Stats struct {
	Bytes, Capacity int64 // held, bound
	Entries         int   // values held
	Loads           int64 // Inserts since New
}

// Stats returns the cache's current figures.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Bytes: c.size, Capacity: c.capacity, Entries: c.lru.Len(), Loads: c.loads}
}

// Touch marks e as just used (nothing when e is not held).
func (c *Cache) Touch(e *Entry) {
	c.mu.Lock()
	if e.elem != nil {
		c.lru.MoveToFront(e.elem)
	}
	c.mu.Unlock()
}

// Insert runs set (which publishes the value) under the cache's lock and
// holds e at n bytes, then drops the least recently used entries beyond
// the capacity (e itself last, when it alone exceeds it). Publishing under
// the lock keeps "held" and "published" in step: a Drop cannot run
// between them.
func (c *Cache) Insert(e *Entry, n int64, set func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loads++
	set()
	if e.elem != nil {
		c.size += n - e.bytes
		e.bytes = n
		c.lru.MoveToFront(e.elem)
	} else {
		e.bytes = n
		e.elem = c.lru.PushFront(e)
		c.size += n
	}
	for c.size > c.capacity {
		b := c.lru.Back()
		v := b.Value.(*Entry)
		c.lru.Remove(b)
		v.elem = nil
		c.size -= v.bytes
		v.Drop()
	}
}
