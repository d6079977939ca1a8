package ledger

import "errors"

// ErrorKind classifies a StoreError (SPEC §4).
type ErrorKind int

const (
	// ErrKindStorage: the backing storage failed ("Storage error: ...").
	ErrKindStorage ErrorKind = iota + 1
	// ErrKindInvalidQuery: bad input, including validation failures
	// ("Invalid query: ...").
	ErrKindInvalidQuery
	// ErrKindNotFound: a requested item does not exist ("Not found: ...").
	ErrKindNotFound
)

// String returns the kind's name as the Rust variant spells it.
func (k ErrorKind) String() string {
	switch k {
	case ErrKindStorage:
		return "StorageError"
	case ErrKindInvalidQuery:
		return "InvalidQuery"
	case ErrKindNotFound:
		return "NotFound"
	}
	return "Unknown"
}

// Sentinels matched by errors.Is against any *StoreError of that kind.
var (
	ErrStorage      = errors.New("storage error")
	ErrInvalidQuery = errors.New("invalid query")
	ErrNotFound     = errors.New("not found")
)

// ErrClosed is returned by every method of a closed store.
var ErrClosed = errors.New("ledger: closed")

// StoreError is the error type of ExperienceStore methods. Its Error() text
// matches the Rust ExperienceStoreError Display exactly.
type StoreError struct {
	Kind ErrorKind
	Msg  string
	Err  error // optional cause, returned by Unwrap
}

func (e *StoreError) Error() string {
	switch e.Kind {
	case ErrKindStorage:
		return "Storage error: " + e.Msg
	case ErrKindInvalidQuery:
		return "Invalid query: " + e.Msg
	case ErrKindNotFound:
		return "Not found: " + e.Msg
	}
	return e.Msg
}

// Is matches the sentinel of e's kind.
func (e *StoreError) Is(target error) bool {
	switch target {
	case ErrStorage:
		return e.Kind == ErrKindStorage
	case ErrInvalidQuery:
		return e.Kind == ErrKindInvalidQuery
	case ErrNotFound:
		return e.Kind == ErrKindNotFound
	}
	return false
}

// Unwrap returns the cause, if any.
func (e *StoreError) Unwrap() error { return e.Err }

// InvalidQuery returns a *StoreError of kind ErrKindInvalidQuery.
func InvalidQuery(msg string) error {
	return &StoreError{Kind: ErrKindInvalidQuery, Msg: msg}
}

// Storage returns a *StoreError of kind ErrKindStorage wrapping err (which
// may be nil). The cause's text follows msg after ": ", so the message says
// what failed and why (e.g. "append: wal: poisoned by an earlier failed
// fsync: ...").
func Storage(msg string, err error) error {
	if err != nil {
		msg += ": " + err.Error()
	}
	return &StoreError{Kind: ErrKindStorage, Msg: msg, Err: err}
}

// NotFound returns a *StoreError of kind ErrKindNotFound.
func NotFound(msg string) error {
	return &StoreError{Kind: ErrKindNotFound, Msg: msg}
}
