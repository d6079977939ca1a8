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

func TestInsertIfRoom(t *testing.T) {
	c := New(100)
	var held [3]atomic.Bool
	es := make([]Entry, 3)
	for i := range es {
		es[i].Drop = func() { held[i].Store(false) }
	}
	set := func(i int) func() { return func() { held[i].Store(true) } }
	c.Insert(&es[0], 60, set(0))
	if c.InsertIfRoom(&es[1], 50, set(1)) || held[1].Load() || !held[0].Load() {
		t.Fatalf("InsertIfRoom over the capacity: admitted %v, evicted the held entry %v", held[1].Load(), !held[0].Load())
	}
	if !c.InsertIfRoom(&es[1], 40, set(1)) || !held[1].Load() {
		t.Fatal("InsertIfRoom with room refused")
	}
	if st := c.Stats(); st.Bytes != 100 || st.Entries != 2 {
		t.Fatalf("stats %+v", st)
	}
	if !c.InsertIfRoom(&es[1], 40, func() { t.Fatal("set of a held entry") }) {
		t.Fatal("InsertIfRoom of a held entry reported false")
	}
	c.Touch(&es[1])
	c.Touch(&es[0])
	// 0 is the most recently used, but 1 was held by InsertIfRoom: it
	// goes first, and alone, as 0 and 2 fit.
	c.Insert(&es[2], 30, set(2))
	if !held[0].Load() || held[1].Load() || !held[2].Load() {
		t.Fatalf("held %v %v %v, want true false true", held[0].Load(), held[1].Load(), held[2].Load())
	}
	if st := c.Stats(); st.Bytes != 90 || st.Entries != 2 {
		t.Fatalf("stats %+v", st)
	}
	// Insert of an entry held by InsertIfRoom holds it as Insert does.
	if !c.InsertIfRoom(&es[1], 10, set(1)) {
		t.Fatal("InsertIfRoom with room refused")
	}
	c.Insert(&es[1], 20, set(1)) // 60 + 30 + 20: drops 0, the least recently used
	if st := c.Stats(); st.Bytes != 50 || st.Entries != 2 || held[0].Load() || !held[1].Load() {
		t.Fatalf("after Insert of a spare entry: %+v, 0 held %v", st, held[0].Load())
	}
}
