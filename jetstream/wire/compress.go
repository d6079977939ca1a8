package wire

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// compressMin is the body size from which Compress compresses.
const compressMin = 1024

var (
	encOnce sync.Once
	enc     *zstd.Encoder
	dec     *zstd.Decoder
)

func codecs() {
	encOnce.Do(func() {
		var err error
		enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(4),
			zstd.WithZeroFrames(true), zstd.WithEncoderCRC(false))
		if err != nil {
			panic(err)
		}
		dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(4), zstd.WithDecoderMaxMemory(MaxBodyBytes),
			zstd.WithDecoderMaxWindow(MaxBodyBytes))
		if err != nil {
			panic(err)
		}
	})
}

// Compress returns the zstd payload of body (to be sent with
// Exledger-Encoding zstd), or nil when body is small or does not shrink
// (send it as it is).
func Compress(body []byte) []byte {
	if len(body) < compressMin {
		return nil
	}
	codecs()
	out := enc.EncodeAll(body, make([]byte, 0, len(body)/3))
	if len(out) >= len(body) {
		return nil
	}
	return out
}

// CompressSnappy returns the payload of body in the Snappy block format
// (to be sent with Exledger-Encoding snappy), or nil when body is small or
// does not shrink. It costs about a third of Compress's CPU for payloads
// about a third larger (docs/jetstream.md §2).
func CompressSnappy(body []byte) []byte {
	if len(body) < compressMin {
		return nil
	}
	out := s2.EncodeSnappy(make([]byte, 0, s2.MaxEncodedLen(len(body))), body)
	if len(out) >= len(body) {
		return nil
	}
	return out
}

// decompressSnappy expands a Snappy block (S2's extensions of the format
// are accepted too), refusing one that declares more than MaxBodyBytes (so
// the allocation is bounded by what the block's length prefix declares).
func decompressSnappy(p []byte) ([]byte, error) {
	n, err := s2.DecodedLen(p)
	if err != nil {
		return nil, err
	}
	if n > MaxBodyBytes {
		return nil, fmt.Errorf("snappy block declares %d bytes, over %d", n, MaxBodyBytes)
	}
	out, err := s2.Decode(make([]byte, n), p)
	if err != nil {
		return nil, err
	}
	if len(out) != n {
		return nil, fmt.Errorf("snappy block holds %d bytes, its header says %d", len(out), n)
	}
	return out, nil
}

// decompress expands a zstd payload, refusing frames without a declared
// content size or one above MaxBodyBytes (so the allocation is bounded by
// what the frame header declares).
func decompress(p []byte) ([]byte, error) {
	var h zstd.Header
	if err := h.Decode(p); err != nil {
		return nil, err
	}
	if !h.HasFCS {
		return nil, errors.New("zstd frame without content size")
	}
	if h.FrameContentSize > MaxBodyBytes {
		return nil, fmt.Errorf("zstd frame declares %d bytes, over %d", h.FrameContentSize, MaxBodyBytes)
	}
	codecs()
	out, err := dec.DecodeAll(p, make([]byte, 0, h.FrameContentSize))
	if err != nil {
		return nil, err
	}
	if uint64(len(out)) != h.FrameContentSize {
		return nil, fmt.Errorf("zstd frame holds %d bytes, its header says %d", len(out), h.FrameContentSize)
	}
	return out, nil
}
