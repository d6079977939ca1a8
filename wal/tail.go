package wal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/cespare/xxhash/v2"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

// ErrTailGap is returned by Tail.Read when the next sequence number the
// tail wants is no longer (or not yet known to be) in the log: the files
// holding it were removed by a checkpoint, or the log starts after it.
// The caller reads those records elsewhere (the ledger's sealed segments)
// and calls Seek.
var ErrTailGap = errors.New("wal: the tail's next sequence number is not in the log")

// TailOptions configure NewTail.
type TailOptions struct {
	FS  vfs.FS
	Dir string
	// Salt and MaxBatchBytes must be the writer's (see Options).
	Salt          uint64
	MaxBatchBytes int
}

// Tail reads the frames that a live WAL, usually in another process,
// appends, incrementally and without writing, locking or fsyncing
// anything: each Read continues where the previous one stopped and reads
// only the new bytes. Bytes that are not (yet) a complete, checksum-valid
// frame are "not yet": a frame being written is observed half-written
// until its last byte lands, and is accepted only then. A Tail is not
// safe for concurrent use.
//
// A frame is accepted once it is written, which under SyncAlways is
// before its fdatasync returns and so before Commit acknowledges it; a
// power loss at that moment may lose a record a Tail has already
// delivered. A process crash of the writer cannot (the bytes are in the
// page cache, and Open keeps checksum-valid frames).
type Tail struct {
	fs       vfs.FS
	dir      string
	salt     uint64
	maxBatch int64
	next     uint64

	num  uint64   // file being read; 0 = not positioned
	off  int64    // offset of the next frame in it
	f    vfs.File // open handle on file num
	d    *xxhash.Digest
	head [frameHeaderSize]byte
}

// NewTail returns a tail that delivers records from sequence number next
// on (0 or 1: the beginning). It opens nothing until the first Read.
func NewTail(o TailOptions, next uint64) *Tail {
	mb := int64(o.MaxBatchBytes)
	if mb <= 0 {
		mb = defaultMaxBatch
	}
	return &Tail{fs: o.FS, dir: filepath.Clean(o.Dir), salt: o.Salt, maxBatch: min(mb, maxBatchLimit), next: max(next, 1), d: xxhash.New()}
}

// Next returns the sequence number of the next record Read will deliver.
func (t *Tail) Next() uint64 { return t.next }

// Seek makes the next Read start at sequence number next (the caller got
// the records before it elsewhere).
func (t *Tail) Seek(next uint64) {
	t.reset()
	t.next = max(next, 1)
}

// Close releases the open file, if any.
func (t *Tail) Close() error {
	t.reset()
	return nil
}

func (t *Tail) reset() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
	t.num, t.off = 0, 0
}

// Read calls fn, in order, with every batch of the log that holds records
// at or after Next and is complete now (the first one cut to start at
// Next), and returns when it reaches bytes that are not yet a valid frame.
// Records are freshly allocated and may be kept. An error from fn stops
// Read and is returned; Next then points after the batch fn rejected
// (fn has seen it). It returns ErrTailGap when Next is not in the log,
// and a *CorruptionError for a checksum-valid frame that breaks the format
// (foreign salt, bad payload) or a sequence gap inside the log.
func (t *Tail) Read(fn func(b *Batch) error) error {
	if t.num == 0 {
		ok, err := t.position()
		if err != nil || !ok {
			return err
		}
	}
	for {
		fb, fh, err := t.frameAt(t.f, t.num, t.off)
		if err != nil {
			return err
		}
		if fb == nil {
			// Nothing more here yet. The writer moves to the next file
			// only after this one is complete, so a valid frame there
			// continuing the sequence means this file is done.
			moved, err := t.advanceFile()
			if err != nil || !moved {
				return err
			}
			continue
		}
		path := filepath.Join(t.dir, fileName(t.num))
		if fh.salt != t.salt {
			return corrupt.New(path, t.off, "frame salt %#x differs from the ledger's %#x", fh.salt, t.salt)
		}
		last := fh.firstSeq + uint64(fh.count) - 1
		if last < t.next {
			t.off += fh.size
			continue
		}
		if fh.firstSeq > t.next {
			t.reset()
			return ErrTailGap
		}
		recs, reason := decodeRecords(fb, fh)
		if reason != "" {
			return corrupt.New(path, t.off, "%s", reason)
		}
		b := &Batch{FirstSeq: t.next, Records: recs[t.next-fh.firstSeq:]}
		t.off += fh.size
		t.next = last + 1
		if err := fn(b); err != nil {
			return err
		}
	}
}

