package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// openCountFS wraps an FS and keeps every file (and lock) opened through it
// until it is closed, so a test can list what a ledger left open.
type openCountFS struct {
	vfs.FS
	mu   sync.Mutex
	open map[any]string // *countedFile / *countedLock -> name
	// failCreate, when set, is asked before each Create; an error fails
	// it. Guarded by mu (the ledger's background sealer creates files).
	failCreate func(name string) error
}

func (c *openCountFS) setFailCreate(f func(name string) error) {
	c.mu.Lock()
	c.failCreate = f
	c.mu.Unlock()
}

func newOpenCountFS(inner vfs.FS) *openCountFS {
	return &openCountFS{FS: inner, open: map[any]string{}}
}

type countedFile struct {
	vfs.File
	fs *openCountFS
}

func (f *countedFile) Close() error {
	f.fs.forget(f)
	return f.File.Close()
}

type countedLock struct {
	io.Closer
	fs   *openCountFS
	name string
}

func (c *countedLock) Close() error {
	c.fs.forget(c)
	return c.Closer.Close()
}

func (c *openCountFS) remember(k any, name string) {
	c.mu.Lock()
	c.open[k] = name
	c.mu.Unlock()
}

func (c *openCountFS) forget(k any) {
	c.mu.Lock()
	delete(c.open, k)
	c.mu.Unlock()
}

func (c *openCountFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	cf := &countedFile{File: f, fs: c}
	c.remember(cf, f.Name())
	return cf, nil
}

func (c *openCountFS) Create(name string) (vfs.File, error) {
	c.mu.Lock()
	fail := c.failCreate
	c.mu.Unlock()
	if fail != nil {
		if err := fail(name); err != nil {
			return nil, err
		}
	}
	return c.wrap(c.FS.Create(name))
}
func (c *openCountFS) Open(name string) (vfs.File, error)   { return c.wrap(c.FS.Open(name)) }
func (c *openCountFS) OpenRW(name string) (vfs.File, error) { return c.wrap(c.FS.OpenRW(name)) }
func (c *openCountFS) Lock(name string) (io.Closer, error) {
	cl, err := c.FS.Lock(name)
	if err != nil {
		return nil, err
	}
	k := &countedLock{Closer: cl, fs: c, name: name}
	c.remember(k, name+" (lock)")
	return k, nil
}

// names returns the names of the files and locks still open, sorted.
func (c *openCountFS) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, n := range c.open {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// count returns how many open files have a name ending in ext.
func (c *openCountFS) count(ext string) int {
	n := 0
	for _, name := range c.names() {
		if strings.HasSuffix(name, ext) {
			n++
		}
	}
	return n
}

// noneOpen fails the test with the list of what is still open.
func (c *openCountFS) noneOpen(t *testing.T, when string) {
	t.Helper()
	if names := c.names(); len(names) > 0 {
		t.Fatalf("%s: %d files left open: %v", when, len(names), names)
	}
}

// segNames returns the segments (base names without extension) in /l/seg.
func segNames(t *testing.T, fsys vfs.FS) []string {
	t.Helper()
	names, err := fsys.List("/l/seg")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, ".seg") {
			out = append(out, strings.TrimSuffix(n, ".seg"))
		}
	}
	return out
}

