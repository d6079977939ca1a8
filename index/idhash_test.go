package index

import (
	"fmt"
	"slices"
	"testing"
)

func TestEventIDHashes(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 1000, 70000} {
		b := NewBuilder()
		var want []uint32
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("evt-%d", i)
			b.Add(uint32(i), "2026-01-01T00:00:00Z", []Term{{Field: FieldEventID, Value: id}, {Field: FieldKind, Value: "K"}})
			want = append(want, EventIDHash32(id))
		}
		data, err := b.Encode()
		if err != nil {
			t.Fatal(err)
		}
		ix, err := Decode("x", data)
		if err != nil {
			t.Fatal(err)
		}
		var got []uint32
		if err := ix.EventIDHashes(func(h uint32) { got = append(got, h) }); err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d: hashes differ (got %d, want %d)", n, len(got), len(want))
		}
	}
}

func TestEventIDHashPrefixes(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 1000, 70000} {
		b := NewBuilder()
		bits := EventIDPrefixBits(n)
		mask := ^uint64(0) << (64 - bits)
		var want []uint64
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("evt-%d", i)
			b.Add(uint32(i), "2026-01-01T00:00:00Z", []Term{{Field: FieldEventID, Value: id}, {Field: FieldKind, Value: "K"}})
			want = append(want, EventIDHash64(id)&mask)
		}
		data, err := b.Encode()
		if err != nil {
			t.Fatal(err)
		}
		ix, err := Decode("x", data)
		if err != nil {
			t.Fatal(err)
		}
		got, gotBits, err := ix.EventIDHashPrefixes(nil)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 && gotBits != bits {
			t.Fatalf("n=%d: %d prefix bits, want %d", n, gotBits, bits)
		}
		if n >= 70000 && gotBits < 44 {
			t.Fatalf("n=%d: only %d prefix bits", n, gotBits)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d: prefixes differ (got %d, want %d)", n, len(got), len(want))
		}
	}
}
