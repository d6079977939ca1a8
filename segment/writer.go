package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
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
	// EntropyLiterals Huffman-codes the literal bytes of each block, as
	// zstd does by default. The zero value stores literals raw
	// (zstd.WithNoEntropyCompression): on the Converge workload a block is
	// then about 10% larger but decompresses about 25% faster, and full
	// scans are bound by decompression. Readers handle either form.
	EntropyLiterals bool
	// Unordered lets Append take records in any sequence order (each seq
	// of a dense range exactly once); the caller then supplies the hash
	// chain with SetChain before Finish.
	Unordered bool
	// Concurrency is how many goroutines may compress blocks. 0 (the
	// default) and 1 compress each block inline, in the Append that cuts
	// it or in Finish. Above 1, a cut block is handed to up to Concurrency
	// compressor goroutines (started as blocks arrive, each with its own
	// encoder) while Append goes on; Append and Finish write compressed
	// blocks strictly in order, and at most 2*Concurrency cut blocks are
	// held at once. The file written is byte-identical whatever the value.
	// Negative values are invalid.
	Concurrency int
	// Yield makes the writer give way to other goroutines after each block:
	// the goroutine that compressed a block (the caller's, inline, or a
	// compressor) calls runtime.Gosched. A background writer sharing a few
	// cores with latency-sensitive goroutines then holds a processor for
	// about one block's CPU time at a stretch (a ~64 KiB compression)
	// instead of until the Go scheduler preempts it (~10 ms), so a
	// goroutine woken meanwhile (an fsync returning, a channel send) runs
	// soon. It costs about a microsecond per block. The file is the same.
	Yield bool
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

// encoderPools holds idle encoders by literal coding and level.
var encoderPools [2][zstd.SpeedBestCompression + 1]sync.Pool

// encoderKind is what an encoder is configured for; Options are checked
// before one is built, so level is in range.
type encoderKind struct {
	level   zstd.EncoderLevel
	entropy bool
}

func (k encoderKind) pool() *sync.Pool {
	i := 0
	if k.entropy {
		i = 1
	}
	return &encoderPools[i][k.level]
}

func (k encoderKind) get() (*zstd.Encoder, error) {
	if e, ok := k.pool().Get().(*zstd.Encoder); ok {
		return e, nil
	}
	// No zstd frame checksum: every block is covered by the segment's own
	// xxhash64, verified before decompression, so a second checksum only
	// costs time.
	return zstd.NewWriter(nil, zstd.WithEncoderLevel(k.level), zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false), zstd.WithLowerEncoderMem(false),
		zstd.WithNoEntropyCompression(!k.entropy))
}

func (k encoderKind) put(e *zstd.Encoder) { k.pool().Put(e) }

func (o *Options) encoderKind() encoderKind {
	return encoderKind{level: o.Level, entropy: o.EntropyLiterals}
}

