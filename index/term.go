package index

import (
	"errors"
	"fmt"

	"github.com/exledger/exledger/internal/corrupt"
)

// CorruptionError is the error every decoder in this package returns when
// bytes fail a checksum, a bound or a format rule.
type CorruptionError = corrupt.CorruptionError

// Sentinel errors (wrapped with context where they are returned).
var (
	// ErrField is returned for a Term whose Field is not one of the
	// declared constants.
	ErrField = errors.New("index: unknown field")
	// ErrOrdinals is returned by Builder.Encode when the added ordinals are
	// not exactly 0..n-1 each once, and by Mem when Add is called with an
	// ordinal other than Len().
	ErrOrdinals = errors.New("index: ordinals must be dense from 0, each once")
	// ErrClosed is returned when a section must be loaded from a file
	// after Index.Close.
	ErrClosed = errors.New("index: closed")
	// ErrTooLarge is returned by Builder.Encode when a value does not fit
	// the format (more than 2^32-1 events, a section over 4 GiB).
	ErrTooLarge = errors.New("index: too large")
)

// Field names which event attribute a Term indexes.
type Field uint8

// Indexed fields. Terms of FieldEventID are not stored in the term
// dictionary: they go to the hashed event-id table (see Index.EventID).
const (
	FieldTenant      Field = iota + 1 // tenant_id
	FieldKind                         // event kind name ("ProposalCreated", ...)
	FieldCorrelation                  // correlation_id
	FieldChain                        // chain_id
	FieldTraceRecord                  // trace_link_id of a ReplayTraceRecorded event (GetTraceLink)
	FieldTraceRef                     // trace_link_id carried by any other event
	FieldArtifact                     // artifact_id
	FieldEventID                      // event_id (duplicate detection, lookup by id)

	numFields = int(FieldEventID)
)

// Pseudo-fields that appear only as keys of Index.Bytes.
const (
	FieldTime     Field = 0x40 // the time section
	FieldOverhead Field = 0x41 // header, trailer, summary and section headers
)

var fieldNames = [...]string{
	FieldTenant:      "tenant",
	FieldKind:        "kind",
	FieldCorrelation: "correlation",
	FieldChain:       "chain",
	FieldTraceRecord: "trace_record",
	FieldTraceRef:    "trace_ref",
	FieldArtifact:    "artifact",
	FieldEventID:     "event_id",
}

// String returns the field's name.
func (f Field) String() string {
	switch {
	case f.valid():
		return fieldNames[f]
	case f == FieldTime:
		return "time"
	case f == FieldOverhead:
		return "overhead"
	}
	return fmt.Sprintf("field(%d)", uint8(f))
}

func (f Field) valid() bool { return f >= FieldTenant && f <= FieldEventID }

// Term is one (field, value) pair extracted from an event.
type Term struct {
	Field Field
	Value string
}

// compareKey orders a stored dictionary key (field byte + value bytes)
// against (f, v), byte-wise, without allocating.
func compareKey(key []byte, f Field, v string) int {
	if len(key) == 0 {
		return -1
	}
	if key[0] != byte(f) {
		if key[0] < byte(f) {
			return -1
		}
		return 1
	}
	k := key[1:]
	n := min(len(k), len(v))
	for i := 0; i < n; i++ {
		if k[i] != v[i] {
			if k[i] < v[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(k) < len(v):
		return -1
	case len(k) > len(v):
		return 1
	}
	return 0
}

// termHash is the 64-bit hash of a term used by the summary filter.
func termHash(t Term) uint64 {
	return mix64(hashString(t.Value) ^ (uint64(t.Field) * 0x9e3779b97f4a7c15))
}

// mix64 is the splitmix64 finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
