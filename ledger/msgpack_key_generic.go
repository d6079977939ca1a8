//go:build !(amd64 || arm64)

package ledger

// key consumes the pre-encoded key k, of 8 to 16 bytes (see keyAny).
func (d *dec) key(k string) { d.keyAny(k) }

// keyShort consumes the pre-encoded key k, of 4 to 7 bytes (see keyAny).
func (d *dec) keyShort(k string) { d.keyAny(k) }

// keyLong consumes the pre-encoded key k, of 17 to 24 bytes (see keyAny).
func (d *dec) keyLong(k string) { d.keyAny(k) }
