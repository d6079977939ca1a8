package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/internal/vfs"
)

// Errors returned by the Writer (wrapped with context).
var (
	ErrEmpty       = errors.New("segment: refusing to seal an empty segment")
	ErrSeq         = errors.New("segment: sequence number out of order")
	ErrTooLarge    = errors.New("segment: value too large")
	ErrFinished    = errors.New("segment: writer already finished or aborted")
	ErrBadOptions  = errors.New("segment: invalid options")
	ErrChain       = errors.New("segment: invalid chain checkpoints")
	ErrNotFound    = errors.New("segment: sequence number not in segment")
	ErrClosed      = errors.New("segment: reader closed")
	errWriterBroke = errors.New("segment: writer failed earlier")
)

// CorruptionError is the error returned for bytes failing a checksum,
// bound or format rule.
type CorruptionError = corrupt.CorruptionError

// Options configure a Writer. The zero value is valid.
type Options struct {
	// BlockSize is the target uncompressed block size in bytes; a block
	// is cut before the record that would make it larger. A record larger
	// than BlockSize is stored alone in its block. 0 means
	// DefaultBlockSize; otherwise it must be in [MinBlockSize, MaxBlockBytes].
	BlockSize int
	// Level is the zstd level; 0 means zstd.SpeedFastest.
	Level zstd.EncoderLevel
	// Unordered lets Append take records in any sequence order (each seq
	// of a dense range exactly once); the caller then supplies the hash
	// chain with SetChain before Finish.
	Unordered bool
}

// Record is one record: its sequence number, its time (used only for the
// block and segment min/max; at most MaxTimeBytes) and its opaque bytes.
type Record struct {
	Seq  uint64
	Time string
	Data []byte
}

// Info describes a sealed segment.
type Info struct {
	FirstSeq, LastSeq, Count uint64
	MinTime, MaxTime         string
	ChainStart, ChainEnd     [32]byte
	Blocks                   int
	FileBytes, RawBytes      int64 // RawBytes: sum of the records' Data lengths
	Unordered                bool
}

// BlockInfo describes one block as recorded in the footer. ChainEnd is the
// chain value after the block's last record (zero in unordered segments).
type BlockInfo struct {
	Offset           int64
	Length           uint32
	FirstSeq         uint64
	Count            uint32
	MinTime, MaxTime string
	ChainEnd         [32]byte
}

var encoderPools [zstd.SpeedBestCompression + 1]sync.Pool

func getEncoder(level zstd.EncoderLevel) (*zstd.Encoder, error) {
	if e, ok := encoderPools[level].Get().(*zstd.Encoder); ok {
		return e, nil
	}
	// No zstd frame checksum: every block is covered by the segment's own
	// xxhash64, verified before decompression, so a second checksum only
	// costs time.
	return zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false), zstd.WithLowerEncoderMem(false))
}

// Writer writes one segment file. It is not safe for concurrent use. Any
// I/O error poisons it: every later call returns that error, and the
// temporary file is removed.
type Writer struct {
	fs        vfs.FS
	path, tmp string
	f         vfs.File
	opts      Options
	enc       *zstd.Encoder

	ch         chainer
	chain      [32]byte
	chainStart [32]byte

	// current block
	raw          []byte
	bFirst, bPrv uint64
	bCount       uint32
	bMin, bMax   string
	// assembled output
	zbuf, out []byte

	blocks   []BlockInfo
	off      int64
	count    uint64
	first    uint64
	last     uint64
	min, max string
	rawBytes int64

	// unordered mode
	seqs     []uint64
	seqBlk   []uint32
	cps      []Checkpoint
	chainSet bool

	err  error
	done bool
}

// NewWriter creates path+".tmp" and returns a Writer that seals it to
// path in Finish. chainStart is the chain value before the first record
// (the previous segment's ChainEnd, or zeros).
func NewWriter(fs vfs.FS, path string, opts Options, chainStart [32]byte) (*Writer, error) {
	if opts.BlockSize == 0 {
		opts.BlockSize = DefaultBlockSize
	}
	if opts.BlockSize < MinBlockSize || opts.BlockSize > MaxBlockBytes {
		return nil, fmt.Errorf("%w: block size %d not in [%d, %d]", ErrBadOptions, opts.BlockSize, MinBlockSize, MaxBlockBytes)
	}
	if opts.Level == 0 {
		opts.Level = zstd.SpeedFastest
	}
	if opts.Level < zstd.SpeedFastest || opts.Level > zstd.SpeedBestCompression {
		return nil, fmt.Errorf("%w: zstd level %d", ErrBadOptions, opts.Level)
	}
	enc, err := getEncoder(opts.Level)
	if err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	f, err := fs.Create(tmp)
	if err != nil {
		encoderPools[opts.Level].Put(enc)
		return nil, fmt.Errorf("segment: create %s: %w", tmp, err)
	}
	return &Writer{
		fs: fs, path: path, tmp: tmp, f: f, opts: opts, enc: enc,
		chain: chainStart, chainStart: chainStart,
	}, nil
}

