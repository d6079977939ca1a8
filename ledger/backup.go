package ledger

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/exledger/exledger/index"
	"github.com/exledger/exledger/segment"
	"github.com/exledger/exledger/vfs"
)

// segFile is one file of a sealed segment, stored as seg/<name><ext>.
type segFile struct {
	ext string
	// rebuild, if set, derives the file's bytes from the open segment
	// when the file has vanished or never existed (the index is rebuilt
	// from the records); nil means the file is required.
	rebuild func(*sealedSeg) ([]byte, error)
	// has, if set, says whether a segment has this file at all (a vector
	// file exists only for a segment with vectors); nil means always.
	has func(manifestSeg) bool
}

// segFiles lists the files that make up a sealed segment, in the order a
// backup transfers them. A backup links or copies each, compaction removes
// each, and Open removes each that the manifest does not name. A new file
// kept beside segments (tree hashes, vectors) is one more entry here.
var segFiles = []segFile{
	{ext: ".seg"},
	{ext: ".idx", rebuild: func(s *sealedSeg) ([]byte, error) { return buildIndex(s.r) }},
	{ext: vecExt, has: func(ms manifestSeg) bool { return ms.Vectors > 0 }},
}

// isSegFileName reports whether a seg/ directory entry has the extension
// of a segment file.
func isSegFileName(n string) bool {
	for _, f := range segFiles {
		if strings.HasSuffix(n, f.ext) {
			return true
		}
	}
	return false
}

// segPins keeps the files of segments replaced by compaction on disk while
// a backup may still link or copy them.
type segPins struct {
	mu     sync.Mutex
	n      int
	doomed []string // segment names whose files wait for the last unpin
}

func (l *Ledger) pinSegments() {
	l.pins.mu.Lock()
	l.pins.n++
	l.pins.mu.Unlock()
}

func (l *Ledger) unpinSegments() {
	l.pins.mu.Lock()
	l.pins.n--
	var doomed []string
	if l.pins.n == 0 {
		doomed, l.pins.doomed = l.pins.doomed, nil
	}
	l.pins.mu.Unlock()
	if len(doomed) == 0 {
		return
	}
	for _, name := range doomed {
		l.removeSegFilesNow(name)
	}
	l.fs.SyncDir(filepath.Join(l.dir, segDirName))
}

// removeSegFiles deletes the files of a segment the manifest no longer
// names, or, while a backup runs, leaves that to its end. A crash in
// between leaves orphans that the next Open removes. The caller syncs the
// seg directory.
func (l *Ledger) removeSegFiles(name string) {
	l.pins.mu.Lock()
	if l.pins.n > 0 {
		l.pins.doomed = append(l.pins.doomed, name)
		l.pins.mu.Unlock()
		return
	}
	l.pins.mu.Unlock()
	l.removeSegFilesNow(name)
}

func (l *Ledger) removeSegFilesNow(name string) {
	for _, f := range segFiles {
		l.fs.Remove(l.segPath(name, f.ext))
	}
}

// backupMarker is the file a backup creates first and removes last: a
// directory holding it is an unfinished (crashed, failed or unverified)
// backup, and Open refuses it with ErrIncompleteBackup.
const backupMarker = "BACKUP-INCOMPLETE"

const backupMarkerText = "This directory is an unfinished exledger backup: the backup stopped\n" +
	"(crash, error or cancellation) before it completed and verified the copy.\n" +
	"It must not be used as a ledger. Delete the directory and run the backup again.\n"

// ErrIncompleteBackup is returned (wrapped) by Open for a directory that
// holds an unfinished backup: the backup was interrupted before its copy
// was complete, durable and verified.
var ErrIncompleteBackup = errors.New("ledger: incomplete backup")

// ErrBackupTarget is returned (wrapped) by Backup when the target is not a
// missing or empty directory, or lies inside the ledger.
var ErrBackupTarget = errors.New("ledger: unusable backup target")

// errSourceChanged marks a backup that failed because a source file
// vanished under it (a writer in another process compacted): BackupDir
// retries with a fresh read-only open.
var errSourceChanged = errors.New("ledger: source segment vanished during the backup")

