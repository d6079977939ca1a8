package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
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
	// Lost are the sequence ranges whose events this run could not
	// recover; LostEvents counts them, LostFrom and LostTo are the lowest
	// and highest lost seq (LostEvents = 0: nothing lost). Seqs are never
	// reused: each lost range is recorded as a gap (Gaps).
	Lost             []SeqRange
	LostFrom, LostTo uint64
	LostEvents       uint64
	// UnprovenEvents counts the kept events whose chain value did not
	// survive (inside a gap, between a lost range and the next stored
	// chain value).
	UnprovenEvents uint64
	// Gaps are the ledger's gap records after the repair that this run
	// created or extended.
	Gaps []Gap
	// SegmentsWritten are the segments written from salvaged events.
	SegmentsWritten []string
	WALDroppedBytes int64
	// LostVectors counts the vectors dropped from events that Repair
	// kept: a vector file that failed its checksum cannot be rebuilt
	// (vectors live only there once sealed), so its segment keeps its
	// events without vectors. Vectors of lost events are not counted.
	LostVectors uint64
	LastSeq     uint64 // last sequence number of the repaired ledger
	Clean       bool   // nothing was damaged; nothing changed
}

// Repair salvages a damaged ledger in place, losing only what is damaged.
// It takes the ledger's lock and copies every file it is about to change or
// remove into aside (default: DIR/quarantine/<UTC time>). Every sealed
// segment is verified (checksums, footer against the manifest, hash chain);
// a damaged one is salvaged block by block (segment.SalvageFile): the events
// of every verifying block are rewritten into new segments, split where
// events were lost, and the lost seqs are recorded in the manifest as gap
// records, with the chain value before each gap and, where a stored chain
// value survives (a block-end value, a checkpoint, the manifest's segment
// end), the value after it. Seqs are never reused or shifted; later
// segments and the WAL are kept when they verify. A WAL that Open refuses
// is salvaged frame by frame (repairWAL): every verifying frame is kept and
// sealed, missing seqs become (unanchored) gaps. Missing or damaged indexes
// are rebuilt.
// The report names what was lost. Repair refuses (changing nothing) a
// segment whose checksummed events contradict its checksummed chain values:
// that is tampering, not disk damage.
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
	newMan := m.clone()
	newMan.Segments = m.Segments[:0:0]
	if m.EmbeddingDim != 0 {
		newMan.addFeature(featureVecBlocks) // vector files it writes are layout 2
	}
	var created []string    // new segment names (removed if Repair fails before the switch)
	var replaced []string   // old segment names (removed after the switch)
	var vecDropped []string // damaged vector files of kept segments
	var walRepaired bool    // the WAL was salvaged frame by frame
	fail := func(err error) (RepairReport, error) {
		for _, n := range created {
			for _, f := range segFiles {
				fsys.Remove(filepath.Join(segDir, n+f.ext))
			}
		}
		return rep, err
	}
	touched := map[uint64]bool{} // From of the gap records this run created or extended
	for _, ms := range m.Segments {
		path := filepath.Join(segDir, ms.Name+".seg")
		r, err := segment.Open(fsys, path, cache)
		if err == nil {
			info := r.Info()
			if info.FirstSeq != ms.FirstSeq || info.LastSeq != ms.LastSeq || hashHex(info.ChainStart) != ms.ChainStart || hashHex(info.ChainEnd) != ms.ChainEnd {
				err = &CorruptionError{File: path, Reason: "footer does not match the manifest or the hash chain"}
			} else {
				err = r.Verify()
			}
		}
		if err == nil {
			newMan.Segments = append(newMan.Segments, ms)
			// The index: rebuild if missing, damaged or stale.
			ipath := filepath.Join(segDir, ms.Name+".idx")
			got, rerr := readAll(fsys, ipath)
			want, berr := buildIndexLike(r, got)
			if berr == nil && string(got) != string(want) && index.FileVersion(want) == 1 {
				// A damaged version 1 file is rewritten in the current version.
				want, berr = buildIndex(r)
			}
			r.Close()
			if berr != nil {
				return fail(berr)
			}
			if rerr != nil || string(got) != string(want) {
				if rerr == nil {
					rep.Damaged = append(rep.Damaged, ipath)
					if err := copyAside(ipath); err != nil {
						return fail(err)
					}
				}
				if err := index.WriteFile(fsys, ipath, want); err != nil {
					return fail(err)
				}
				rep.RebuiltIndexes = append(rep.RebuiltIndexes, ipath)
			}
			if ms.Vectors > 0 {
				vpath := filepath.Join(segDir, ms.Name+vecExt)
				if _, verr := loadVecFile(fsys, vpath, m.EmbeddingDim, ms.Count, ms.Vectors); verr != nil {
					if !isCorrupt(verr) {
						return fail(fmt.Errorf("repair: %s: %w", vpath, verr))
					}
					rep.Damaged = append(rep.Damaged, vpath)
					if _, err := fsys.Stat(vpath); err == nil {
						if err := copyAside(vpath); err != nil {
							return fail(err)
						}
					}
					newMan.Segments[len(newMan.Segments)-1].Vectors = 0
					rep.LostVectors += ms.Vectors
					vecDropped = append(vecDropped, vpath)
				}
			}
			continue
		}
		if r != nil {
			r.Close()
		}
		if !isCorrupt(err) && !isNotExist(err) {
			return fail(fmt.Errorf("repair: %s: %w", path, err))
		}
		rep.Damaged = append(rep.Damaged, path)
		var vecs *vecSet // the damaged segment's vectors, if sound
		if ms.Vectors > 0 {
			vecs, _ = loadVecFile(fsys, filepath.Join(segDir, ms.Name+vecExt), m.EmbeddingDim, ms.Count, ms.Vectors)
		}

		// Salvage block by block.
		var kept []segment.Record
		anchors := map[uint64][32]byte{ms.LastSeq: mustHash(ms.ChainEnd)}
		if !isNotExist(err) {
			sv, serr := segment.SalvageFile(fsys, path)
			if serr != nil {
				return fail(fmt.Errorf("repair: %w", serr))
			}
			in := sv.Info
			if sv.FooterOK && in.FirstSeq == ms.FirstSeq && in.LastSeq == ms.LastSeq && hashHex(in.ChainStart) == ms.ChainStart && hashHex(in.ChainEnd) == ms.ChainEnd {
				for _, cp := range sv.Checkpoints {
					anchors[cp.Seq] = cp.Hash
				}
			}
			for _, rec := range sv.Records {
				if rec.Seq < ms.FirstSeq || rec.Seq > ms.LastSeq {
					continue
				}
				if _, err := DecodeHeader(rec.Data); err != nil {
					continue
				}
				kept = append(kept, rec)
			}
		}
		outer := newMan.innerGap(ms.FirstSeq, ms.LastSeq)
		pieces, gaps, lost, err := salvageSpan(ms, kept, anchors, outer)
		if err != nil {
			return fail(&IntegrityError{File: path, Seq: ms.FirstSeq, Reason: err.Error()})
		}
		for _, pc := range pieces {
			newMan.Gen++
			ms2, err := writeSalvaged(fsys, segDir, &o, cache, pc, newMan.Gen)
			if err != nil {
				return fail(err)
			}
			created = append(created, ms2.Name)
			ms2.Vectors, err = salvageVectors(fsys, filepath.Join(segDir, ms2.Name+vecExt), m.EmbeddingDim, vecs, ms2.FirstSeq-ms.FirstSeq, ms2.Count)
			if err != nil {
				return fail(err)
			}
			rep.SegmentsWritten = append(rep.SegmentsWritten, ms2.Name)
			newMan.Segments = append(newMan.Segments, ms2)
		}
		if outer != nil {
			touched[outer.From] = true
		}
		rep.Lost = append(rep.Lost, lost...)
		for _, g := range gaps {
			newMan.Gaps = append(newMan.Gaps, g)
			touched[g.From] = true
		}
		for _, f := range segFiles {
			p := filepath.Join(segDir, ms.Name+f.ext)
			if _, err := fsys.Stat(p); err == nil {
				if err := copyAside(p); err != nil {
					return fail(err)
				}
			}
		}
		replaced = append(replaced, ms.Name)
	}
	slices.SortFunc(newMan.Gaps, func(a, b gapRecord) int { return cmpU64(a.From, b.From) })
	for i := range newMan.Gaps {
		if g := &newMan.Gaps[i]; touched[g.From] {
			pg := g.public()
			rep.Gaps = append(rep.Gaps, pg)
		}
	}
	if len(rep.Gaps) > 0 {
		newMan.addFeature(featureGaps)
		for _, g := range rep.Gaps {
			rep.UnprovenEvents += g.UnprovenEvents
		}
	}
	// The WAL, from where the repaired manifest ends: a WAL that Open
	// would refuse is salvaged (a torn tail is Open's own business).
	walDir := filepath.Join(dir, walDirName)
	next, _ := newMan.tail()
	rep.LastSeq = next - 1
	last, werr := walScan(fsys, walDir, m.Salt, next, walMaxBatch(&o))
	if werr == nil {
		if last > rep.LastSeq {
			rep.LastSeq = last
		}
	} else {
		if !isCorrupt(werr) {
			return fail(fmt.Errorf("repair: wal: %w", werr))
		}
		names, _ := fsys.List(walDir)
		for _, n := range names {
			if err := copyAside(filepath.Join(walDir, n)); err != nil {
				return fail(err)
			}
		}
		walCreated, err := repairWAL(fsys, dir, newMan, &o, cache, &rep)
		created = append(created, walCreated...)
		if err != nil {
			return fail(err)
		}
		walRepaired = true
	}
	// One manifest switch commits everything (segments replaced, gaps,
	// WAL files named obsolete); the replaced files are removed after it
	// (Open removes whatever a crash leaves: orphan segment files, and the
	// WAL files the manifest lists as obsolete).
	if len(replaced) > 0 || len(vecDropped) > 0 || walRepaired {
		b, bh := newMan.base()
		if _, _, err := walkChain(b, bh, manifestSpans(newMan.Segments), newMan.Gaps); err != nil {
			return fail(fmt.Errorf("repair: the repaired manifest does not tile the log (a bug): %w", err))
		}
		if err := storeManifest(fsys, dir, newMan); err != nil {
			// The new manifest may be live: leave every file for Open.
			return rep, err
		}
		for _, n := range replaced {
			for _, f := range segFiles {
				fsys.Remove(filepath.Join(segDir, n+f.ext))
			}
		}
		for _, p := range vecDropped {
			fsys.Remove(p)
		}
		if err := fsys.SyncDir(segDir); err != nil {
			return rep, err
		}
		if walRepaired {
			walDir := filepath.Join(dir, walDirName)
			names, err := fsys.List(walDir)
			if err != nil {
				return rep, fmt.Errorf("repair: wal: %w", err)
			}
			for i := len(names) - 1; i >= 0; i-- {
				if err := fsys.Remove(filepath.Join(walDir, names[i])); err != nil && !isNotExist(err) {
					return rep, fmt.Errorf("repair: wal: %w", err)
				}
			}
			if err := fsys.SyncDir(walDir); err != nil {
				return rep, fmt.Errorf("repair: wal: %w", err)
			}
			final := newMan.clone()
			final.WALObsolete = nil
			if err := storeManifest(fsys, dir, final); err != nil {
				return rep, err
			}
		}
	}
	for _, r := range rep.Lost {
		rep.LostEvents += r.Len()
		if rep.LostFrom == 0 || r.From < rep.LostFrom {
			rep.LostFrom = r.From
		}
		rep.LostTo = max(rep.LostTo, r.To)
	}
	rep.Clean = len(rep.Damaged) == 0 && len(rep.RebuiltIndexes) == 0
	return rep, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// innerGap returns the gap record a segment holding first..last lies