// frameAt reads the frame at off in file num: nil (and no error) when the
// bytes there are not a complete, checksum-valid frame.
func (t *Tail) frameAt(f vfs.File, num uint64, off int64) ([]byte, frameHead, error) {
	size, err := f.Size()
	if err != nil {
		return nil, frameHead{}, fmt.Errorf("wal: size of %s: %w", fileName(num), err)
	}
	remaining := size - off
	if remaining < minFrameSize {
		return nil, frameHead{}, nil
	}
	if err := readFull(f, t.head[:], off); err != nil {
		return nil, frameHead{}, t.readErr(num, err)
	}
	fh, reason := parseFrameHead(t.head[:], off, remaining, t.maxBatch)
	if reason != "" {
		return nil, frameHead{}, nil
	}
	fb := make([]byte, fh.size) // bounded by maxBatch and the file size
	if err := readFull(f, fb, off); err != nil {
		return nil, frameHead{}, t.readErr(num, err)
	}
	if !frameChecksumOK(fb, t.d, num) {
		return nil, frameHead{}, nil
	}
	return fb, fh, nil
}

func (t *Tail) readErr(num uint64, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil // truncated under us (a torn tail being repaired): not yet
	}
	return fmt.Errorf("wal: read %s: %w", fileName(num), err)
}

// openFile opens file num and checks its header; ok is false when the
// file does not exist or its header is not complete yet.
func (t *Tail) openFile(num uint64) (vfs.File, bool, error) {
	f, err := t.fs.Open(filepath.Join(t.dir, fileName(num)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("wal: open %s: %w", fileName(num), err)
	}
	var hdr [fileHeaderSize]byte
	if err := readFull(f, hdr[:], 0); err != nil {
		f.Close()
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("wal: read %s: %w", fileName(num), err)
	}
	if reason := checkFileHeader(hdr[:], t.salt, num); reason != "" {
		f.Close()
		return nil, false, corrupt.New(filepath.Join(t.dir, fileName(num)), 0, "%s", reason)
	}
	return f, true, nil
}

// advanceFile moves to file num+1 if its first frame continues the
// sequence. If the current file has been removed (a checkpoint, or a
// writer that sealed everything and dropped its log), the tail is
// positioned again from the directory listing.
func (t *Tail) advanceFile() (bool, error) {
	nf, ok, err := t.openFile(t.num + 1)
	if err != nil {
		return false, err
	}
	if ok {
		fb, fh, err := t.frameAt(nf, t.num+1, fileHeaderSize)
		if err == nil && fb != nil && fh.firstSeq <= t.next {
			t.f.Close()
			t.f, t.num, t.off = nf, t.num+1, fileHeaderSize
			return true, nil
		}
		nf.Close()
		if err != nil {
			return false, err
		}
		if fb != nil && fh.firstSeq > t.next {
			t.reset()
			return false, ErrTailGap
		}
		return false, nil
	}
	if _, err := t.fs.Stat(filepath.Join(t.dir, fileName(t.num))); errors.Is(err, fs.ErrNotExist) {
		t.reset()
		return t.position()
	}
	return false, nil
}

// position finds the file holding sequence number next: the last file
// whose first frame starts at or before it. ok is false when the log has
// no frame at all yet (the tail stays unpositioned and looks again at the
// next Read).
func (t *Tail) position() (ok bool, err error) {
	names, err := t.fs.List(t.dir)
	if err != nil {
		return false, fmt.Errorf("wal: list %s: %w", t.dir, err)
	}
	var nums []uint64
	for _, n := range names {
		if num, ok := parseFileName(n); ok {
			nums = append(nums, num)
		}
	}
	slices.Sort(nums)
	best := -1
	var bestF vfs.File
	for i, num := range nums {
		f, ok, err := t.openFile(num)
		if err != nil {
			if bestF != nil {
				bestF.Close()
			}
			return false, err
		}
		if !ok {
			continue
		}
		fb, fh, err := t.frameAt(f, num, fileHeaderSize)
		if err != nil || fb == nil {
			f.Close()
			if err != nil {
				if bestF != nil {
					bestF.Close()
				}
				return false, err
			}
			continue
		}
		if fh.firstSeq > t.next {
			f.Close()
			if best < 0 {
				return false, ErrTailGap
			}
			break
		}
		if bestF != nil {
			bestF.Close()
		}
		best, bestF = i, f
	}
	if best < 0 {
		return false, nil
	}
	t.f, t.num, t.off = bestF, nums[best], fileHeaderSize
	return true, nil
}
