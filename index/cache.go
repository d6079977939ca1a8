package index

import (
	"github.com/exledger/exledger/internal/lru"
	"github.com/exledger/exledger/vfs"
)

// Cache bounds the memory of what indexes opened with it load on demand:
// the time, event-id filter and event-id table sections; of a version 1
// file the dictionary and postings sections; of a version 2 file the
// dictionary's head (its restart rows) and the verified 4 KiB chunks of
// the dictionary and postings that lookups read (only those read for a
// range of at most 16 chunks, or all of them once a file's lookups have
// needed a quarter of its chunks; see doc.go). Everything held shares its byte
// budget; the least recently used entry is forgotten when a load would
// exceed it, and is read and checksum-verified again on its next use. A
// value already handed to a lookup stays valid after eviction (files are
// immutable). Without a Cache (Open, Decode) an index keeps everything it
// loads until it is garbage. A Cache is safe for concurrent use.
type Cache struct {
	c *lru.Cache
}

// NewCache returns a cache that holds at most capacity bytes of sections
// (a section larger than that is used and forgotten at once). A capacity
// of 0 or less means 64 MiB.
func NewCache(capacity int64) *Cache {
	if capacity <= 0 {
		capacity = 64 << 20
	}
	return &Cache{c: lru.New(capacity)}
}

// OpenCached is Open with the sections' memory bounded by c (nil: kept).
func OpenCached(fs vfs.FS, path string, c *Cache) (*Index, error) {
	ix, err := Open(fs, path)
	if err != nil {
		return nil, err
	}
	ix.cache = c
	return ix, nil
}

// CacheStats is a snapshot of a Cache.
type CacheStats struct {
	Bytes, Capacity int64 // held, bound
	Sections        int   // entries held (sections, dictionary heads, chunks)
	Loads           int64 // entries read and verified since NewCache
}

// Stats returns the cache's current figures.
func (c *Cache) Stats() CacheStats {
	s := c.c.Stats()
	return CacheStats{Bytes: s.Bytes, Capacity: s.Capacity, Sections: s.Entries, Loads: s.Loads}
}