// inside, or nil.
func (m *ledgerManifest) innerGap(first, last uint64) *gapRecord {
	for i := range m.Gaps {
		if g := &m.Gaps[i]; first > g.From && last <= g.To {
			return g
		}
	}
	return nil
}

// salvagePiece is a dense run of salvaged events and the chain value
// before it.
type salvagePiece struct {
	recs       []segment.Record
	vecs       [][]float32 // WAL salvage only: vecs[i] is recs[i]'s vector (nil: none)
	chainStart [32]byte
}

// salvageSpan turns the verified events of a damaged segment ms (sorted by
// seq, within its range) into dense pieces and gap records.
//
// Walking the segment's seqs in order from its chain start, every kept
// event extends the proven chain; each stored chain value met on the way
// (anchors: the footer's block-end values or checkpoints when the footer
// verified, and the manifest's chain end) must agree, else the data is
// refused. At the first missing seq a gap opens with the chain value
// reached; it stays open, collecting lost ranges, until a seq with a stored
// chain value: the gap then ends there, anchored to that value, and the
// proven chain resumes after it. Kept events inside a gap form "inner"
// pieces chained from the gap's ChainBefore over the kept events alone.
// Since the manifest's chain end is an anchor, every gap closes within the
// segment. outer, if set, is an existing gap the whole segment lies inside:
// its lost seqs are added to it and no new gap is made. It also returns
// the ranges lost in this segment.
func salvageSpan(ms manifestSeg, kept []segment.Record, anchors map[uint64][32]byte, outer *gapRecord) ([]salvagePiece, []gapRecord, []SeqRange, error) {
	var pieces []salvagePiece
	var gaps []gapRecord
	var cur *salvagePiece
	closePiece := func() {
		if cur != nil && len(cur.recs) > 0 {
			pieces = append(pieces, *cur)
		}
		cur = nil
	}
	addLost := func(g *gapRecord, seq uint64) {
		if n := len(g.Lost); n > 0 && g.Lost[n-1].To+1 == seq {
			g.Lost[n-1].To = seq
			return
		}
		g.Lost = append(g.Lost, SeqRange{From: seq, To: seq})
	}
	h := mustHash(ms.ChainStart)
	var g *gapRecord
	var hi [32]byte // chain over the kept events inside a gap
	if outer != nil {
		var lost []SeqRange
		tmp := gapRecord{}
		k := 0
		for seq := ms.FirstSeq; seq <= ms.LastSeq; seq++ {
			if k < len(kept) && kept[k].Seq == seq {
				if cur == nil {
					cur = &salvagePiece{chainStart: h}
				}
				cur.recs = append(cur.recs, kept[k])
				h = segment.ChainNext(h, kept[k].Data)
				k++
				continue
			}
			closePiece()
			addLost(&tmp, seq)
		}
		closePiece()
		lost = tmp.Lost
		outer.Lost = mergeRanges(outer.Lost, lost)
		return pieces, nil, lost, nil
	}
	now := time.Now().UTC().Format(time.RFC3339)
	k := 0
	for seq := ms.FirstSeq; seq <= ms.LastSeq; seq++ {
		var rec *segment.Record
		if k < len(kept) && kept[k].Seq == seq {
			rec = &kept[k]
			k++
		}
		a, anchored := anchors[seq]
		if g == nil {
			if rec != nil {
				if cur == nil {
					cur = &salvagePiece{chainStart: h}
				}
				cur.recs = append(cur.recs, *rec)
				h = segment.ChainNext(h, rec.Data)
				if anchored && a != h {
					return nil, nil, nil, fmt.Errorf("seq %d: verified events do not match the stored chain value; refusing to repair (tampering, not disk damage)", seq)
				}
				continue
			}
			closePiece()
			g = &gapRecord{From: seq, ChainBefore: hashHex(h), At: now}
			hi = h
			addLost(g, seq)
		} else if rec != nil {
			if cur == nil {
				cur = &salvagePiece{chainStart: hi}
			}
			cur.recs = append(cur.recs, *rec)
			hi = segment.ChainNext(hi, rec.Data)
		} else {
			closePiece()
			addLost(g, seq)
		}
		if anchored {
			closePiece()
			g.To, g.ChainAfter, g.Anchored = seq, hashHex(a), true
			gaps = append(gaps, *g)
			g = nil
			h = a
		}
	}
	closePiece()
	if g != nil {
		return nil, nil, nil, fmt.Errorf("gap at seq %d has no end (a bug: the segment end is an anchor)", g.From)
	}
	var lost []SeqRange
	for _, g := range gaps {
		lost = append(lost, g.Lost...)
	}
	return pieces, gaps, lost, nil
}