// Writer writes one segment file. It is not safe for concurrent use. Any
// I/O error (or a failure to compress a block) poisons it: every later call
// returns that error, the temporary file is removed and compressor
// goroutines are stopped. A Writer must end with a successful Finish or
// with Abort; one dropped unfinished only has its compressor goroutines
// stopped when it is garbage collected.
type Writer struct {
	fs        vfs.FS
	path, tmp string
	f         vfs.File
	opts      Options
	enc       *zstd.Encoder // inline mode; with Concurrency > 1, the first compressor's

	// Concurrency > 1: blocks cut and not yet written, oldest first; the
	// running compressors (nil until a block is cut, and after they are
	// stopped); jobs to reuse; the cleanup stopping an abandoned pool.
	pending []*blockJob
	pool    *compressors
	free    []*blockJob
	cleanup runtime.Cleanup
	// inline is the one job of inline mode.
	inline blockJob
	// compressHook, if set (by tests), runs before each block is compressed;
	// an error fails the block.
	compressHook func(*blockJob) error

	ch         chainer
	chain      [32]byte
	chainStart [32]byte

	// current block
	raw          []byte
	bFirst, bPrv uint64
	bCount       uint32
	bMin, bMax   string
	// assembled footer and trailer
	out []byte

	blocks   []BlockInfo // written blocks
	nblk     int         // cut blocks (written or pending)
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
	if opts.Concurrency < 0 {
		return nil, fmt.Errorf("%w: concurrency %d", ErrBadOptions, opts.Concurrency)
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = 1
	}
	enc, err := opts.encoderKind().get()
	if err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	f, err := fs.Create(tmp)
	if err != nil {
		opts.encoderKind().put(enc)
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
	if w.pool != nil && w.pool.failed.Load() {
		return w.fail(w.pool.firstErr())
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
	w.stopCompressors(true)
	if w.f != nil {
		w.f.Close()
		w.f = nil
		w.fs.Remove(w.tmp)
	}
	if w.enc != nil {
		w.opts.encoderKind().put(w.enc)
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
	if w.opts.Unordered && uint64(w.nblk) >= 1<<32-1 {
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
		w.seqBlk = append(w.seqBlk, uint32(w.nblk))
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

// flush cuts the current block. Its footer entry (all but offset and
// length, which depend on the blocks before it) and the segment's min/max
// are fixed here, in order; the chain value is the one after the block's
// last record, which Append computed from the raw record bytes. The block
// is then compressed and written inline, or handed to the compressors.
func (w *Writer) flush() error {
	if w.bCount == 0 {
		return nil
	}
	bi := BlockInfo{FirstSeq: w.bFirst, Count: w.bCount, MinTime: w.bMin, MaxTime: w.bMax}
	if !w.opts.Unordered {
		bi.ChainEnd = w.chain
	}
	mergeTime(&w.min, &w.max, w.bMin)
	mergeTime(&w.min, &w.max, w.bMax)
	w.nblk++
	w.bCount = 0
	w.bMin, w.bMax = "", ""
	var err error
	if w.opts.Concurrency > 1 {
		err = w.submit(bi)
	} else {
		j := &w.inline
		j.raw, j.bi, j.unordered = w.raw, bi, w.opts.Unordered
		j.err = encodeBlock(w.enc, j, w.compressHook)
		w.raw = j.raw[:0]
		err = w.writeBlock(j)
	}
	if w.opts.Yield {
		// The records of the block were framed (and hashed into the
		// chain) on this goroutine: give way before the next block.
		runtime.Gosched()
	}
	return err
}

// blockJob is one cut block: its framed records, and once compressed the
// whole block as stored (header, payload, checksum), which depends only on
// the records. Between the send to the compressors and the receive from
// done, only the compressor touches it.
type blockJob struct {
	raw       []byte // framed records
	zbuf      []byte // zstd output
	out       []byte // the stored block
	bi        BlockInfo
	unordered bool
	err       error
	done      chan struct{} // capacity 1: one token per compression
}

// encodeBlock compresses j.raw and assembles j.out.
func encodeBlock(enc *zstd.Encoder, j *blockJob, hook func(*blockJob) error) error {
	if hook != nil {
		if err := hook(j); err != nil {
			return err
		}
	}
	h := blockHeader{
		codec: codecRaw, ulen: uint64(len(j.raw)), slen: uint32(len(j.raw)),
		count: j.bi.Count, firstSeq: j.bi.FirstSeq, minTime: j.bi.MinTime, maxTime: j.bi.MaxTime,
	}
	if j.unordered {
		h.flags = flagUnordered
	}
	payload := j.raw
	j.zbuf = enc.EncodeAll(j.raw, j.zbuf[:0])
	if float64(len(j.zbuf)) <= compressThreshold*float64(len(j.raw)) {
		h.codec = codecZstd
		h.slen = uint32(len(j.zbuf))
		payload = j.zbuf
	}
	j.out = appendBlockHeader(j.out[:0], &h)
	j.out = append(j.out, payload...)
	j.out = binary.LittleEndian.AppendUint64(j.out, xxhash.Sum64(j.out))
	return nil
}

// writeBlock writes the next block of the file and records its entry.
func (w *Writer) writeBlock(j *blockJob) error {
	if j.err != nil {
		return w.fail(j.err)
	}
	if _, err := w.f.Write(j.out); err != nil {
		return w.fail(fmt.Errorf("segment: write %s: %w", w.tmp, err))
	}
	bi := j.bi
	bi.Offset, bi.Length = w.off, uint32(len(j.out))
	w.blocks = append(w.blocks, bi)
	w.off += int64(len(j.out))
	return nil
}

// submit hands a cut block to the compressors, first writing the oldest
// pending block if the window is full, then any finished ones.
func (w *Writer) submit(bi BlockInfo) error {
	if len(w.pending) >= 2*w.opts.Concurrency {
		if _, err := w.writeHead(true); err != nil {
			return err
		}
	}
	if w.pool == nil {
		w.pool = &compressors{
			jobs: make(chan *blockJob, 2*w.opts.Concurrency),
			kind: w.opts.encoderKind(), hook: w.compressHook, yield: w.opts.Yield,
		}
		// The pool does not reference w, so an abandoned Writer can be
		// collected and the cleanup stop its goroutines.
		w.cleanup = runtime.AddCleanup(w, (*compressors).abandon, w.pool)
	}
	// One more compressor while all are busy, up to Concurrency.
	if p := w.pool; p.n < w.opts.Concurrency && p.n <= len(w.pending) {
		enc := w.enc
		w.enc = nil
		if enc == nil {
			var err error
			if enc, err = w.opts.encoderKind().get(); err != nil {
				return w.fail(err)
			}
		}
		p.n++
		p.wg.Add(1)
		go p.work(enc)
	}
	var j *blockJob
	if n := len(w.free); n > 0 {
		j, w.free = w.free[n-1], w.free[:n-1]
	} else {
		j = &blockJob{done: make(chan struct{}, 1), unordered: w.opts.Unordered}
	}
	if j.raw == nil {
		j.raw = make([]byte, 0, w.opts.BlockSize)
	}
	// The block's records move to the job; Append goes on in the job's
	// previous buffer.
	j.raw, w.raw = w.raw, j.raw[:0]
	j.bi, j.err = bi, nil
	w.pool.jobs <- j // never blocks: at most 2*Concurrency jobs are pending
	w.pending = append(w.pending, j)
	for len(w.pending) > 0 {
		if ok, err := w.writeHead(false); !ok || err != nil {
			return err
		}
	}
	return nil
}

// writeHead writes the oldest pending block, waiting for its compression
// if wait is set; without wait it reports false if it is not done.
func (w *Writer) writeHead(wait bool) (bool, error) {
	j := w.pending[0]
	if wait {
		<-j.done
	} else {
		select {
		case <-j.done:
		default:
			return false, nil
		}
	}
	n := copy(w.pending, w.pending[1:])
	w.pending[n] = nil
	w.pending = w.pending[:n]
	err := w.writeBlock(j)
	// Do not keep the buffers of an oversized block (a large record).
	if limit := 2*w.opts.BlockSize + 4<<10; cap(j.raw) > limit || cap(j.out) > limit {
		j.raw, j.zbuf, j.out = nil, nil, nil
	}
	w.free = append(w.free, j)
	return true, err
}

// drain writes every pending block.
func (w *Writer) drain() error {
	for len(w.pending) > 0 {
		if _, err := w.writeHead(true); err != nil {
			return err
		}
	}
	return nil
}

// stopCompressors stops the compressor goroutines and waits for them. With
// discard, queued blocks are not compressed and pending blocks are
// dropped; otherwise every pending block is compressed first, and stays
// pending (a later flush starts new compressors).
func (w *Writer) stopCompressors(discard bool) {
	p := w.pool
	if p == nil {
		if discard {
			w.pending = nil
		}
		return
	}
	w.pool = nil
	w.cleanup.Stop()
	if discard {
		p.stop.Store(true)
	}
	close(p.jobs)
	p.wg.Wait()
	if discard {
		w.pending, w.free = nil, nil
	}
}

// compressors is a pool of goroutines compressing blocks. It must not
// reference the Writer (see the cleanup in submit).
type compressors struct {
	jobs   chan *blockJob
	kind   encoderKind
	hook   func(*blockJob) error
	yield  bool // Gosched after each block (Options.Yield)
	n      int  // goroutines started; used by the Writer's goroutine only
	wg     sync.WaitGroup
	stop   atomic.Bool // skip queued jobs
	failed atomic.Bool // some job failed; err holds the first error
	mu     sync.Mutex
	err    error
}

// liveCompressors counts running compressor goroutines (for tests).
var liveCompressors atomic.Int64

func (p *compressors) work(enc *zstd.Encoder) {
	liveCompressors.Add(1)
	defer func() {
		if enc != nil {
			p.kind.put(enc)
		}
		liveCompressors.Add(-1)
		p.wg.Done()
	}()
	for j := range p.jobs {
		switch {
		case p.stop.Load():
		case enc == nil:
			j.err = p.firstErr()
		default:
			var panicked bool
			j.err, panicked = encodeRecover(enc, j, p.hook)
			if panicked {
				enc = nil // its state is unknown: not back to the pool
			}
		}
		if j.err != nil {
			p.mu.Lock()
			if p.err == nil {
				p.err = j.err
			}
			p.mu.Unlock()
			p.failed.Store(true)
		}
		j.done <- struct{}{}
		if p.yield {
			runtime.Gosched()
		}
	}
}

func encodeRecover(enc *zstd.Encoder, j *blockJob, hook func(*blockJob) error) (err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			err, panicked = fmt.Errorf("segment: compressing block at seq %d: panic: %v", j.bi.FirstSeq, r), true
		}
	}()
	return encodeBlock(enc, j, hook), false
}

func (p *compressors) firstErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// abandon stops the goroutines of a pool whose Writer was collected.
func (p *compressors) abandon() {
	p.stop.Store(true)
	close(p.jobs)
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

// Finish seals the segment: it flushes the last block (and waits for the
// blocks still being compressed, writing them in order), writes the footer
// (with meta, at most MaxMetaBytes) and trailer, syncs the file, renames it
// to path and syncs the directory. An empty segment is refused with
// ErrEmpty (the temporary file stays until Abort). On any I/O error no file
// is left at path. Finish returns with no compressor goroutine running.
func (w *Writer) Finish(meta []byte) (Info, error) {
	if err := w.usable(); err != nil {
		return Info{}, err
	}
	if err := w.finishable(meta); err != nil {
		// The writer stays usable, but keeps no idle goroutines.
		w.stopCompressors(false)
		return Info{}, err
	}
	if err := w.flush(); err != nil {
		return Info{}, err
	}
	if err := w.drain(); err != nil {
		return Info{}, err
	}
	w.stopCompressors(false)
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
	w.raw, w.out, w.seqs, w.seqBlk = nil, nil, nil, nil
	w.inline, w.free = blockJob{}, nil
	return info, nil
}

// finishable checks what Finish refuses without poisoning the writer.
func (w *Writer) finishable(meta []byte) error {
	if len(meta) > MaxMetaBytes {
		return fmt.Errorf("%w: meta is %d bytes (max %d)", ErrTooLarge, len(meta), MaxMetaBytes)
	}
	if w.count == 0 {
		return ErrEmpty
	}
	if w.opts.Unordered {
		return w.checkUnordered()
	}
	return nil
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

// Abort discards the segment: it stops the compressor goroutines (waiting
// for the blocks they are compressing) and closes and removes the
// temporary file. It is a no-op after Finish.
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
