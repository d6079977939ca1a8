package ledger

import "github.com/exledger/exledger/internal/corrupt"

// annIndex is a segment's approximate nearest-neighbour index.
type annIndex struct{}

// buildANN builds the approximate index section of a vector file (nil:
// none).
func buildANN(dim int, ords []uint32, flat []float32) []byte { return nil }

// decodeANN decodes an approximate index section.
func decodeANN(path string, off int64, b []byte, s *vecSet) (*annIndex, error) {
	return nil, corrupt.New(path, off, "unknown approximate index section of %d bytes", len(b))
}