func (w *Writer) usable() error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return ErrFinished
	}
	return nil
}

// fail poisons the writer, closes and removes the temporary file.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = fmt.Errorf("%w: %w", errWriterBroke, err)
	}
	w.release()
	return err
}

func (w *Writer) release() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
		w.fs.Remove(w.tmp)
	}
	if w.enc != nil {
		encoderPools[w.opts.Level].Put(w.enc)
		w.enc = nil
	}
}

// Append adds a record. In ordered mode r.Seq must be exactly the previous
// Seq+1 (the first may be any value).
func (w *Writer) Append(r Record) error {
	if err := w.usable(); err != nil {
		return err
	}
	if len(r.Time) > MaxTimeBytes {
		return fmt.Errorf("%w: record %d time is %d bytes (max %d)", ErrTooLarge, r.Seq, len(r.Time), MaxTimeBytes)
	}
	if len(r.Data) > MaxRecordBytes {
		return fmt.Errorf("%w: record %d is %d bytes (max %d)", ErrTooLarge, r.Seq, len(r.Data), MaxRecordBytes)
	}
	if !w.opts.Unordered && w.count > 0 && (w.last == ^uint64(0) || r.Seq != w.last+1) {
		return fmt.Errorf("%w: got %d after %d", ErrSeq, r.Seq, w.last)
	}
	if w.opts.Unordered && uint64(len(w.blocks)) >= 1<<32-1 {
		return fmt.Errorf("%w: too many blocks", ErrTooLarge)
	}
	size := uvarintLen(uint64(len(r.Data))) + len(r.Data)
	dn := 1
	if w.bCount > 0 && w.opts.Unordered {
		dn = varintLen(int64(r.Seq - w.bPrv))
	}
	if w.bCount > 0 && len(w.raw)+dn+size > w.opts.BlockSize {
		if err := w.flush(); err != nil {
			return err
		}
	}
	switch {
	case w.bCount == 0:
		w.bFirst = r.Seq
		w.raw = append(w.raw, 0)
	case w.opts.Unordered:
		w.raw = binary.AppendVarint(w.raw, int64(r.Seq-w.bPrv))
	default:
		w.raw = append(w.raw, 1)
	}
	w.raw = binary.AppendUvarint(w.raw, uint64(len(r.Data)))
	w.raw = append(w.raw, r.Data...)
	w.bPrv = r.Seq
	w.bCount++
	mergeTime(&w.bMin, &w.bMax, r.Time)
	if w.count == 0 {
		w.first, w.last = r.Seq, r.Seq
	}
	if w.opts.Unordered {
		w.first = min(w.first, r.Seq)
		w.last = max(w.last, r.Seq)
		w.seqs = append(w.seqs, r.Seq)
		w.seqBlk = append(w.seqBlk, uint32(len(w.blocks)))
	} else {
		w.last = r.Seq
		w.chain = w.ch.next(w.chain, r.Data)
	}
	w.count++
	w.rawBytes += int64(len(r.Data))
	return nil
}

