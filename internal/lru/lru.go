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
	spare    list.List // the entries held by InsertIfRoom, likewise
	loads    int64
}

// Entry is one value's place in a Cache. Its zero value is not held.
// Drop must forget the value (for example store nil in an atomic pointer);
// it runs with the Cache's lock held and must not call the Cache.
type Entry struct {
	Drop  func()
	elem  *list.Element
	bytes int64
	spare bool // held by InsertIfRoom: in Cache.spare
}

func (c *Cache) list(e *Entry) *list.List {
	if e.spare {
		return &c.spare
	}
	return &c.lru
}

// New returns a cache bounded to capacity bytes (at least 1).
func New(capacity int64) *Cache {
	return &Cache{capacity: max(capacity, 1)}
}

// Stats is a snapshot of a Cache.
type Stats struct {
	Bytes, Capacity int64 // held, bound
	Entries         int   // values held
	Loads           int64 // Inserts since New (InsertIfRoom not counted)
}

// Stats returns the cache's current figures.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Bytes: c.size, Capacity: c.capacity, Entries: c.lru.Len() + c.spare.Len(), Loads: c.loads}
}

// Touch marks e as just used (nothing when e is not held).
func (c *Cache) Touch(e *Entry) {
	c.mu.Lock()
	if e.elem != nil {
		c.list(e).MoveToFront(e.elem)
	}
	c.mu.Unlock()
}

// Insert runs set (which publishes the value) under the cache's lock and
// holds e at n bytes, then drops the least recently used entries beyond
// the capacity (first those held by InsertIfRoom, then the others; e
// itself last, when it alone exceeds it). Publishing under
// the lock keeps "held" and "published" in step: a Drop cannot run
// between them.
func (c *Cache) Insert(e *Entry, n int64, set func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loads++
	set()
	if e.elem != nil && e.spare { // held by InsertIfRoom: now by Insert
		c.spare.Remove(e.elem)
		c.size -= e.bytes
		e.elem, e.spare = nil, false
	}
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
		l := &c.spare
		if l.Len() == 0 {
			l = &c.lru
		}
		b := l.Back()
		v := b.Value.(*Entry)
		l.Remove(b)
		v.elem, v.spare = nil, false
		c.size -= v.bytes
		v.Drop()
	}
}

// InsertIfRoom is Insert for a value worth holding only when it costs
// nothing else: when e is not held and n bytes fit beside what is held,
// it runs set and holds e as Insert does; otherwise it drops nothing,
// runs nothing and reports false (true when e was already held). It is
// not counted in Stats.Loads. Insert drops such entries before any of its
// own: under a working set larger than the capacity, values offered this
// way keep the room the others leave, and never push them out.
func (c *Cache) InsertIfRoom(e *Entry, n int64, set func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.elem != nil {
		c.list(e).MoveToFront(e.elem)
		return true
	}
	if c.size+n > c.capacity {
		return false
	}
	set()
	e.bytes = n
	e.spare = true
	e.elem = c.spare.PushFront(e)
	c.size += n
	return true
}