// checkBackupMarker refuses a directory holding an unfinished backup.
func checkBackupMarker(fsys vfs.FS, dir string) error {
	if _, err := fsys.Stat(filepath.Join(dir, backupMarker)); err == nil {
		return fmt.Errorf("open %s: it holds %s, so it is an unfinished backup; delete it and back up again: %w", dir, backupMarker, ErrIncompleteBackup)
	}
	return nil
}

// BackupOptions tune Backup. The zero value makes a verified full backup.
type BackupOptions struct {
	// NoVerify skips reading the finished copy back (every block
	// checksum, the hash chain across segments, every index, the head).
	// The copy is still durable and complete; unverified, a fault in the
	// medium that damaged a copied byte goes unnoticed until the next
	// verify.
	NoVerify bool
	// Since names a previous backup of the same ledger. The segments it
	// holds unchanged (same name, sequence range and chain values) are
	// linked, or copied, from it rather than from the ledger: an
	// incremental backup that reads only new segments from the ledger's
	// disk and, with Since on the target's file system, links the rest.
	Since string
}

// BackupReport describes a finished backup.
type BackupReport struct {
	// Dir is the backup's directory.
	Dir string
	// Head is the copy's digest: its last sequence number N and the
	// hash-chain value after it. The copy holds exactly the events
	// committed up to N, and the source (and every later state of it)
	// extends Head.
	Head Digest
	// Events is the number of events in the copy (N less the events
	// that retention had dropped from the source).
	Events uint64
	// Segments is the number of segments in the copy, the tail included.
	Segments int
	// Linked and Copied count the segment files hard-linked and copied;
	// LinkedBytes and CopiedBytes are their sizes.
	Linked, Copied           int
	LinkedBytes, CopiedBytes int64
	// FromSince counts the files taken from BackupOptions.Since.
	FromSince int
	// TailEvents is the number of unsealed events (memory and WAL)
	// written into the copy as one new segment of TailBytes bytes.
	TailEvents uint64
	TailBytes  int64
	// Verified says the copy was read back and checked.
	Verified bool
	// Took is the wall time of the whole backup; FilesTook, TailTook and
	// VerifyTook are its three main phases: linking or copying the
	// sealed segments, writing the tail, reading the copy back.
	Took, FilesTook, TailTook, VerifyTook time.Duration
}

// Backup writes a consistent copy of the ledger into dir, which must not
// exist or be empty, while appends go on: the copy holds exactly the events
// committed up to one sequence number (BackupReport.Head.Seq), at least
// every event acknowledged before Backup was called. Sealed segments are
// hard-linked when dir is on the same file system (they are immutable)
// and copied otherwise; the unsealed tail is taken from memory, the same
// consistent snapshot a query reads, and written as a new sealed segment.
//
// The copy is an ordinary ledger (open it with Open or ledgerctl) and
// keeps the ledger's id, so digests of the original verify against it; it
// gets a new WAL salt. Before Backup returns, every file and directory of
// the copy is fsynced and, unless opts.NoVerify, the copy is verified. A
// crash or error part-way leaves dir holding a BACKUP-INCOMPLETE marker
// (Open refuses it with ErrIncompleteBackup); an error removes what
// Backup created, as far as it can.
func (l *Ledger) Backup(ctx context.Context, dir string) (BackupReport, error) {
	return l.BackupWith(ctx, dir, BackupOptions{})
}

