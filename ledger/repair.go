package ledger

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/exledger/exledger/index"
	"github.com/exledger/exledger/segment"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/wal"
)

// RepairReport says exactly what Repair found, kept and lost.
type RepairReport struct {
	Aside          string   // directory holding copies of every file Repair changed or removed
	Damaged        []string // files that failed verification
	Copied         []string // files copied aside
	RebuiltIndexes []string // index files rebuilt from their segments
	// Lost events: the sequence range [LostFrom, LostTo] (LostEvents = 0:
	// nothing lost). Events after a damaged point are dropped, because the
	// ledger is a dense, hash-chained log.
	LostFrom, LostTo uint64
	LostEvents       uint64
	WALDroppedBytes  int64
	// LostVectors counts the vectors dropped from events that Repair
	// kept: a vector file that failed its checksum cannot be rebuilt
	// (vectors live only there once sealed), so its segment keeps its
	// events without vectors. Vectors of lost events are not counted.
	LostVectors uint64
	LastSeq     uint64 // last sequence number of the repaired ledger
	Clean       bool   // nothing was damaged; nothing changed
}

// Repair salvages a damaged ledger in place. It takes the ledger's lock,
// copies every file it is about to change or remove into aside (default:
// DIR/quarantine/<UTC time>), then truncates the ledger to its longest valid
// prefix: sealed segments are verified in order (checksums and hash chain);
// the valid events of the first damaged segment are rewritten into a new
// segment, and everything after it (later segments and the WAL) is dropped;
// if every segment is sound, the WAL is truncated at its first bad frame.
// Missing or damaged indexes are rebuilt. The report names what was lost.
func Repair(dir string, opts *Options, aside string) (RepairReport, error) {
	var rep RepairReport
	o := opts.withDefaults()
	fsys := o.FS
	lk, err := fsys.Lock(filepath.Join(dir, lockName))
	if err != nil {
		return rep, fmt.Errorf("repair %s: %w", dir, err)
	}
	defer lk.Close()
	m, err := readManifestFile(fsys, dir)
	if err != nil {
		if isNotExist(err) {
			return rep, fmt.Errorf("repair %s: %w", dir, ErrNotLedger)
		}
		return rep, fmt.Errorf("repair %s: the manifest is unreadable (%w); restore it from a backup", dir, err)
	}
	if aside == "" {
		aside = filepath.Join(dir, "quarantine", time.Now().UTC().Format("20060102T150405Z"))
	}
	rep.Aside = aside
	copyAside := func(path string) error {
		rel, err := filepath.Rel(dir, path)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = filepath.Base(path)
		}
		dst := filepath.Join(aside, rel)
		if err := fsys.MkdirAll(filepath.Dir(dst)); err != nil {
			return err
		}
		if err := copyFile(fsys, path, dst); err != nil {
			return fmt.Errorf("copy %s aside: %w", path, err)
		}
		rep.Copied = append(rep.Copied, path)
		return nil
	}

	cache := segment.NewCache(o.CacheBytes)
	segDir := filepath.Join(dir, segDirName)
	keep := m.Segments[:0:0]
	var chain [32]byte
	if r := m.Retention; len(r) > 0 {
		chain, _ = parseHash(r[len(r)-1].ChainAt)
	}
	var damagedAt = -1
	var salvaged []segment.Record
	var vecDropped []string  // damaged vector files of kept segments
	var salvagedVecs *vecSet // the damaged segment's vectors, if sound
	for i, ms := range m.Segments {
		path := filepath.Join(segDir, ms.Name+".seg")
		r, err := segment.Open(fsys, path, cache)
		if err == nil {
			info := r.Info()
			if info.FirstSeq != ms.FirstSeq || info.LastSeq != ms.LastSeq || info.ChainStart != chain {
				err = &CorruptionError{File: path, Reason: "footer does not match the manifest or the hash chain"}
			} else {
				err = r.Verify()
			}
		}
		if err == nil {
			keep = append(keep, ms)
			chain = r.Info().ChainEnd
			// The index: rebuild if missing, damaged or stale.
			ipath := filepath.Join(segDir, ms.Name+".idx")
			want, berr := buildIndex(r)
			if berr != nil {
				r.Close()
				return rep, berr
			}
			got, rerr := readAll(fsys, ipath)
			if rerr != nil || string(got) != string(want) {
				if rerr == nil {
					rep.Damaged = append(rep.Damaged, ipath)
					if err := copyAside(ipath); err != nil {
						r.Close()
						return rep, err
					}
				}
				if err := index.WriteFile(fsys, ipath, want); err != nil {
					r.Close()
					return rep, err
				}
				rep.RebuiltIndexes = append(rep.RebuiltIndexes, ipath)
			}
			r.Close()
			if ms.Vectors > 0 {
				vpath := filepath.Join(segDir, ms.Name+vecExt)
				if _, verr := loadVecFile(fsys, vpath, m.EmbeddingDim, ms.Count, ms.Vectors); verr != nil {
					if !isCorrupt(verr) {
						return rep, fmt.Errorf("repair: %s: %w", vpath, verr)
					}
					rep.Damaged = append(rep.Damaged, vpath)
					if _, err := fsys.Stat(vpath); err == nil {
						if err := copyAside(vpath); err != nil {
							return rep, err
						}
					}
					keep[len(keep)-1].Vectors = 0
					rep.LostVectors += ms.Vectors
					vecDropped = append(vecDropped, vpath)
				}
			}
			continue
		}
		if !isCorrupt(err) && !isNotExist(err) {
			if r != nil {
				r.Close()
			}
			return rep, fmt.Errorf("repair: %s: %w", path, err)
		}
		rep.Damaged = append(rep.Damaged, path)
		damagedAt = i
		if ms.Vectors > 0 {
			salvagedVecs, _ = loadVecFile(fsys, filepath.Join(segDir, ms.Name+vecExt), m.EmbeddingDim, ms.Count, ms.Vectors)
		}
		// Salvage the verified prefix of this segment: records in sequence
		// order whose hash chain continues from the previous segment.
		if r != nil {
			h := chain
			next := ms.FirstSeq
			r.Scan(ms.FirstSeq, func(rec segment.Record) bool {
				if rec.Seq != next {
					return false
				}
				if _, err := DecodeHeader(rec.Data); err != nil {
					return false
				}
				h = segment.ChainNext(h, rec.Data)
				salvaged = append(salvaged, segment.Record{Seq: rec.Seq, Data: append([]byte(nil), rec.Data...)})
				next++
				return true
			})
			// Only keep the prefix whose chain matches a stored checkpoint
			// when the footer is readable; otherwise the checksummed blocks
			// are the evidence.
			r.Close()
		}
		break
	}

	newMan := m.clone()
	newMan.Segments = keep
	walDir := filepath.Join(dir, walDirName)
	if damagedAt >= 0 {
		// Copy aside and drop the damaged segment and everything after it.
		for _, ms := range m.Segments[damagedAt:] {
			for _, f := range segFiles {
				p := filepath.Join(segDir, ms.Name+f.ext)
				if _, err := fsys.Stat(p); err == nil {
					if err := copyAside(p); err != nil {
						return rep, err
					}
				}
			}
		}
		lostFrom := m.Segments[damagedAt].FirstSeq
		if len(salvaged) > 0 {
			newMan.Gen++
			first, last := salvaged[0].Seq, salvaged[len(salvaged)-1].Seq
			name := segName(first, last, newMan.Gen)
			w, err := segment.NewWriter(fsys, filepath.Join(segDir, name+".seg"), segment.Options{BlockSize: o.BlockSize, Level: o.CompressionLevel, EntropyLiterals: o.EntropyLiterals}, chain)
			if err != nil {
				return rep, err
			}
			for _, rec := range salvaged {
				h, _ := DecodeHeader(rec.Data)
				rec.Time = string(h.OccurredAt)
				if err := w.Append(rec); err != nil {
					w.Abort()
					return rep, err
				}
			}
			info, err := w.Finish(nil)
			if err != nil {
				return rep, err
			}
			r, err := segment.Open(fsys, filepath.Join(segDir, name+".seg"), cache)
			if err != nil {
				return rep, err
			}
			ixData, err := buildIndex(r)
			r.Close()
			if err != nil {
				return rep, err
			}
			if err := index.WriteFile(fsys, filepath.Join(segDir, name+".idx"), ixData); err != nil {
				return rep, err
			}
			nvec, err := salvageVectors(fsys, filepath.Join(segDir, name+vecExt), m.EmbeddingDim, salvagedVecs, first-m.Segments[damagedAt].FirstSeq, last-first+1)
			if err != nil {
				return rep, err
			}
			newMan.Segments = append(newMan.Segments, manifestSeg{Name: name, FirstSeq: first, LastSeq: last, Count: last - first + 1,
				ChainStart: hashHex(info.ChainStart), ChainEnd: hashHex(info.ChainEnd), Vectors: nvec})
			lostFrom = last + 1
		}
		// The last sequence number the ledger ever held: the WAL may hold
		// more than the manifest.
		lastKnown := m.Segments[len(m.Segments)-1].LastSeq
		if ws := walLastSeq(fsys, walDir, m.Salt, lastKnown+1, walMaxBatch(&o)); ws > lastKnown {
			lastKnown = ws
		}
		// Every WAL file is dropped: its events follow the damaged point.
		names, _ := fsys.List(walDir)
		for _, n := range names {
			p := filepath.Join(walDir, n)
			if err := copyAside(p); err != nil {
				return rep, err
			}
		}
		if err := storeManifest(fsys, dir, newMan); err != nil {
			return rep, err
		}
		for _, ms := range m.Segments[damagedAt:] {
			for _, f := range segFiles {
				fsys.Remove(filepath.Join(segDir, ms.Name+f.ext))
			}
		}
		for _, p := range vecDropped {
			fsys.Remove(p)
		}
		for _, n := range names {
			fsys.Remove(filepath.Join(walDir, n))
		}
		fsys.SyncDir(segDir)
		fsys.SyncDir(walDir)
		rep.LostFrom, rep.LostTo = lostFrom, lastKnown
		if lastKnown >= lostFrom {
			rep.LostEvents = lastKnown - lostFrom + 1
		}
		rep.LastSeq = lostFrom - 1
		return rep, nil
	}

	if len(vecDropped) > 0 {
		// Events kept, their damaged vector files dropped.
		newMan := m.clone()
		newMan.Segments = keep
		if err := storeManifest(fsys, dir, newMan); err != nil {
			return rep, err
		}
		for _, p := range vecDropped {
			fsys.Remove(p)
		}
		fsys.SyncDir(segDir)
	}
	// Every segment is sound: check the WAL read-only; only a WAL that Open
	// would refuse is salvaged (a torn tail is Open's own business).
	next := uint64(1)
	if len(keep) > 0 {
		next = keep[len(keep)-1].LastSeq + 1
	} else if r := m.Retention; len(r) > 0 {
		next = r[len(r)-1].DroppedThroughSeq + 1
	}
	rep.LastSeq = next - 1
	last, werr := walScan(fsys, walDir, m.Salt, next, walMaxBatch(&o))
	if werr == nil {
		if last > rep.LastSeq {
			rep.LastSeq = last
		}
	} else {
		if !isCorrupt(werr) {
			return rep, fmt.Errorf("repair: wal: %w", werr)
		}
		names, _ := fsys.List(walDir)
		for _, n := range names {
			if err := copyAside(filepath.Join(walDir, n)); err != nil {
				return rep, err
			}
		}
		ws, err := wal.Salvage(wal.Options{FS: fsys, Dir: walDir, Salt: m.Salt, Logger: o.Logger, MaxBatchBytes: walMaxBatch(&o)})
		if err != nil {
			return rep, fmt.Errorf("repair: wal: %w", err)
		}
		if ws.FirstBad != nil {
			rep.Damaged = append(rep.Damaged, ws.FirstBad.File)
		}
		rep.WALDroppedBytes = ws.DroppedBytes
		if ws.LastGoodSeq > rep.LastSeq {
			rep.LastSeq = ws.LastGoodSeq
		}
		if ws.DroppedSeqs[1] > 0 {
			rep.LostFrom, rep.LostTo = rep.LastSeq+1, ws.DroppedSeqs[1]
			rep.LostEvents = rep.LostTo - rep.LostFrom + 1
		}
	}
	rep.Clean = len(rep.Damaged) == 0 && len(rep.RebuiltIndexes) == 0
	return rep, nil
}

