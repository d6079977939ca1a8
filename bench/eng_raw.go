package main

import (
	"encoding/binary"
	"os"
	"path/filepath"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/exledger/exledger/ledger"
)

// rawEngine is the ceiling, not a store: one goroutine encodes each event
// (ledger.AppendCanonical), frames it (uvarint length, bytes, xxhash64),
// packs frames into 64 KiB blocks and compresses each block with zstd
// SpeedFastest (EncodeAll), the block followed by the xxhash64 of its
// compressed bytes; a batch ends its last block early. With sync=false that
// is all (the codec ceiling: no I/O); with sync=true the compressed bytes
// of each batch are written to one file and fdatasynced (the raw durable
// ceiling). It has no index and no read path.
type rawEngine struct {
	sync  bool
	f     *os.File
	enc   *zstd.Encoder
	block []byte
	out   []byte
	n     uint64
	syncs uint64
}

const rawBlock = 64 << 10

func (e *rawEngine) name() string {
	if e.sync {
		return "raw-fsync"
	}
	return "raw-codec"
}

func (e *rawEngine) open(dir string, durable bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// The ledger's block compression: fastest level, no frame checksum,
	// raw (not Huffman-coded) literals.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false), zstd.WithNoEntropyCompression(true))
	if err != nil {
		return err
	}
	e.enc, e.n, e.syncs = enc, 0, 0
	e.block = make([]byte, 0, rawBlock+8<<10)
	e.out = make([]byte, 0, 4<<20)
	if e.sync {
		e.f, err = os.OpenFile(filepath.Join(dir, "raw.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	}
	return err
}

func (e *rawEngine) close() error {
	if e.enc != nil {
		e.enc.Close()
		e.enc = nil
	}
	if e.f != nil {
		err := e.f.Close()
		e.f = nil
		return err
	}
	return nil
}

func (e *rawEngine) seal() {
	if len(e.block) == 0 {
		return
	}
	start := len(e.out)
	e.out = binary.LittleEndian.AppendUint32(e.out, 0)
	e.out = e.enc.EncodeAll(e.block, e.out)
	binary.LittleEndian.PutUint32(e.out[start:], uint32(len(e.out)-start-4))
	e.out = binary.LittleEndian.AppendUint64(e.out, xxhash.Sum64(e.out[start+4:]))
	e.block = e.block[:0]
}

func (e *rawEngine) append(evs []ledger.ExperienceEventEnvelope) error {
	e.out = e.out[:0]
	for i := range evs {
		start := len(e.block)
		e.block = append(e.block, 0, 0, 0, 0, 0)
		var err error
		e.block, err = ledger.AppendCanonical(e.block, &evs[i])
		if err != nil {
			return err
		}
		n := len(e.block) - start - 5
		var hdr [binary.MaxVarintLen32]byte
		h := binary.PutUvarint(hdr[:], uint64(n))
		copy(e.block[start+5-h:], hdr[:h]) // right-align the length
		e.block = append(e.block[:start], e.block[start+5-h:]...)
		e.block = binary.LittleEndian.AppendUint64(e.block, xxhash.Sum64(e.block[start+h:]))
		if len(e.block) >= rawBlock {
			e.seal()
		}
	}
	e.seal()
	e.n += uint64(len(evs))
	if e.sync {
		if _, err := e.f.Write(e.out); err != nil {
			return err
		}
		e.syncs++
		return unix.Fdatasync(int(e.f.Fd()))
	}
	return nil
}

func (e *rawEngine) appendOne(ev *ledger.ExperienceEventEnvelope) error { return errUnsupported }
func (e *rawEngine) lastSeq() (uint64, error)                           { return e.n, nil }
func (e *rawEngine) scanRaw() (int, error)                              { return 0, errUnsupported }
func (e *rawEngine) tenantKind(string, string) (int, error)             { return 0, errUnsupported }
func (e *rawEngine) timeRange(string, string, string) (int, error)      { return 0, errUnsupported }
func (e *rawEngine) trace(string) (bool, error)                         { return false, errUnsupported }
func (e *rawEngine) scan() (int, error)                                 { return 0, errUnsupported }
func (e *rawEngine) fsyncs() (uint64, bool)                             { return e.syncs, e.sync }
func (e *rawEngine) footprint(string) (int64, int64, int64, error) {
	return 0, 0, 0, errUnsupported
}