// mergeRanges returns the union of two sorted range lists, sorted, with
// adjacent ranges joined.
func mergeRanges(a, b []SeqRange) []SeqRange {
	all := append(append([]SeqRange(nil), a...), b...)
	slices.SortFunc(all, func(x, y SeqRange) int { return cmpU64(x.From, y.From) })
	var out []SeqRange
	for _, r := range all {
		if n := len(out); n > 0 && r.From <= out[n-1].To+1 {
			out[n-1].To = max(out[n-1].To, r.To)
			continue
		}
		out = append(out, r)
	}
	return out
}

// writeSalvaged writes one salvaged piece as an ordered segment plus its
// index and returns its manifest entry.
func writeSalvaged(fsys vfs.FS, segDir string, o *Options, cache *segment.Cache, pc salvagePiece, gen uint64) (manifestSeg, error) {
	first, last := pc.recs[0].Seq, pc.recs[len(pc.recs)-1].Seq
	name := segName(first, last, gen)
	path := filepath.Join(segDir, name+".seg")
	w, err := segment.NewWriter(fsys, path, segment.Options{BlockSize: o.BlockSize, Level: o.CompressionLevel, EntropyLiterals: o.EntropyLiterals}, pc.chainStart)
	if err != nil {
		return manifestSeg{}, err
	}
	for _, rec := range pc.recs {
		h, _ := DecodeHeader(rec.Data)
		rec.Time = string(h.OccurredAt)
		if err := w.Append(rec); err != nil {
			w.Abort()
			return manifestSeg{}, err
		}
	}
	info, err := w.Finish(nil)
	if err != nil {
		return manifestSeg{}, err
	}
	r, err := segment.Open(fsys, path, cache)
	if err != nil {
		return manifestSeg{}, err
	}
	ixData, err := buildIndex(r)
	r.Close()
	if err != nil {
		return manifestSeg{}, err
	}
	if err := index.WriteFile(fsys, filepath.Join(segDir, name+".idx"), ixData); err != nil {
		return manifestSeg{}, err
	}
	return manifestSeg{Name: name, FirstSeq: first, LastSeq: last, Count: last - first + 1,
		ChainStart: hashHex(info.ChainStart), ChainEnd: hashHex(info.ChainEnd)}, nil
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

// repairWAL salvages a WAL that Open refuses, frame by frame: every frame
// whose checksum verifies is kept (wherever it lies after damage), its
// events from the manifest's next seq on are sealed into segments (split
// where seqs are missing), the missing seqs between them are recorded as
// gaps, and the WAL files are named obsolete; m (the repaired manifest, not
// yet stored) gets the segments, gaps and list; the caller stores it and
// removes the files. No chain value is stored in the WAL, so these gaps are
// not anchored: the chain continues over the kept events (it restarts at
// each gap). Seqs after the last verified frame cannot be known and are not
// recorded. It returns the segments it wrote.
func repairWAL(fsys vfs.FS, dir string, m *ledgerManifest, o *Options, cache *segment.Cache, rep *RepairReport) ([]string, error) {
	walDir := filepath.Join(dir, walDirName)
	segDir := filepath.Join(dir, segDirName)
	fs, err := wal.SalvageFrames(wal.Options{FS: fsys, Dir: walDir, Salt: m.Salt, MaxBatchBytes: walMaxBatch(o)})
	if err != nil {
		return nil, fmt.Errorf("repair: wal: %w", err)
	}
	seen := map[string]bool{}
	for _, d := range fs.Damaged {
		rep.WALDroppedBytes += d.Length
		if !seen[d.File] {
			seen[d.File] = true
			rep.Damaged = append(rep.Damaged, d.File)
		}
	}
	if len(fs.Damaged) == 0 {
		// Open refused the log for its order (a missing file, a sequence
		// discontinuity): name the directory.
		rep.Damaged = append(rep.Damaged, walDir)
	}
	next, chain := m.tail()
	type walRec struct {
		data []byte
		vec  []float32
	}
	recs := map[uint64]walRec{}
	bad := map[uint64]bool{} // seqs two verified frames disagree about
	var maxSeq uint64
	for _, b := range fs.Batches {
		for i, r := range b.Records {
			seq := b.FirstSeq + uint64(i)
			if seq < next || bad[seq] {
				continue
			}
			canon, vraw, err := splitRecord(r)
			if err != nil {
				continue
			}
			if _, err := DecodeHeader(canon); err != nil {
				continue
			}
			if vraw != nil && (m.EmbeddingDim == 0 || len(vraw) != 4*m.EmbeddingDim) {
				continue
			}
			if prev, ok := recs[seq]; ok {
				if !bytes.Equal(prev.data, canon) {
					delete(recs, seq)
					bad[seq] = true
				}
				continue
			}
			wr := walRec{data: canon}
			if vraw != nil {
				wr.vec = floatsOf(vraw)
			}
			recs[seq] = wr
			maxSeq = max(maxSeq, seq)
		}
	}
	newMan := m
	now := time.Now().UTC().Format(time.RFC3339)
	var pieces []salvagePiece
	var cur *salvagePiece
	var g *gapRecord
	h := chain
	for seq := next; seq <= maxSeq && len(recs) > 0; seq++ {
		r, ok := recs[seq]
		if !ok {
			if cur != nil {
				pieces = append(pieces, *cur)
				cur = nil
			}
			if g == nil {
				g = &gapRecord{From: seq, ChainBefore: hashHex(h), ChainAfter: hashHex(h), At: now}
				g.Lost = []SeqRange{{From: seq, To: seq}}
			}
			g.To = seq
			g.Lost[0].To = seq
			continue
		}
		if g != nil {
			newMan.Gaps = append(newMan.Gaps, *g)
			rep.Gaps = append(rep.Gaps, g.public())
			rep.Lost = append(rep.Lost, g.Lost...)
			g = nil
		}
		if cur == nil {
			cur = &salvagePiece{chainStart: h}
		}
		cur.recs = append(cur.recs, segment.Record{Seq: seq, Data: r.data})
		cur.vecs = append(cur.vecs, r.vec)
		h = segment.ChainNext(h, r.data)
	}
	if cur != nil {
		pieces = append(pieces, *cur)
	}
	var created []string
	for _, pc := range pieces {
		newMan.Gen++
		ms, err := writeSalvaged(fsys, segDir, o, cache, pc, newMan.Gen)
		if err != nil {
			return created, err
		}
		created = append(created, ms.Name)
		if data, n := vecFileOf(m.EmbeddingDim, ms.Count, pc.vecs); n > 0 {
			if err := writeVecFile(fsys, filepath.Join(segDir, ms.Name+vecExt), data); err != nil {
				return created, err
			}
			ms.Vectors = n
		}
		newMan.Segments = append(newMan.Segments, ms)
		rep.SegmentsWritten = append(rep.SegmentsWritten, ms.Name)
	}
	// The manifest names the WAL files as obsolete, so that its switch is
	// the commit point: if the files are still there at the next Open,
	// Open removes (read-only: ignores) them.
	names, err := fsys.List(walDir)
	if err != nil {
		return created, fmt.Errorf("repair: wal: %w", err)
	}
	for _, n := range names {
		if strings.HasSuffix(n, ".wal") {
			newMan.WALObsolete = append(newMan.WALObsolete, n)
		}
	}
	newMan.addFeature(featureGaps)
	if maxSeq > rep.LastSeq {
		rep.LastSeq = maxSeq
	}
	return created, nil
}
