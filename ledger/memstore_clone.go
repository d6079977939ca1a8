package ledger

import (
	"reflect"
	"sync"
)

// CloneEnvelope returns a deep copy of e: no pointer, slice, map or
// interface in the result shares memory with e. MemStore uses it on the way
// in and on the way out, so the oracle's state cannot be corrupted through
// an alias. It works by reflection over the data-model types (which are
// plain trees: no cycles, no channels or funcs), which keeps it correct for
// every variant without a hand-written clone per type; it is not on any
// durable hot path.
func CloneEnvelope(e ExperienceEventEnvelope) ExperienceEventEnvelope {
	return cloneEnvelope(&e)
}

func cloneEnvelope(e *ExperienceEventEnvelope) ExperienceEventEnvelope {
	var out ExperienceEventEnvelope
	deepCopyInto(reflect.ValueOf(&out).Elem(), reflect.ValueOf(e).Elem())
	return out
}

// CloneReplayTrace returns a deep copy of t (nil for nil).
func CloneReplayTrace(t *ReplayTrace) *ReplayTrace { return cloneReplayTrace(t) }

func cloneReplayTrace(t *ReplayTrace) *ReplayTrace {
	if t == nil {
		return nil
	}
	out := new(ReplayTrace)
	deepCopyInto(reflect.ValueOf(out).Elem(), reflect.ValueOf(t).Elem())
	return out
}

// deepCopyInto sets dst (settable, same type as src) to a deep copy of src.
func deepCopyInto(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		p := reflect.New(src.Type().Elem())
		deepCopyInto(p.Elem(), src.Elem())
		dst.Set(p)
	case reflect.Interface:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		inner := src.Elem()
		c := reflect.New(inner.Type()).Elem()
		deepCopyInto(c, inner)
		dst.Set(c)
	case reflect.Struct:
		// Copy the whole struct first (covers unexported and scalar
		// fields), then replace every exported field that can alias.
		dst.Set(src)
		for i := 0; i < src.NumField(); i++ {
			f := dst.Field(i)
			if !f.CanSet() || !mayAlias(f.Type()) {
				continue
			}
			deepCopyInto(f, src.Field(i))
		}
	case reflect.Slice:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		n := src.Len()
		s := reflect.MakeSlice(src.Type(), n, n)
		if mayAlias(src.Type().Elem()) {
			for i := 0; i < n; i++ {
				deepCopyInto(s.Index(i), src.Index(i))
			}
		} else {
			reflect.Copy(s, src)
		}
		dst.Set(s)
	case reflect.Map:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		vt := src.Type().Elem()
		iter := src.MapRange()
		for iter.Next() {
			v := reflect.New(vt).Elem()
			deepCopyInto(v, iter.Value())
			m.SetMapIndex(iter.Key(), v) // keys of the model are strings
		}
		dst.Set(m)
	case reflect.Array:
		dst.Set(src)
		if mayAlias(src.Type().Elem()) {
			for i := 0; i < src.Len(); i++ {
				deepCopyInto(dst.Index(i), src.Index(i))
			}
		}
	default:
		dst.Set(src)
	}
}

// aliasKinds are the kinds whose values share memory when assigned.
var aliasKinds = map[reflect.Kind]bool{
	reflect.Pointer: true, reflect.Interface: true, reflect.Slice: true,
	reflect.Map: true, reflect.Chan: true, reflect.Func: true,
	reflect.UnsafePointer: true,
}

// aliasCache memoizes mayAlias per type (reflect.Type -> bool).
var aliasCache sync.Map

// mayAlias reports whether a value of type t can share memory with a copy
// made by plain assignment.
func mayAlias(t reflect.Type) bool {
	if v, ok := aliasCache.Load(t); ok {
		return v.(bool)
	}
	r := computeMayAlias(t)
	aliasCache.Store(t, r)
	return r
}

func computeMayAlias(t reflect.Type) bool {
	if aliasKinds[t.Kind()] {
		return true
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if mayAlias(t.Field(i).Type) {
				return true
			}
		}
	case reflect.Array:
		return mayAlias(t.Elem())
	}
	return false
}
