package wal

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"

	"github.com/cespare/xxhash/v2"

	"github.com/exledger/exledger/internal/corrupt"
)

// SalvageReport says what Salvage removed from the log. A report with
// FirstBad == nil means the log was clean and nothing was changed.
type SalvageReport struct {
	// LastGoodSeq is the last sequence number of the kept prefix (0 if it
	// holds no frame).
	LastGoodSeq uint64
	// DroppedBytes counts the bytes removed: the tail cut from the file
	// holding the first bad frame plus the whole size of every removed
	// file (headers and zero-filled space included).
	DroppedBytes int64
	// DroppedFiles are the paths of the removed files, oldest first.
	DroppedFiles []string
	// DroppedFrames counts the frames still recognisable in the dropped
	// bytes (checksum valid for their file, the ledger's salt), and
	// DroppedSeqs is the smallest first and the largest last sequence
	// number among them ([0, 0] if none). They are what a forensic tool
	// could still read from the copy the caller set aside; they need not
	// be contiguous.
	DroppedFrames int
	DroppedSeqs   [2]uint64
	// FirstBad is where the valid prefix ends and why; nil if nothing was
	// dropped.
	FirstBad *CorruptionError
	// Corrupt reports that Open would have refused the log with a
	// *CorruptionError. It is false when what was dropped is a torn tail
	// that Open would have truncated itself.
	Corrupt bool
}

// salvageCut is where the longest valid prefix of a log ends.
type salvageCut struct {
	keep    int   // files [0, keep) stay; the rest are removed
	trunc   int   // index of the file cut at truncAt, or -1
	truncAt int64 // offset of the first bad frame in file trunc
	bad     *CorruptionError
}

// Salvage cuts the WAL in opts.Dir back to its longest valid prefix, for
// ledgerctl repair. It verifies the files as Open does, but where Open
// would return a *CorruptionError (or truncate a torn tail) it keeps
// every frame before the first bad one and drops the rest: the file that
// holds the first bad frame is truncated at that frame's offset (a file
// whose header is bad, or that follows a missing file number, is removed
// whole), every later file is removed, and the directory and the
// truncated file are fsynced. The report says exactly what was lost. On a
// clean log Salvage changes nothing. It is idempotent: a second call
// finds a clean log.
//
// Salvage only cuts; the caller copies the files aside first if it wants
// to keep the dropped bytes, and must not have a WAL open on Dir. The
// start-sequence check of Open is not applied (Salvage has no startSeq).
// Leftover temporary files are left for Open to remove. Only FS, Dir,
// Salt, MaxBatchBytes and Logger of opts are used. I/O errors are
// returned as they come (wrapped); removals happen newest file first and
// before the truncation, so a Salvage interrupted by a crash can simply be
// run again.
func Salvage(opts Options) (SalvageReport, error) {
	var rep SalvageReport
	w, err := newWAL(opts)
	if err != nil {
		return rep, err
	}
	w.readOnly = true // until the cut is known, nothing may change
	nums, err := w.listFiles(false)
	if err != nil {
		return rep, err
	}
	rc := &recoverer{fs: w.fs, salt: w.salt, maxPayload: w.maxBatch, startSeq: math.MaxUint64, d: xxhash.New()}
	cut, err := w.findCut(rc, nums)
	if err != nil {
		return rep, err
	}
	rep.LastGoodSeq = rc.prevLast
	if cut.bad == nil {
		return rep, nil
	}
	rep.FirstBad = cut.bad

	// Would Open have refused this log? (No side effects: read-only.)
	switch _, _, oerr := w.recoverDir(nums, math.MaxUint64); {
	case errors.Is(oerr, corrupt.ErrCorrupt):
		rep.Corrupt = true
	case oerr != nil:
		return rep, oerr
	}

	// Account for the dropped bytes before anything is removed.
	truncSize := int64(-1)
	if cut.trunc >= 0 {
		path := filepath.Join(w.dir, fileName(nums[cut.trunc]))
		if truncSize, err = w.fs.Stat(path); err != nil {
			return rep, fmt.Errorf("wal: salvage: stat %s: %w", path, err)
		}
		rep.DroppedBytes += truncSize - cut.truncAt
		if err := rc.recognise(path, nums[cut.trunc], cut.truncAt, &rep); err != nil {
			return rep, err
		}
	}
	for _, num := range nums[cut.keep:] {
		path := filepath.Join(w.dir, fileName(num))
		size, err := w.fs.Stat(path)
		if err != nil {
			return rep, fmt.Errorf("wal: salvage: stat %s: %w", path, err)
		}
		rep.DroppedBytes += size
		rep.DroppedFiles = append(rep.DroppedFiles, path)
		if err := rc.recognise(path, num, fileHeaderSize, &rep); err != nil {
			return rep, err
		}
	}

	w.log.Warn("wal: salvage: dropping everything from the first bad frame",
		"file", cut.bad.File, "offset", cut.bad.Offset, "reason", cut.bad.Reason,
		"lastGoodSeq", rep.LastGoodSeq, "droppedBytes", rep.DroppedBytes,
		"droppedFiles", len(rep.DroppedFiles), "droppedFrames", rep.DroppedFrames,
		"droppedSeqs", rep.DroppedSeqs, "corrupt", rep.Corrupt)

	// Newest first, so an interruption leaves no gap in the file numbers.
	for i := len(rep.DroppedFiles) - 1; i >= 0; i-- {
		if err := w.fs.Remove(rep.DroppedFiles[i]); err != nil {
			return rep, fmt.Errorf("wal: salvage: remove %s: %w", rep.DroppedFiles[i], err)
		}
	}
	if len(rep.DroppedFiles) > 0 {
		if err := w.fs.SyncDir(w.dir); err != nil {
			return rep, fmt.Errorf("wal: salvage: sync %s: %w", w.dir, err)
		}
	}
	if cut.trunc >= 0 && truncSize > cut.truncAt {
		if err := w.truncateFile(filepath.Join(w.dir, fileName(nums[cut.trunc])), cut.truncAt); err != nil {
			return rep, fmt.Errorf("wal: salvage: %w", err)
		}
	}
	return rep, nil
}