// BackupWith is Backup with options.
func (l *Ledger) BackupWith(ctx context.Context, dir string, o BackupOptions) (BackupReport, error) {
	start := time.Now()
	rep := BackupReport{Dir: dir}
	if l.closed.Load() {
		return rep, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	b := &backupRun{l: l, dir: filepath.Clean(dir), o: o, rep: &rep, linkOK: map[string]bool{}}
	if err := b.checkTarget(); err != nil {
		return rep, err
	}
	if o.Since != "" {
		if err := b.readSince(); err != nil {
			return rep, err
		}
	}
	// Pin first, then snapshot: a compaction that replaces a segment of
	// the snapshot removes its files only after the unpin.
	l.pinSegments()
	defer l.unpinSegments()
	defer func() { b.v.release() }() // the snapshot's segments stay open until then
	if err := b.snapshot(ctx); err != nil {
		return rep, err
	}
	if err := b.run(ctx); err != nil {
		b.cleanup()
		return rep, fmt.Errorf("backup %s to %s: %w", l.dir, dir, err)
	}
	rep.Took = time.Since(start)
	l.log.Info("backup done", "dir", dir, "seq", rep.Head.Seq, "segments", rep.Segments,
		"linked", rep.Linked, "copied", rep.Copied, "tail_events", rep.TailEvents, "verified", rep.Verified, "took", rep.Took)
	return rep, nil
}

// backupAttempts bounds BackupDir's retries when a writer in another
// process changes the files under it.
const backupAttempts = 5

// BackupDir backs up the ledger in src into dst from a read-only open (no
// lock is taken), so it works beside a writer in another process, as
// `ledgerctl backup` does. opts configure the read-only open (ReadOnly is
// forced); nil means the defaults. If the writer's compaction removes a
// segment between the open and the link, or its checkpoint races with the
// open, the attempt is undone and repeated with a fresh open, at most 5
// times.
func BackupDir(ctx context.Context, src, dst string, opts *Options, o BackupOptions) (BackupReport, error) {
	var ro Options
	if opts != nil {
		ro = *opts
	}
	ro.ReadOnly = true
	for attempt := 1; ; attempt++ {
		l, err := Open(src, &ro)
		retry := err != nil && (isNotExist(err) || isCorrupt(err))
		if err == nil {
			var rep BackupReport
			rep, err = l.BackupWith(ctx, dst, o)
			l.Close()
			if err == nil {
				return rep, nil
			}
			retry = errors.Is(err, errSourceChanged)
		}
		if !retry || attempt == backupAttempts || ctx.Err() != nil {
			if retry {
				err = fmt.Errorf("the ledger kept changing during %d attempts: %w", attempt, err)
			}
			return BackupReport{Dir: dst}, err
		}
		if l := ro.Logger; l != nil {
			l.Info("backup: source changed under the read-only open; retrying", "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return BackupReport{Dir: dst}, ctx.Err()
		case <-time.After(time.Duration(attempt) * 20 * time.Millisecond):
		}
	}
}

// backupRun is the state of one backup.
type backupRun struct {
	l     *Ledger
	dir   string
	o     BackupOptions
	rep   *BackupReport
	man   *ledgerManifest
	v     view
	since map[string]manifestSeg // segments of the previous backup by name

	createdDir bool     // the target did not exist
	marked     bool     // the marker exists
	created    []string // files created below dir, for cleanup
	// linkOK remembers, per source directory, that linking into dir
	// failed with a "copy instead" error, so later files go straight to
	// copying.
	linkOK map[string]bool
}

// snapshot takes the view and the manifest that describes its segments.
// Sealing and compaction store the new manifest just before they switch
// the view, so the two can briefly disagree; then it looks again. It does
// not take manMu: a long compaction does not hold a backup up.
func (b *backupRun) snapshot(ctx context.Context) error {
	l := b.l
	for try := 0; ; try++ {
		b.v.release()
		l.mu.RLock()
		b.man = l.man.Load()
		b.v = l.snapshotLocked()
		l.mu.RUnlock()
		if sameSegs(b.man, b.v.segs) {
			return nil
		}
		if try == 1000 {
			return fmt.Errorf("backup: the manifest and the segments in use keep disagreeing (%d and %d segments)", len(b.man.Segments), len(b.v.segs))
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}

func sameSegs(m *ledgerManifest, segs []*sealedSeg) bool {
	if len(m.Segments) != len(segs) {
		return false
	}
	for i, s := range segs {
		if s.name != m.Segments[i].Name {
			return false
		}
	}
	return true
}

func (b *backupRun) checkTarget() error {
	fsys := b.l.fs
	if abs, err := filepath.Abs(b.dir); err == nil {
		src, _ := filepath.Abs(b.l.dir)
		if rel, err := filepath.Rel(src, abs); err == nil && (rel == "." || !strings.HasPrefix(rel, "..")) {
			return fmt.Errorf("backup target %s is inside the ledger %s: %w", b.dir, b.l.dir, ErrBackupTarget)
		}
	}
	if _, err := fsys.Stat(b.dir); err != nil {
		if isNotExist(err) {
			return nil
		}
		return err
	}
	names, err := fsys.List(b.dir)
	if err != nil {
		return fmt.Errorf("backup target %s: %w (%w)", b.dir, err, ErrBackupTarget)
	}
	if len(names) > 0 {
		return fmt.Errorf("backup target %s is not empty (it holds %q): %w", b.dir, names[0], ErrBackupTarget)
	}
	return nil
}

// readSince loads the manifest of the previous backup named by Since.
func (b *backupRun) readSince() error {
	fsys := b.l.fs
	if err := checkBackupMarker(fsys, b.o.Since); err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	pm, err := readManifestFile(fsys, b.o.Since)
	if err != nil {
		return fmt.Errorf("previous backup %s: %w", b.o.Since, err)
	}
	if id := b.l.man.Load().LedgerID; pm.LedgerID != id {
		return fmt.Errorf("previous backup %s is of ledger %s, not %s: %w", b.o.Since, pm.LedgerID, id, ErrBackupTarget)
	}
	b.since = make(map[string]manifestSeg, len(pm.Segments))
	for _, s := range pm.Segments {
		b.since[s.Name] = s
	}
	return nil
}

func (b *backupRun) run(ctx context.Context) error {
	l, fsys := b.l, b.l.fs
	// 1. The directory and the marker, durable before anything else.
	if _, err := fsys.Stat(b.dir); isNotExist(err) {
		if err := mkdirDurable(fsys, b.dir); err != nil {
			return err
		}
		b.createdDir = true
	}
	if err := writeFileAtomic(fsys, b.dir, backupMarker, []byte(backupMarkerText)); err != nil {
		return fmt.Errorf("marker: %w", err)
	}
	b.marked = true
	for _, d := range []string{segDirName, walDirName} {
		if err := fsys.MkdirAll(filepath.Join(b.dir, d)); err != nil {
			return err
		}
	}
	if err := fsys.SyncDir(b.dir); err != nil {
		return err
	}

	// 2. Sealed segments: link or copy every file.
	t := time.Now()
	for i, s := range b.v.segs {
		ms := b.man.Segments[i]
		for _, f := range segFiles {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := b.transfer(s, ms, f); err != nil {
				return err
			}
		}
	}

	// The Merkle tree's chunks of the snapshot's sealed events (after a
	// retention drop the only copy of the dropped prefix's hashes).
	if err := b.copyTree(); err != nil {
		return fmt.Errorf("tree: %w", err)
	}
	if err := b.copyLeaves(); err != nil {
		return fmt.Errorf("tree leaves: %w", err)
	}
	b.rep.FilesTook = time.Since(t)

	// 3. The unsealed tail, from the snapshot, as one new segment.
	t = time.Now()
	newMan := b.man.clone()
	newMan.WALObsolete = nil // names the source's WAL files; the copy has none
	head, err := b.writeTail(newMan)
	if err != nil {
		return err
	}
	if err := fsys.SyncDir(filepath.Join(b.dir, segDirName)); err != nil {
		return err
	}
	b.rep.TailTook = time.Since(t)

	// 4. The manifest, last: it names only durable files. Same ledger id
	// (digests of the original verify against the copy), new WAL salt.
	var salt [8]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return err
	}
	newMan.Salt = binary.LittleEndian.Uint64(salt[:]) | 1
	if err := storeManifest(fsys, b.dir, newMan); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	b.created = append(b.created, filepath.Join(b.dir, manifestName))
	rep := b.rep
	rep.Head = Digest{LedgerID: newMan.LedgerID, Seq: b.v.lastSeq(), Hash: head, HashHex: hashHex(head)}
	rep.Segments = len(newMan.Segments)
	for _, s := range newMan.Segments {
		rep.Events += s.Count
	}

	// 5. Read the copy back.
	if !b.o.NoVerify {
		t = time.Now()
		if err := b.verify(ctx); err != nil {
			return err
		}
		rep.Verified = true
		rep.VerifyTook = time.Since(t)
	}

	// 6. Complete: remove the marker durably.
	if err := fsys.Remove(filepath.Join(b.dir, backupMarker)); err != nil {
		return err
	}
	if err := fsys.SyncDir(b.dir); err != nil {
		// The marker may still be on disk after a power loss; the copy
		// is complete but would be refused, so report the failure.
		return err
	}
	b.marked = false
	l.log.Debug("backup marker removed", "dir", b.dir)
	return nil
}

// transfer links or copies one file of segment s into the backup,
// preferring the previous backup's copy when it holds the same segment.
func (b *backupRun) transfer(s *sealedSeg, ms manifestSeg, f segFile) error {
	fsys := b.l.fs
	if f.has != nil && !f.has(ms) {
		return nil
	}
	dst := filepath.Join(b.dir, segDirName, ms.Name+f.ext)
	var srcs []string
	if p, ok := b.since[ms.Name]; ok && sameSeg(p, ms) {
		srcs = append(srcs, b.o.Since)
	}
	srcs = append(srcs, b.l.dir)
	for i, root := range srcs {
		src := filepath.Join(root, segDirName, ms.Name+f.ext)
		n, linked, err := b.linkOrCopy(root, src, dst)
		if err == nil {
			b.count(n, linked, root != b.l.dir)
			return nil
		}
		if !isNotExist(err) {
			return err
		}
		if i < len(srcs)-1 {
			continue // not in the previous backup: take the ledger's
		}
		if f.rebuild != nil {
			// The file vanished (compacted away in another process)
			// or was never written (a read-only open rebuilt a
			// missing index in memory): derive it from the segment.
			data, rerr := f.rebuild(s)
			if rerr != nil {
				return fmt.Errorf("rebuild %s: %w", dst, rerr)
			}
			if werr := index.WriteFile(fsys, dst, data); werr != nil {
				return werr
			}
			b.created = append(b.created, dst)
			b.count(int64(len(data)), false, false)
			return nil
		}
		return fmt.Errorf("%w: %w", errSourceChanged, err)
	}
	return nil
}

func (b *backupRun) count(n int64, linked, fromSince bool) {
	if linked {
		b.rep.Linked++
		b.rep.LinkedBytes += n
	} else {
		b.rep.Copied++
		b.rep.CopiedBytes += n
	}
	if fromSince {
		b.rep.FromSince++
	}
}

// sameSeg reports whether two manifest entries describe the same segment
// file contents (its hash chain binds its records).
func sameSeg(a, b manifestSeg) bool {
	return a.Name == b.Name && a.FirstSeq == b.FirstSeq && a.LastSeq == b.LastSeq &&
		a.Count == b.Count && a.ChainStart == b.ChainStart && a.ChainEnd == b.ChainEnd && a.Vectors == b.Vectors
}

// linkOrCopy makes dst a hard link to src, or a durable copy when the two
// are on different file systems (or the file system has no hard links).
func (b *backupRun) linkOrCopy(root, src, dst string) (n int64, linked bool, err error) {
	fsys := b.l.fs
	if !b.linkOK[root] {
		err := vfs.Link(fsys, src, dst)
		if err == nil {
			b.created = append(b.created, dst)
			size, serr := fsys.Stat(dst)
			return size, true, serr
		}
		if !vfs.CanCopyInstead(err) {
			return 0, false, err
		}
		b.l.log.Debug("backup: copying instead of linking", "from", root, "reason", err)
		b.linkOK[root] = true
	}
	n, err = b.copyFile(src, dst)
	return n, false, err
}

// copyFile copies src to dst and fsyncs dst (the caller syncs the
// directory).
func (b *backupRun) copyFile(src, dst string) (int64, error) {
	fsys := b.l.fs
	in, err := fsys.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := fsys.Create(dst)
	if err != nil {
		return 0, err
	}
	b.created = append(b.created, dst)
	var off int64
	if r, ok := in.(io.Reader); ok {
		// OS files: io.Copy reaches copy_file_range(2).
		off, err = io.Copy(out, r)
		if err != nil {
			out.Close()
			return off, err
		}
		if err := out.Sync(); err != nil {
			out.Close()
			return off, err
		}
		return off, out.Close()
	}
	buf := make([]byte, 4<<20)
	for {
		k, rerr := in.ReadAt(buf, off)
		if k > 0 {
			if _, werr := out.Write(buf[:k]); werr != nil {
				out.Close()
				return off, werr
			}
			off += int64(k)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			out.Close()
			return off, rerr
		}
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return off, err
	}
	return off, out.Close()
}

// writeTail writes the snapshot's unsealed events as one segment plus its
// index and adds it to m. It returns the chain value after the snapshot's
// last event.
func (b *backupRun) writeTail(m *ledgerManifest) ([32]byte, error) {
	l, v := b.l, &b.v
	_, chain := m.tail()
	var recs [][]byte
	var times []string
	var vecs [][]float32
	for i := range v.mts {
		recs = append(recs, v.recs[i][:v.ns[i]]...)
		times = append(times, v.times[i][:v.ns[i]]...)
		for o := range v.ns[i] {
			var vec []float32
			if o < len(v.vecs[i]) {
				vec = v.vecs[i][o]
			}
			vecs = append(vecs, vec)
		}
	}
	if len(recs) == 0 {
		return chain, nil
	}
	first := v.mts[0].base
	for i, m := range v.mts {
		if v.ns[i] > 0 {
			first = m.base
			break
		}
	}
	last := first + uint64(len(recs)) - 1
	if want := tailStart(m); first != want {
		return chain, fmt.Errorf("the unsealed events start at seq %d, not %d after the last segment", first, want)
	}
	if last != v.lastSeq() {
		return chain, fmt.Errorf("tail seq %d-%d does not end at the snapshot's seq %d", first, last, v.lastSeq())
	}
	m.Gen++
	name := segName(first, last, m.Gen)
	path := filepath.Join(b.dir, segDirName, name+".seg")
	w, err := segment.NewWriter(l.fs, path, segment.Options{BlockSize: l.opts.BlockSize, Level: l.opts.CompressionLevel,
		EntropyLiterals: l.opts.EntropyLiterals, Concurrency: l.opts.SealWorkers}, chain)
	if err != nil {
		return chain, err
	}
	b.created = append(b.created, path+".tmp", path)
	for i, rec := range recs {
		if err := w.Append(segment.Record{Seq: first + uint64(i), Time: times[i], Data: rec}); err != nil {
			w.Abort()
			return chain, err
		}
	}
	info, err := w.Finish(nil)
	if err != nil {
		return chain, err
	}
	// The index from the records alone (tainted: never the live
	// memtable's index, which may hold entries past the snapshot).
	ixData, err := sealIndex(&memtable{base: first, recs: recs, tainted: true}, len(recs))
	if err != nil {
		return chain, fmt.Errorf("tail index: %w", err)
	}
	ipath := filepath.Join(b.dir, segDirName, name+".idx")
	b.created = append(b.created, ipath+".tmp", ipath)
	if err := index.WriteFile(l.fs, ipath, ixData); err != nil {
		return chain, err
	}
	vdata, nvec := vecFileOf(m.EmbeddingDim, uint64(len(recs)), vecs)
	if nvec > 0 {
		m.addFeature(featureVecBlocks) // a layout-2 vector file
		vpath := filepath.Join(b.dir, segDirName, name+vecExt)
		b.created = append(b.created, vpath+".tmp", vpath)
		if err := writeVecFile(l.fs, vpath, vdata); err != nil {
			return chain, err
		}
	}
	m.Segments = append(m.Segments, manifestSeg{
		Name: name, FirstSeq: first, LastSeq: last, Count: uint64(len(recs)),
		ChainStart: hashHex(info.ChainStart), ChainEnd: hashHex(info.ChainEnd), Vectors: nvec,
	})
	b.rep.TailEvents = uint64(len(recs))
	b.rep.TailBytes = info.FileBytes + int64(len(ixData))
	return info.ChainEnd, nil
}

// tailStart is the sequence number after the manifest's last segment (or
// retention record, or recorded gap).
func tailStart(m *ledgerManifest) uint64 {
	n, _ := m.tail()
	return n
}

// verify opens the copy read-only (past its marker) and checks every
// block, index and chain link, and that it ends on the reported head.
func (b *backupRun) verify(ctx context.Context) error {
	l := b.l
	c, err := Open(b.dir, &Options{FS: l.fs, ReadOnly: true, Logger: l.log, CacheBytes: 8 << 20, skipBackupMarker: true})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer c.Close()
	vr, err := c.Verify(ctx, nil)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	want := b.rep.Head
	if vr.Head.Seq != want.Seq || vr.Head.Hash != want.Hash || vr.Events != b.rep.Events {
		return &IntegrityError{File: b.dir, Seq: vr.Head.Seq, Reason: fmt.Sprintf(
			"the copy ends at seq %d (%s, %d events), the backup wrote seq %d (%s, %d events)",
			vr.Head.Seq, vr.Head.HashHex, vr.Events, want.Seq, want.HashHex, b.rep.Events)}
	}
	return nil
}

// cleanup undoes a failed backup as far as it can. The manifest goes
// first (durably), the marker last, so whatever a crash leaves is either
// refused by Open or not a ledger at all.
func (b *backupRun) cleanup() {
	fsys := b.l.fs
	if !b.marked {
		return // nothing was created, or the marker never became durable
	}
	man := filepath.Join(b.dir, manifestName)
	if err := fsys.Remove(man); err != nil && !isNotExist(err) {
		return
	}
	if err := fsys.SyncDir(b.dir); err != nil {
		return
	}
	for i := len(b.created) - 1; i >= 0; i-- {
		fsys.Remove(b.created[i])
	}
	for _, d := range []string{segDirName, walDirName} {
		if err := fsys.Remove(filepath.Join(b.dir, d)); err != nil && !isNotExist(err) {
			return // something else is in there: keep the marker
		}
	}
	if err := fsys.SyncDir(b.dir); err != nil {
		return
	}
	if err := fsys.Remove(filepath.Join(b.dir, backupMarker)); err != nil {
		return
	}
	if b.createdDir {
		fsys.Remove(b.dir)
		fsys.SyncDir(filepath.Dir(b.dir))
	} else {
		fsys.SyncDir(b.dir)
	}
}

// copyTree writes the source's TREE, cut to the chunks of the snapshot's
// sealed events, into the backup (8.1), streaming it (copyTreeFile: reads
// of at most 1 MiB, each frame's checksum checked before it is copied, the
// first frame that does not check out ending the copy). A missing or
// unreadable TREE, or one of another ledger, is skipped: the copy rebuilds
// it at its first writable Open.
func (b *backupRun) copyTree() error {
	l := b.l
	if l.opts.NoMerkleTree {
		return nil
	}
	skip := func(err error) error {
		if !isNotExist(err) {
			l.log.Warn("backup: Merkle tree file not copied; the copy rebuilds it", "err", err)
		}
		return nil
	}
	in, err := l.fs.Open(l.treePath())
	if err != nil {
		return skip(err)
	}
	defer in.Close()
	size, err := in.Size()
	if err != nil {
		return skip(err)
	}
	tmp := filepath.Join(b.dir, treeFileName+".tmp")
	out, err := l.fs.Create(tmp)
	if err != nil {
		return err
	}
	b.created = append(b.created, tmp)
	fail := func(err error) error {
		out.Close()
		l.fs.Remove(tmp)
		return err
	}
	limit := int64(l.sealedThrough(&b.v) / treeChunk)
	_, rerr, werr := copyTreeFile(in, size, l.treePath(), l.ID(), limit, out)
	if werr != nil {
		return fail(werr)
	}
	if rerr != nil {
		return skip(fail(rerr))
	}
	if err := out.Sync(); err != nil {
		return fail(err)
	}
	if err := out.Close(); err != nil {
		l.fs.Remove(tmp)
		return err
	}
	if err := l.fs.Rename(tmp, filepath.Join(b.dir, treeFileName)); err != nil {
		l.fs.Remove(tmp)
		return err
	}
	b.created = append(b.created, filepath.Join(b.dir, treeFileName))
	return l.fs.SyncDir(b.dir)
}
