package ledgerparquet

import (
	"fmt"

	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/snappy"
	"github.com/parquet-go/parquet-go/compress/uncompressed"
)

// Compressions are the names ParseCompression accepts, the default first.
var Compressions = []string{"zstd", "snappy", "none"}

// The codecs are shared by every export so the pooled encoders (zstd's
// history buffers) are reused across exports.
var (
	snappyCodec       = &snappy.Codec{}
	uncompressedCodec = &uncompressed.Codec{}
)

// ParseCompression returns the codec of every column for a compression
// name (for Options.Compression): "zstd" (the default, also ""; zstd at
// its fastest level), "snappy" (Snappy block format, written by
// klauspost/compress's S2 encoder) or "none". Every engine
// docs/analytics.md names reads all three. Measured against each other in
// docs/benchmarks.md §12: snappy costs far less CPU than zstd for larger
// files. (No LZ4: parquet-go v0.32.0's LZ4_RAW codec, at its fast and its
// HC levels, wrote row groups that parquet-go could not decode again.)
func ParseCompression(name string) (compress.Codec, error) {
	switch name {
	case "", "zstd":
		return defaultCodec, nil
	case "snappy":
		return snappyCodec, nil
	case "none":
		return uncompressedCodec, nil
	}
	return nil, fmt.Errorf("unknown compression %q (want zstd, snappy or none)", name)
}
