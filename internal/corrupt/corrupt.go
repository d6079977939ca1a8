// Package corrupt holds the error type every storage layer returns when
// bytes on disk fail a checksum, a bound or a format rule.
//
// A CorruptionError always names the file and the byte offset where the
// problem was found, so an operator (or ledgerctl repair) can act on it.
// It is never used for ordinary I/O errors: those are returned wrapped, as
// they came from the file system.
package corrupt

import (
	"errors"
	"fmt"
)

// ErrCorrupt is matched by every *CorruptionError via errors.Is.
var ErrCorrupt = errors.New("corrupt data")

// CorruptionError reports bytes that failed verification.
type CorruptionError struct {
	File   string // path of the damaged file
	Offset int64  // byte offset of the first bad byte or of the damaged record
	Reason string // what rule failed, e.g. "checksum mismatch"
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("corruption in %s at offset %d: %s", e.File, e.Offset, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true for every CorruptionError.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// New returns a *CorruptionError.
func New(file string, off int64, format string, args ...any) *CorruptionError {
	return &CorruptionError{File: file, Offset: off, Reason: fmt.Sprintf(format, args...)}
}