func varintLen(v int64) int {
	u := uint64(v) << 1
	if v < 0 {
		u = ^u
	}
	return uvarintLen(u)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// flush compresses and writes the current block.
func (w *Writer) flush() error {
	if w.bCount == 0 {
		return nil
	}
	h := blockHeader{
		codec: codecRaw, ulen: uint64(len(w.raw)), slen: uint32(len(w.raw)),
		count: w.bCount, firstSeq: w.bFirst, minTime: w.bMin, maxTime: w.bMax,
	}
	if w.opts.Unordered {
		h.flags = flagUnordered
	}
	payload := w.raw
	w.zbuf = w.enc.EncodeAll(w.raw, w.zbuf[:0])
	if float64(len(w.zbuf)) <= compressThreshold*float64(len(w.raw)) {
		h.codec = codecZstd
		h.slen = uint32(len(w.zbuf))
		payload = w.zbuf
	}
	w.out = appendBlockHeader(w.out[:0], &h)
	w.out = append(w.out, payload...)
	w.out = binary.LittleEndian.AppendUint64(w.out, xxhash.Sum64(w.out))
	if _, err := w.f.Write(w.out); err != nil {
		return w.fail(fmt.Errorf("segment: write %s: %w", w.tmp, err))
	}
	bi := BlockInfo{
		Offset: w.off, Length: uint32(len(w.out)), FirstSeq: w.bFirst, Count: w.bCount,
		MinTime: w.bMin, MaxTime: w.bMax,
	}
	if !w.opts.Unordered {
		bi.ChainEnd = w.chain
	}
	w.blocks = append(w.blocks, bi)
	w.off += int64(len(w.out))
	mergeTime(&w.min, &w.max, w.bMin)
	mergeTime(&w.min, &w.max, w.bMax)
	w.raw = w.raw[:0]
	w.bCount = 0
	w.bMin, w.bMax = "", ""
	return nil
}

// SetChain gives an unordered writer the chain value before its first
// sequence number and the chain values after some of its records, in
// ascending Seq order; the last must be for the segment's last Seq. The
// caller computes them by reading the records in sequence order. Calling
// it on an ordered writer makes Finish fail.
func (w *Writer) SetChain(start [32]byte, cps []Checkpoint) {
	if !w.opts.Unordered {
		if w.err == nil && !w.done {
			w.err = fmt.Errorf("%w: SetChain on an ordered writer", ErrChain)
		}
		return
	}
	w.chainStart = start
	w.cps = append(w.cps[:0], cps...)
	w.chainSet = true
}

// Finish seals the segment: it flushes the last block, writes the footer
// (with meta, at most MaxMetaBytes) and trailer, syncs the file, renames it
// to path and syncs the directory. An empty segment is refused with
// ErrEmpty (the temporary file stays until Abort). On any I/O error no file
// is left at path.
func (w *Writer) Finish(meta []byte) (Info, error) {
	if err := w.usable(); err != nil {
		return Info{}, err
	}
	if len(meta) > MaxMetaBytes {
		return Info{}, fmt.Errorf("%w: meta is %d bytes (max %d)", ErrTooLarge, len(meta), MaxMetaBytes)
	}
	if w.count == 0 {
		return Info{}, ErrEmpty
	}
	if w.opts.Unordered {
		if err := w.checkUnordered(); err != nil {
			return Info{}, err
		}
	}
	if err := w.flush(); err != nil {
		return Info{}, err
	}
	info := Info{
		FirstSeq: w.first, LastSeq: w.last, Count: w.count, MinTime: w.min, MaxTime: w.max,
		ChainStart: w.chainStart, ChainEnd: w.chain, Blocks: len(w.blocks),
		RawBytes: w.rawBytes, Unordered: w.opts.Unordered,
	}
	if w.opts.Unordered {
		info.ChainEnd = w.cps[len(w.cps)-1].Hash
	}
	w.out = w.appendFooter(w.out[:0], &info, meta)
	footerLen := len(w.out)
	w.out = appendTrailer(w.out, trailer{footerOff: uint64(w.off), footerLen: uint32(footerLen), version: FormatVersion})
	if footerLen > MaxFooterBytes {
		return Info{}, w.fail(fmt.Errorf("%w: footer is %d bytes", ErrTooLarge, footerLen))
	}
	if _, err := w.f.Write(w.out); err != nil {
		return Info{}, w.fail(fmt.Errorf("segment: write %s: %w", w.tmp, err))
	}
	info.FileBytes = w.off + int64(len(w.out))
	if err := w.f.Sync(); err != nil {
		return Info{}, w.fail(fmt.Errorf("segment: sync %s: %w", w.tmp, err))
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		w.fs.Remove(w.tmp)
		return Info{}, w.fail(fmt.Errorf("segment: close %s: %w", w.tmp, err))
	}
	if err := w.fs.Rename(w.tmp, w.path); err != nil {
		w.fs.Remove(w.tmp)
		return Info{}, w.fail(fmt.Errorf("segment: rename %s: %w", w.tmp, err))
	}
	if err := w.fs.SyncDir(filepath.Dir(w.path)); err != nil {
		// The rename may or may not be durable; do not leave a file whose
		// durability was never confirmed.
		w.fs.Remove(w.path)
		return Info{}, w.fail(fmt.Errorf("segment: sync dir of %s: %w", w.path, err))
	}
	w.done = true
	w.release()
	w.raw, w.zbuf, w.out, w.seqs, w.seqBlk = nil, nil, nil, nil, nil
	return info, nil
}

// checkUnordered checks density and the checkpoints, and turns seqBlk into
// the seq-ordinal → block map.
func (w *Writer) checkUnordered() error {
	if !w.chainSet || len(w.cps) == 0 {
		return fmt.Errorf("%w: unordered writer needs SetChain before Finish", ErrChain)
	}
	if w.last-w.first+1 != w.count {
		return fmt.Errorf("%w: %d records do not fill [%d, %d] densely", ErrSeq, w.count, w.first, w.last)
	}
	prev := uint64(0)
	for i, cp := range w.cps {
		if cp.Seq < w.first || cp.Seq > w.last || (i > 0 && cp.Seq <= prev) {
			return fmt.Errorf("%w: checkpoint %d (seq %d) out of order or range", ErrChain, i, cp.Seq)
		}
		prev = cp.Seq
	}
	if prev != w.last {
		return fmt.Errorf("%w: last checkpoint is for %d, not the last seq %d", ErrChain, prev, w.last)
	}
	// Place each block number at its ordinal; a slot written twice is a
	// duplicate seq.
	bm := make([]uint32, w.count)
	for i := range bm {
		bm[i] = ^uint32(0)
	}
	for i, s := range w.seqs {
		o := s - w.first
		if bm[o] != ^uint32(0) {
			return fmt.Errorf("%w: seq %d appended twice", ErrSeq, s)
		}
		bm[o] = w.seqBlk[i]
	}
	w.seqBlk = bm
	return nil
}

func (w *Writer) appendFooter(dst []byte, info *Info, meta []byte) []byte {
	le := binary.LittleEndian
	dst = append(dst, footerMagic...)
	var flags byte
	if info.Unordered {
		flags = flagUnordered
	}
	dst = append(dst, flags, 0, 0, 0)
	dst = le.AppendUint32(dst, uint32(len(w.blocks)))
	dst = le.AppendUint64(dst, info.FirstSeq)
	dst = le.AppendUint64(dst, info.LastSeq)
	dst = le.AppendUint64(dst, info.Count)
	dst = le.AppendUint64(dst, uint64(info.RawBytes))
	dst = append(dst, info.ChainStart[:]...)
	dst = append(dst, info.ChainEnd[:]...)
	dst = appendStr8(dst, info.MinTime)
	dst = appendStr8(dst, info.MaxTime)
	for i := range w.blocks {
		b := &w.blocks[i]
		dst = le.AppendUint64(dst, uint64(b.Offset))
		dst = le.AppendUint32(dst, b.Length)
		dst = le.AppendUint64(dst, b.FirstSeq)
		dst = le.AppendUint32(dst, b.Count)
		dst = appendStr8(dst, b.MinTime)
		dst = appendStr8(dst, b.MaxTime)
		dst = append(dst, b.ChainEnd[:]...)
	}
	if info.Unordered {
		dst = le.AppendUint32(dst, uint32(len(w.cps)))
		for _, cp := range w.cps {
			dst = le.AppendUint64(dst, cp.Seq)
			dst = append(dst, cp.Hash[:]...)
		}
		width := mapWidth(len(w.blocks))
		dst = append(dst, byte(width))
		for _, b := range w.seqBlk {
			if width == 2 {
				dst = le.AppendUint16(dst, uint16(b))
			} else {
				dst = le.AppendUint32(dst, b)
			}
		}
	}
	dst = le.AppendUint32(dst, uint32(len(meta)))
	dst = append(dst, meta...)
	return le.AppendUint64(dst, xxhash.Sum64(dst))
}

func mapWidth(blocks int) int {
	if blocks <= 1<<16 {
		return 2
	}
	return 4
}

// Abort discards the segment: it closes and removes the temporary file.
// It is a no-op after Finish.
func (w *Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	var err error
	if w.f != nil {
		err = w.f.Close()
		w.f = nil
		if rerr := w.fs.Remove(w.tmp); err == nil {
			err = rerr
		}
	}
	w.release()
	return err
}
