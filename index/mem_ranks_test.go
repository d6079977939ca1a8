package index

import (
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"testing"
)

// TestMemFieldRanks checks FieldRanks against ranks computed from the
// terms added: for the tenant field (missing for some events, many
// distinct values, values added out of order) and the kind field, with a
// ranks slice shorter than the Mem (ordinals past it are skipped) and
// entries without a term left as they were.
func TestMemFieldRanks(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	const n = 5000
	m := NewMem()
	tenants := make([]string, n) // "" = none
	kinds := make([]string, n)
	for i := range n {
		terms := []Term{{Field: FieldEventID, Value: fmt.Sprintf("e%d", i)}}
		kinds[i] = fmt.Sprintf("k%02d", r.Intn(14))
		terms = append(terms, Term{Field: FieldKind, Value: kinds[i]})
		switch x := r.Intn(10); {
		case x == 0:
		case x < 3: // a value seen once or a few times
			tenants[i] = fmt.Sprintf("u%d", r.Intn(3000))
		default:
			tenants[i] = fmt.Sprintf("t%d", r.Intn(6))
		}
		if tenants[i] != "" {
			terms = append(terms, Term{Field: FieldTenant, Value: tenants[i]})
		}
		m.Add(uint32(i), "2026", terms)
	}
	want := func(vals []string, short int) ([]uint32, int) {
		var distinct []string
		for _, v := range vals {
			if v != "" {
				distinct = append(distinct, v)
			}
		}
		slices.Sort(distinct)
		distinct = slices.Compact(distinct)
		out := make([]uint32, short)
		for i := range out {
			out[i] = 1 << 31
			if vals[i] != "" {
				j, _ := slices.BinarySearch(distinct, vals[i])
				out[i] = uint32(j + 1)
			}
		}
		return out, len(distinct)
	}
	for _, c := range []struct {
		f    Field
		vals []string
	}{{FieldTenant, tenants}, {FieldKind, kinds}} {
		for _, short := range []int{n, n - 777, 0} {
			got := make([]uint32, short)
			for i := range got {
				got[i] = 1 << 31 // must stay for events without the field
			}
			nv, err := m.FieldRanks(c.f, got)
			if err != nil {
				t.Fatal(err)
			}
			w, wn := want(c.vals, short)
			if nv != wn {
				t.Fatalf("field %d: %d distinct values, want %d", c.f, nv, wn)
			}
			for i := range w {
				if got[i] != w[i] {
					t.Fatalf("field %d, %d ranks: ordinal %d (value %q) has rank %d, want %d", c.f, short, i, c.vals[i], got[i], w[i])
				}
			}
		}
	}
	if _, err := m.FieldRanks(FieldEventID, make([]uint32, n)); !errors.Is(err, ErrField) {
		t.Fatalf("event ids: %v, want ErrField", err)
	}
	if _, err := m.FieldRanks(Field(99), make([]uint32, n)); !errors.Is(err, ErrField) {
		t.Fatalf("field 99: %v, want ErrField", err)
	}
	m.Add(7, "2026", nil) // a wrong ordinal poisons the Mem
	if _, err := m.FieldRanks(FieldKind, make([]uint32, n)); !errors.Is(err, ErrOrdinals) {
		t.Fatalf("poisoned Mem: %v, want ErrOrdinals", err)
	}
}