// findCut verifies the files in order and returns where the longest valid
// prefix ends; cut.bad is nil if the whole log is valid. rc.prevLast is
// then the last sequence number of the prefix.
func (w *WAL) findCut(rc *recoverer, nums []uint64) (salvageCut, error) {
	for i, num := range nums {
		path := filepath.Join(w.dir, fileName(num))
		if i > 0 && num != nums[i-1]+1 {
			return salvageCut{keep: i, trunc: -1,
				bad: corrupt.New(path, 0, "WAL file %d is missing", nums[i-1]+1)}, nil
		}
		st := fileState{num: num, path: path}
		err := rc.scanFile(&st)
		var ce *CorruptionError
		switch {
		case errors.As(err, &ce) && ce.Offset < fileHeaderSize:
			// A bad file header: no frame of the file can be trusted.
			return salvageCut{keep: i, trunc: -1, bad: ce}, nil
		case errors.As(err, &ce):
			return salvageCut{keep: i + 1, trunc: i, truncAt: ce.Offset, bad: ce}, nil
		case err != nil:
			return salvageCut{}, err
		case st.garbage:
			return salvageCut{keep: i + 1, trunc: i, truncAt: st.validEnd,
				bad: corrupt.New(path, st.validEnd, "invalid frame (%s)", st.reason)}, nil
		}
	}
	return salvageCut{keep: len(nums), trunc: -1}, nil
}

// recognise looks for frames that are still valid (checksum for file
// num, the ledger's salt) in [from, end) of path and adds them to the
// report's dropped-frame count and sequence range.
func (rc *recoverer) recognise(path string, num uint64, from int64, rep *SalvageReport) error {
	f, err := rc.fs.Open(path)
	if err != nil {
		return fmt.Errorf("wal: salvage: open %s: %w", path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return fmt.Errorf("wal: salvage: size of %s: %w", path, err)
	}
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	var hdr [frameHeaderSize]byte
	next := align8(max(from, fileHeaderSize)) // frames start at multiples of 8
	for pos := next; pos < size; pos = max(pos+int64(len(buf)), next) {
		b := buf[:min(chunk, size-pos)]
		if err := readFull(f, b, pos); err != nil {
			return fmt.Errorf("wal: salvage: read %s: %w", path, err)
		}
		for i := int64(0); i+4 <= int64(len(b)); i += 8 {
			p := pos + i
			if p < next || le.Uint32(b[i:]) != frameMagic {
				continue
			}
			remaining := size - p
			if remaining < minFrameSize {
				return nil
			}
			if err := readFull(f, hdr[:], p); err != nil {
				return fmt.Errorf("wal: salvage: read %s: %w", path, err)
			}
			fh, reason := parseFrameHead(hdr[:], p, remaining, rc.maxPayload)
			if reason != "" || fh.salt != rc.salt {
				continue
			}
			if int64(cap(rc.scratch)) < fh.size {
				rc.scratch = make([]byte, fh.size)
			}
			fb := rc.scratch[:fh.size]
			if err := readFull(f, fb, p); err != nil {
				return fmt.Errorf("wal: salvage: read %s: %w", path, err)
			}
			if !frameChecksumOK(fb, rc.d, num) {
				continue
			}
			first, last := fh.firstSeq, fh.firstSeq+uint64(fh.count)-1
			if rep.DroppedFrames == 0 || first < rep.DroppedSeqs[0] {
				rep.DroppedSeqs[0] = first
			}
			rep.DroppedSeqs[1] = max(rep.DroppedSeqs[1], last)
			rep.DroppedFrames++
			next = p + fh.size
		}
	}
	return nil
}
