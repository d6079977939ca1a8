//go:build amd64 || arm64

package ledger

import "unsafe"

// key consumes the pre-encoded key k, which must be 8 to 16 bytes long
// (keyAny takes any key; TestMsgpackKeyCallLengths checks the call
// sites). It is small enough to be inlined, and k is a constant at every
// call site, so it compiles to two possibly unaligned word loads (which
// amd64 and arm64 allow) compared with immediates, where keyAny spends
// about 50 instructions. On a mismatch it panics with keyMismatch, which
// the decoder's entry points turn into the error keyAny would have set
// (see recoverKey): a call to keyAny there would make key too costly to
// inline.
func (d *dec) key(k string) {
	off, n := d.off, len(k)
	if n >= 8 && n <= 16 && n <= len(d.b)-off {
		p := unsafe.Add(unsafe.Pointer(unsafe.SliceData(d.b)), off)
		q := unsafe.Pointer(unsafe.StringData(k))
		if *(*uint64)(p) == *(*uint64)(q) && *(*uint64)(unsafe.Add(p, n-8)) == *(*uint64)(unsafe.Add(q, n-8)) {
			d.off = off + n
			return
		}
	}
	panic(keyMismatch(k))
}

// keyShort is key for keys of 4 to 7 bytes, with two 32-bit loads.
func (d *dec) keyShort(k string) {
	off, n := d.off, len(k)
	if n >= 4 && n <= 7 && n <= len(d.b)-off {
		p := unsafe.Add(unsafe.Pointer(unsafe.SliceData(d.b)), off)
		q := unsafe.Pointer(unsafe.StringData(k))
		if *(*uint32)(p) == *(*uint32)(q) && *(*uint32)(unsafe.Add(p, n-4)) == *(*uint32)(unsafe.Add(q, n-4)) {
			d.off = off + n
			return
		}
	}
	panic(keyMismatch(k))
}

// keyLong is key for keys of 17 to 24 bytes: a 16-byte compare and a
// word compare.
func (d *dec) keyLong(k string) {
	off, n := d.off, len(k)
	if uint(n-17) <= 24-17 && n <= len(d.b)-off {
		p := unsafe.Add(unsafe.Pointer(unsafe.SliceData(d.b)), off)
		q := unsafe.Pointer(unsafe.StringData(k))
		if *(*[16]byte)(p) == *(*[16]byte)(q) && *(*uint64)(unsafe.Add(p, n-8)) == *(*uint64)(unsafe.Add(q, n-8)) {
			d.off = off + n
			return
		}
	}
	panic(keyMismatch(k))
}