// fdFixture writes a ledger of several sealed segments, some with vectors,
// and closes it.
func fdFixture(t *testing.T, fsys vfs.FS) *workload.Generator {
	t.Helper()
	ctx := context.Background()
	o := smallOpts(fsys)
	o.EmbeddingDim = relDim
	l, err := ledger.Open("/l", o)
	if err != nil {
		t.Fatal(err)
	}
	g := workload.New(workload.Config{Seed: 31, OutlierRate: -1, Tenants: 4})
	for b := 0; b < 24; b++ {
		evs := g.Batch(50)
		if b%3 == 1 {
			ves := make([]ledger.VectorEvent, len(evs))
			for i := range evs {
				ves[i] = ledger.VectorEvent{Envelope: evs[i], Vector: relVector(b, i)}
			}
			err = l.AppendVectorEvents(ctx, ves)
		} else {
			err = l.AppendEvents(ctx, evs)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return g
}

// fdQueries runs queries that load index sections (dictionary, postings,
// time, event ids) and vector blocks of every segment.
func fdQueries(t *testing.T, l *ledger.Ledger, g *workload.Generator) {
	t.Helper()
	ctx := context.Background()
	for _, q := range queriesFor(g) {
		if _, err := l.QueryEvents(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.GetTraceLink(ctx, "tl-000001"); err != nil && !errors.Is(err, ledger.ErrNotFound) {
		t.Fatal(err)
	}
	if l.EmbeddingDim() > 0 {
		if _, err := l.SearchSimilar(ctx, ledger.SimilarQuery{Vector: relVector(1, 3), Limit: 5}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFilesClosedAfterCompactAndClose: a ledger with sealed segments keeps
// one handle per segment file and one per index file (lazy section loads),
// none for vector files (opened per read); Compact's replaced segments are
// closed once no read holds them (here: at once, no query running); Close
// releases every one.
func TestFilesClosedAfterCompactAndClose(t *testing.T) {
	ctx := context.Background()
	fsys := newOpenCountFS(vfs.NewMem())
	g := fdFixture(t, fsys)
	fsys.noneOpen(t, "after the fixture's Close")
	before := segNames(t, fsys)
	if len(before) < 4 {
		t.Fatalf("fixture has %d segments, want several", len(before))
	}
	o := smallOpts(fsys)
	o.EmbeddingDim = relDim
	l, err := ledger.Open("/l", o)
	if err != nil {
		t.Fatal(err)
	}
	fdQueries(t, l, g)
	// The wrapper does see the ledger's handles (the test is not vacuous).
	if n := fsys.count(".idx"); n != len(before) {
		t.Fatalf("%d index files open for %d segments: %v", n, len(before), fsys.names())
	}
	if n := fsys.count(".seg"); n != len(before) {
		t.Fatalf("%d segment files open for %d segments: %v", n, len(before), fsys.names())
	}
	if n := fsys.count(".vec"); n != 0 {
		t.Fatalf("%d vector files left open after the queries: %v", n, fsys.names())
	}
	rep, err := l.Compact(ctx, ledger.CompactOptions{TargetBytes: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	if rep.SegmentsAfter >= len(before) {
		t.Fatalf("compaction left %d of %d segments", rep.SegmentsAfter, len(before))
	}
	fdQueries(t, l, g)
	// Retired: closed (no read held them), the new segments' open.
	if n, want := fsys.count(".idx"), rep.SegmentsAfter; n != want {
		t.Fatalf("after Compact: %d index files open, want the %d live segments' (%d retired closed): %v", n, want, len(before), fsys.names())
	}
	if n, want := fsys.count(".seg"), rep.SegmentsAfter; n != want {
		t.Fatalf("after Compact: %d segment files open, want the %d live segments': %v", n, want, fsys.names())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fsys.noneOpen(t, "after Compact and Close")

	// Read-only handles (ledgerctl, the inspector) too.
	o.ReadOnly = true
	r, err := ledger.Open("/l", o)
	if err != nil {
		t.Fatal(err)
	}
	fdQueries(t, r, g)
	if fsys.count(".idx") == 0 {
		t.Fatalf("read-only Open keeps no index open: %v", fsys.names())
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	fsys.noneOpen(t, "after a read-only Open and Close")
}

// TestOpenCloseCyclesLeaveNoFiles: repeated Open, queries, appends and
// Close (writable and read-only) leave nothing open.
func TestOpenCloseCyclesLeaveNoFiles(t *testing.T) {
	ctx := context.Background()
	fsys := newOpenCountFS(vfs.NewMem())
	g := fdFixture(t, fsys)
	for i := range 5 {
		o := smallOpts(fsys)
		o.EmbeddingDim = relDim
		o.ReadOnly = i%2 == 1
		l, err := ledger.Open("/l", o)
		if err != nil {
			t.Fatal(err)
		}
		fdQueries(t, l, g)
		if !o.ReadOnly {
			if err := l.AppendEvents(ctx, g.Batch(120)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		fsys.noneOpen(t, fmt.Sprintf("cycle %d (read-only %v)", i, o.ReadOnly))
	}
}

// TestFilesClosedOnOpenFailureAndRebuild: an Open that fails at a later
// segment closes the earlier ones' index files; an index replaced because
// its event count does not match is closed before the rebuild.
func TestFilesClosedOnOpenFailureAndRebuild(t *testing.T) {
	fsys := newOpenCountFS(vfs.NewMem())
	fdFixture(t, fsys)
	segs := segNames(t, fsys)
	o := smallOpts(fsys)
	o.EmbeddingDim = relDim

	// An index of another segment (another event count): rebuilt.
	a, b := "/l/seg/"+segs[0]+".idx", "/l/seg/"+segs[len(segs)-1]+".idx"
	data, err := vfsReadFile(fsys, b)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := vfsReadFile(fsys, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := vfsWriteFile(fsys, a, data); err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open("/l", o)
	if err != nil {
		t.Fatal(err)
	}
	if n := l.Metrics().RecoveryIndexRebuilds; n != 1 {
		t.Fatalf("%d index rebuilds, want 1 (do the two segments have the same count?)", n)
	}
	if n := fsys.count(".idx"); n != len(segs) {
		t.Fatalf("after a rebuild: %d index files open for %d segments: %v", n, len(segs), fsys.names())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fsys.noneOpen(t, "after an Open that rebuilt an index")
	got, err := vfsReadFile(fsys, a)
	if err != nil || string(got) != string(orig) {
		t.Fatalf("rebuilt index differs from the original (err %v)", err)
	}

	// The last segment's file is gone: Open fails after opening the others.
	last := "/l/seg/" + segs[len(segs)-1] + ".seg"
	if err := fsys.Remove(last); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.Open("/l", o); err == nil {
		t.Fatal("Open succeeded without a segment file")
	}
	fsys.noneOpen(t, "after a failed Open")
}

// TestFilesClosedAfterFailedCompact: a compaction that fails after writing
// some new segments closes them with their files.
func TestFilesClosedAfterFailedCompact(t *testing.T) {
	ctx := context.Background()
	fsys := newOpenCountFS(vfs.NewMem())
	g := fdFixture(t, fsys)
	segs := segNames(t, fsys)
	o := smallOpts(fsys)
	o.EmbeddingDim = relDim
	l, err := ledger.Open("/l", o)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	fsys.setFailCreate(func(name string) error {
		if !strings.Contains(path.Base(name), "-c.seg") {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if n++; n == 2 { // the second merged segment
			return &pathErr{name}
		}
		return nil
	})
	// Two segments per group: several groups.
	if _, err := l.Compact(ctx, ledger.CompactOptions{TargetBytes: 1}); err == nil {
		t.Fatal("Compact succeeded with a failing create")
	}
	fsys.setFailCreate(nil)
	mu.Lock()
	defer mu.Unlock()
	if n < 2 {
		t.Fatalf("only %d merged segments were started", n)
	}
	if c := fsys.count(".idx"); c != len(segs) {
		t.Fatalf("after a failed Compact: %d index files open, want the %d of the view: %v", c, len(segs), fsys.names())
	}
	fdQueries(t, l, g)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fsys.noneOpen(t, "after a failed Compact and Close")
}

type pathErr struct{ name string }

func (e *pathErr) Error() string { return "create " + e.name + ": injected" }
func (e *pathErr) Unwrap() error { return syscall.EIO }

// TestFilesClosedByBackupVerifyRepairTail: Backup, BackupDir, Verify,
// Repair and a TailReader reading sealed events leave nothing open.
func TestFilesClosedByBackupVerifyRepairTail(t *testing.T) {
	ctx := context.Background()
	fsys := newOpenCountFS(vfs.NewMem())
	g := fdFixture(t, fsys)
	o := smallOpts(fsys)
	o.EmbeddingDim = relDim
	l, err := ledger.Open("/l", o)
	if err != nil {
		t.Fatal(err)
	}
	fdQueries(t, l, g)
	if _, err := l.Backup(ctx, "/b1"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Verify(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fsys.noneOpen(t, "after Backup, Verify and Close")
	if _, err := ledger.BackupDir(ctx, "/l", "/b2", o, ledger.BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	fsys.noneOpen(t, "after BackupDir")
	if _, err := ledger.Repair("/b1", o, ""); err != nil {
		t.Fatal(err)
	}
	fsys.noneOpen(t, "after Repair")

	tr, err := ledger.OpenTail("/l", o, 1)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for {
		n0 := got
		if _, err := tr.Read(ctx, ledger.EventQuery{}, func(ledger.SeqEnvelope) bool { got++; return true }); err != nil {
			t.Fatal(err)
		}
		if got == n0 {
			break
		}
	}
	if got == 0 {
		t.Fatal("the tail reader delivered nothing")
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	fsys.noneOpen(t, "after a TailReader read sealed events")
}

func vfsReadFile(fsys vfs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := f.Size()
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

func vfsWriteFile(fsys vfs.FS, name string, data []byte) error {
	f, err := fsys.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// TestFilesClosedAfterFailedSealManifest: a seal whose manifest write
// fails closes the new segment's reader and index (the segment never
// enters the view).
func TestFilesClosedAfterFailedSealManifest(t *testing.T) {
	ctx := context.Background()
	fsys := newOpenCountFS(vfs.NewMem())
	g := fdFixture(t, fsys)
	o := smallOpts(fsys)
	o.EmbeddingDim = relDim
	l, err := ledger.Open("/l", o)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AppendEvents(ctx, g.Batch(30)); err != nil {
		t.Fatal(err)
	}
	var failed atomic.Bool
	fsys.setFailCreate(func(name string) error {
		if path.Base(name) == "MANIFEST.tmp" {
			failed.Store(true)
			return &pathErr{name}
		}
		return nil
	})
	if err := l.Flush(); err == nil {
		t.Fatal("Flush succeeded with a failing manifest write")
	}
	if !failed.Load() {
		t.Fatal("the manifest write was not attempted")
	}
	l.Close()
	fsys.setFailCreate(nil)
	fsys.noneOpen(t, "after a seal whose manifest write failed, and Close")
}

// TestScanAcrossCompactKeepsRetiredFiles: a scan whose view was taken
// before a Compact keeps reading the replaced segments' indexes and
// blocks after the switch (with a 1-byte index cache every section is read
// from the file again at each use), so retired handles cannot be closed
// before the scan ends (segrefs_test.go checks they are closed then);
// Close then releases everything.
func TestScanAcrossCompactKeepsRetiredFiles(t *testing.T) {
	ctx := context.Background()
	fsys := newOpenCountFS(vfs.NewMem())
	g := fdFixture(t, fsys)
	o := smallOpts(fsys)
	o.EmbeddingDim = relDim
	o.IndexCacheBytes = 1
	o.CacheBytes = 1
	l, err := ledger.Open("/l", o)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queriesFor(g)[1:] {
		want, err := l.QueryEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) < 2 {
			continue
		}
		got := 0
		compacted := false
		for e, err := range l.Scan(ctx, q) {
			if err != nil {
				t.Fatalf("scan across a Compact: %v", err)
			}
			if e.EventID != want[got].EventID {
				t.Fatalf("result %d: %s, want %s", got, e.EventID, want[got].EventID)
			}
			got++
			if !compacted {
				compacted = true
				if _, err := l.Compact(ctx, ledger.CompactOptions{TargetBytes: 1 << 40}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if got != len(want) {
			t.Fatalf("scan across a Compact: %d results, want %d", got, len(want))
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fsys.noneOpen(t, "after scans across compactions, and Close")
}