// walScan opens the WAL read-only and returns its last sequence number.
func walScan(fsys vfs.FS, dir string, salt, startSeq uint64, maxBatch int) (uint64, error) {
	var last uint64
	w, err := wal.Open(wal.Options{FS: fsys, Dir: dir, Salt: salt, ReadOnly: true, MaxBatchBytes: maxBatch}, startSeq, func(b *wal.Batch) error {
		last = b.FirstSeq + uint64(len(b.Records)) - 1
		return nil
	})
	if err != nil {
		return 0, err
	}
	w.Close()
	return last, nil
}

// walLastSeq is walScan ignoring errors.
func walLastSeq(fsys vfs.FS, dir string, salt, startSeq uint64, maxBatch int) uint64 {
	last, _ := walScan(fsys, dir, salt, startSeq, maxBatch)
	return last
}

func isCorrupt(err error) bool {
	var ce *CorruptionError
	return errors.As(err, &ce)
}

func copyFile(fsys vfs.FS, src, dst string) error {
	in, err := fsys.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := fsys.Create(dst)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	var off int64
	for {
		n, err := in.ReadAt(buf, off)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				out.Close()
				return werr
			}
			off += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			out.Close()
			return err
		}
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return fsys.SyncDir(filepath.Dir(dst))
}
