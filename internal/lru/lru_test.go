package lru

import (
	"sync/atomic"
	"testing"
)

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	c := New(100)
	var held [4]atomic.Bool
	es := make([]Entry, 4)
	for i := range es {
		es[i].Drop = func() { held[i].Store(false) }
	}
	ins := func(i int, n int64) { c.Insert(&es[i], n, func() { held[i].Store(true) }) }
	ins(0, 40)
	ins(1, 40)
	c.Touch(&es[0]) // 1 is now the least recently used
	ins(2, 40)      // 120 > 100: drops 1
	if !held[0].Load() || held[1].Load() || !held[2].Load() {
		t.Fatalf("held %v %v %v, want true false true", held[0].Load(), held[1].Load(), held[2].Load())
	}
	if st := c.Stats(); st.Bytes != 80 || st.Entries != 2 || st.Loads != 3 {
		t.Fatalf("stats %+v", st)
	}
	ins(3, 500) // alone over the capacity: everything goes, itself last
	if st := c.Stats(); st.Bytes != 0 || st.Entries != 0 {
		t.Fatalf("after an oversized insert: %+v", st)
	}
	for i := range held {
		if held[i].Load() {
			t.Fatalf("entry %d still held", i)
		}
	}
	c.Touch(&es[1]) // not held: no effect
	ins(1, 10)
	if !held[1].Load() || c.Stats().Bytes != 10 {
		t.Fatal("re-insert after eviction")
	}
}
