package ledger_test

// Exhaustive corruption sweeps (reliability research T3/T4/T5, guarantees
// G4, G5, G9): a small ledger (sealed segments with their indexes, a
// MANIFEST and a WAL tail) is damaged one way at a time: every file
// truncated at every offset, every bit of every sealed segment and index
// flipped, every 512-byte sector of every file zeroed. Each damaged copy
// must either recover to a valid state (only for damage to the WAL's tail,
// which may drop the batches from the damage on, or to an index, which is
// rebuilt with identical answers), or fail with a *CorruptionError or
// *IntegrityError naming the damaged file. Never a panic, never a silently
// wrong answer.

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

type sweepFixture struct {
	files   map[string][]byte // path -> content
	paths   []string          // sorted
	batches []relBatch
}

func sweepOpts(fsys vfs.FS) *ledger.Options {
	return &ledger.Options{
		FS:           fsys,
		Sync:         ledger.SyncAlways,
		SegmentBytes: 1 << 20, // sealed only by Flush
		SegmentAge:   -1,
		BlockSize:    1 << 10,
		WALFileSize:  8 << 10,
		EmbeddingDim: relDim,
		SealLayout:   relLayout,
	}
}

// buildSweepFixture writes 3 sealed segments and a WAL tail.
func buildSweepFixture(t testing.TB) *sweepFixture {
	ctx := context.Background()
	mem := relNewMem()
	l, err := ledger.Open("/l", sweepOpts(mem))
	if err != nil {
		t.Fatal(err)
	}
	g := workload.New(workload.Config{Seed: 42, OutlierRate: -1, Tenants: 3})
	fx := &sweepFixture{files: map[string][]byte{}}
	id := 0
	for seg := 0; seg < 4; seg++ {
		for i := 0; i < 3; i++ {
			b := relNewBatch(g, id, 1+(id*3)%3)
			id++
			if err := relAppend(ctx, l, b); err != nil {
				t.Fatal(err)
			}
			fx.batches = append(fx.batches, b)
		}
		if seg < 3 {
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The durable image as a crash would leave it: Close would seal the
	// WAL tail into a segment, and the sweep wants a WAL tail too.
	img := mem.Crash(vfs.CrashDropUnsynced, nil)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	mem = img
	var walk func(dir string)
	walk = func(dir string) {
		names, _ := mem.List(dir)
		for _, n := range names {
			p := filepath.Join(dir, n)
			if data, err := mem.ReadFile(p); err == nil {
				if n != "LOCK" {
					fx.files[p] = data
					fx.paths = append(fx.paths, p)
				}
			} else {
				walk(p)
			}
		}
	}
	walk("/l")
	slices.Sort(fx.paths)
	return fx
}

// image builds a MemFS holding the fixture with path replaced by data.
func (fx *sweepFixture) image(path string, data []byte) *vfs.MemFS {
	mem := vfs.NewMem()
	for _, d := range []string{"/l/wal", "/l/seg"} {
		mem.MkdirAll(d)
	}
	mem.SyncDir("/")
	mem.SyncDir("/l")
	for _, p := range fx.paths {
		c := fx.files[p]
		if p == path {
			c = data
		}
		if err := mem.WriteFile(p, c); err != nil {
			panic(err)
		}
	}
	return mem
}

func fileKind(p string) string {
	switch {
	case strings.HasSuffix(p, ".wal"):
		return "wal"
	case strings.HasSuffix(p, ".seg"):
		return "seg"
	case strings.HasSuffix(p, ".idx"):
		return "idx"
	case strings.HasSuffix(p, ".vec"):
		return "vec"
	case filepath.Base(p) == "MANIFEST":
		return "manifest"
	case filepath.Base(p) == "TREE":
		return "tree" // derived, like an index: rebuilt from the events
	}
	return "other"
}

type sweepStats struct {
	cases, recoveredFull, recoveredPrefix, rebuilt, detectedOpen, detectedRead, detectedVerify int
	undetected, wrongAnswer, wrongFile, panics, violations, otherWAL                           int
	msgs                                                                                       []string
}

func (s *sweepStats) fail(format string, args ...any) {
	s.violations++
	if len(s.msgs) < 10 {
		s.msgs = append(s.msgs, fmt.Sprintf(format, args...))
	}
}

// namesFile reports whether err is a *CorruptionError or *IntegrityError
// naming path.
func namesFile(err error, path string) (typed, named bool) {
	var ce *ledger.CorruptionError
	if errors.As(err, &ce) {
		return true, filepath.Base(ce.File) == filepath.Base(path)
	}
	var ie *ledger.IntegrityError
	if errors.As(err, &ie) {
		return true, filepath.Base(ie.File) == filepath.Base(path)
	}
	return false, false
}

// walNamed reports whether err names a file of the WAL directory.
func walNamed(err error) bool {
	var ce *ledger.CorruptionError
	return errors.As(err, &ce) && strings.HasSuffix(ce.File, ".wal") && filepath.Base(filepath.Dir(ce.File)) == "wal"
}

// sweepCase opens one damaged image and classifies the outcome. It returns
// the number of batches recovered (-1 when an error was reported).
func sweepCase(ctx context.Context, st *sweepStats, fx *sweepFixture, what, path string, data []byte, damaged bool) (recovered int) {
	st.cases++
	kind := fileKind(path)
	where := fmt.Sprintf("%s %s", what, path)
	defer func() {
		if r := recover(); r != nil {
			st.panics++
			st.fail("%s: panic: %v\n%s", where, r, debug.Stack())
			recovered = -1
		}
	}()
	detected := func(stage string, err error, counter *int) int {
		typed, named := namesFile(err, path)
		if typed && !named && kind == "wal" && walNamed(err) {
			st.otherWAL++ // another WAL file named: counted, and a failure below
		}
		switch {
		case !typed:
			st.fail("%s: %s error is not a CorruptionError/IntegrityError: %v", where, stage, err)
		case !named:
			st.wrongFile++
			st.fail("%s: %s error names another file: %v", where, stage, err)
		default:
			*counter++
		}
		return -1
	}
	img := fx.image(path, data)
	l, err := ledger.Open("/l", sweepOpts(img))
	if err != nil {
		return detected("open", err, &st.detectedOpen)
	}
	defer l.Close()
	known := relKnown(relAsAcked(fx.batches))
	state, err := relReadAll(ctx, l, known)
	if err != nil {
		if _, named := namesFile(err, path); !named && strings.Contains(err.Error(), "differs") {
			st.wrongAnswer++
		}
		return detected("read", err, &st.detectedRead)
	}
	// What was recovered must be a prefix of what was written.
	n := len(state.batches)
	for i, b := range state.batches {
		if b.id != fx.batches[i].id {
			st.wrongAnswer++
			st.fail("%s: batch %d is %d, want %d", where, i, b.id, fx.batches[i].id)
			return -1
		}
	}
	if err := relCompareQueries(ctx, l, state); err != nil {
		if typed, _ := namesFile(err, path); typed {
			return detected("query", err, &st.detectedRead)
		}
		st.wrongAnswer++
		st.fail("%s: wrong query answer: %v", where, err)
		return -1
	}
	_, verr := l.Verify(ctx, nil)
	if verr != nil {
		return detected("verify", verr, &st.detectedVerify)
	}
	switch {
	case n < len(fx.batches) && kind != "wal":
		st.fail("%s: silently lost %d of %d batches", where, len(fx.batches)-n, len(fx.batches))
	case n < len(fx.batches):
		st.recoveredPrefix++
	case !damaged:
		st.recoveredFull++
	case kind == "idx", kind == "tree":
		st.rebuilt++
	case kind == "wal":
		st.recoveredFull++ // damage in the WAL's zero-filled or covered part
	default:
		st.undetected++
		st.fail("%s: damage to a %s file went undetected (open, read, query and Verify all succeeded)", where, kind)
	}
	return n
}

func TestSweepTruncateEveryOffset(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	fx := buildSweepFixture(t)
	st := &sweepStats{}
	perKind := map[string]int{}
	// Every offset within 512 bytes of either end of each file (headers,
	// footers, the last frames) and of the whole MANIFEST and indexes;
	// every stride-th offset elsewhere (every offset with EXLEDGER_LONG).
	stride := 5
	if testing.Short() {
		stride = 11
	}
	if relLong() {
		stride = 1
	}
	total := 0
	for _, p := range fx.paths {
		full := fx.files[p]
		// Bytes after the last nonzero byte of a pre-allocated WAL file are
		// all zero: sample those offsets every 256 bytes.
		lastNZ := len(full)
		for lastNZ > 0 && full[lastNZ-1] == 0 {
			lastNZ--
		}
		prev := -1
		total += len(full)
		for off := 0; off < len(full); off++ {
			k := fileKind(p)
			edge := off < 512 || off >= lastNZ-512 || k == "idx" || k == "manifest"
			if off > lastNZ+8 && off%256 != 0 {
				continue
			}
			if !edge && off%stride != 0 {
				continue
			}
			if k == "manifest" && off == 0 {
				continue // an empty MANIFEST: TestSweepEmptyManifest
			}
			perKind[fileKind(p)]++
			n := sweepCase(ctx, st, fx, fmt.Sprintf("truncate@%d", off), p, full[:off], true)
			if fileKind(p) == "wal" && n >= 0 {
				if n < prev {
					st.fail("truncate@%d %s: recovered %d batches, fewer than at a shorter length (%d)", off, p, n, prev)
				}
				prev = n
			}
		}
	}
	for _, m := range st.msgs {
		t.Error(m)
	}
	relReport(t, "test=T3-truncate files=%d bytes=%d offsets=%d seg=%d idx=%d wal=%d manifest=%d recovered_prefix=%d index_rebuilt=%d detected_open=%d detected_read=%d detected_verify=%d wal_error_names_next_file=%d undetected=%d wrong_answers=%d wrong_file=%d panics=%d violations=%d duration=%s",
		len(fx.paths), total, st.cases, perKind["seg"], perKind["idx"], perKind["wal"], perKind["manifest"], st.recoveredPrefix, st.rebuilt,
		st.detectedOpen, st.detectedRead, st.detectedVerify, st.otherWAL, st.undetected, st.wrongAnswer, st.wrongFile, st.panics, st.violations, time.Since(start).Round(time.Millisecond))
}

func TestSweepFlipEveryBit(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	fx := buildSweepFixture(t)
	st := &sweepStats{}
	var targets []string
	totalBits := 0
	edge := 512 // bits at either end of a file always flipped
	for _, p := range fx.paths {
		if k := fileKind(p); k == "seg" || k == "vec" || (!relSmall && k == "idx") {
			targets = append(targets, p)
			totalBits += 8 * len(fx.files[p])
		}
	}
	budget := 4_000
	if relShort() {
		budget = 1_500
	}
	if relLong() {
		budget = 1 << 30
	}
	if relSmall { // the segment and vector files only, fewer bits
		budget, edge = 500, 64
	}
	rng := rand.New(rand.NewSource(5))
	tried := 0
	flips, detected := map[string]int{}, map[string]int{}
	for _, p := range targets {
		full := fx.files[p]
		bits := 8 * len(full)
		// Every bit when the whole sweep fits the budget; otherwise a
		// proportional random sample of each file (every bit of the
		// first and last 64 bytes, where headers and footers live, always).
		share := bits
		if totalBits > budget {
			share = bits * budget / totalBits
		}
		var which []int
		if share >= bits {
			for b := 0; b < bits; b++ {
				which = append(which, b)
			}
		} else {
			set := map[int]bool{}
			for b := 0; b < bits; b++ {
				if b < edge || b >= bits-edge {
					set[b] = true
				}
			}
			for len(set) < share {
				set[rng.Intn(bits)] = true
			}
			for b := range set {
				which = append(which, b)
			}
			slices.Sort(which)
		}
		buf := slices.Clone(full)
		k := fileKind(p)
		for _, b := range which {
			buf[b/8] ^= 1 << (b % 8)
			v0 := st.violations
			n := sweepCase(ctx, st, fx, fmt.Sprintf("flip@%d.%d", b/8, b%8), p, buf, true)
			buf[b/8] ^= 1 << (b % 8)
			tried++
			flips[k]++
			if n < 0 && st.violations == v0 {
				detected[k]++
			}
		}
	}
	for _, m := range st.msgs {
		t.Error(m)
	}
	relReport(t, "test=T4-bitflip files=%d total_bits=%d flips=%d sampled=%v detected_open=%d detected_read=%d detected_verify=%d index_rebuilt=%d undetected=%d wrong_answers=%d wrong_file=%d panics=%d violations=%d duration=%s",
		len(targets), totalBits, tried, tried < totalBits, st.detectedOpen, st.detectedRead, st.detectedVerify, st.rebuilt,
		st.undetected, st.wrongAnswer, st.wrongFile, st.panics, st.violations, time.Since(start).Round(time.Millisecond))
	relReport(t, "test=T4-bitflip-vectors vec_files=%d vec_flips=%d vec_detected=%d seg_flips=%d seg_detected=%d",
		countKind(targets, "vec"), flips["vec"], detected["vec"], flips["seg"], detected["seg"])
	if countKind(targets, "vec") == 0 || flips["vec"] == 0 || detected["vec"] != flips["vec"] {
		t.Errorf("vector files: %d flips, %d detected (want every flip of a vector file detected)", flips["vec"], detected["vec"])
	}
}

func countKind(paths []string, kind string) int {
	n := 0
	for _, p := range paths {
		if fileKind(p) == kind {
			n++
		}
	}
	return n
}

func TestSweepZeroEverySector(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	fx := buildSweepFixture(t)
	st := &sweepStats{}
	skippedZero := 0
	for _, p := range fx.paths {
		full := fx.files[p]
		for off := 0; off < len(full); off += 512 {
			end := min(off+512, len(full))
			buf := slices.Clone(full)
			clear(buf[off:end])
			if slices.Equal(buf, full) {
				skippedZero++ // the sector was already zero: not damage
				continue
			}
			sweepCase(ctx, st, fx, fmt.Sprintf("zero-sector@%d", off), p, buf, true)
		}
	}
	for _, m := range st.msgs {
		t.Error(m)
	}
	relReport(t, "test=T4-zero-sector files=%d sectors=%d already_zero=%d recovered_prefix=%d index_rebuilt=%d detected_open=%d detected_read=%d detected_verify=%d wal_error_names_next_file=%d undetected=%d wrong_answers=%d wrong_file=%d panics=%d violations=%d duration=%s",
		len(fx.paths), st.cases, skippedZero, st.recoveredPrefix, st.rebuilt, st.detectedOpen, st.detectedRead, st.detectedVerify, st.otherWAL,
		st.undetected, st.wrongAnswer, st.wrongFile, st.panics, st.violations, time.Since(start).Round(time.Millisecond))
}

// The undamaged fixture opens to everything that was written.
func TestSweepFixtureIntact(t *testing.T) {
	ctx := context.Background()
	fx := buildSweepFixture(t)
	st := &sweepStats{}
	p := fx.paths[0]
	n := sweepCase(ctx, st, fx, "intact", p, fx.files[p], false)
	if n != len(fx.batches) || st.violations > 0 {
		t.Fatalf("intact fixture: recovered %d of %d batches: %v", n, len(fx.batches), st.msgs)
	}
	var sizes []string
	for _, p := range fx.paths {
		sizes = append(sizes, fmt.Sprintf("%s=%d", strings.TrimPrefix(p, "/l/"), len(fx.files[p])))
	}
	t.Logf("fixture: %d batches, files: %s", len(fx.batches), strings.Join(sizes, " "))
}

// A zero-length MANIFEST (a damaged disk) must give a CorruptionError
// naming it, not a bare io.EOF from reading zero bytes.
func TestSweepEmptyManifest(t *testing.T) {
	fx := buildSweepFixture(t)
	img := fx.image("/l/MANIFEST", nil)
	l, err := ledger.Open("/l", sweepOpts(img))
	if err == nil {
		l.Close()
		t.Fatal("a ledger with an empty MANIFEST opened")
	}
	if typed, named := namesFile(err, "/l/MANIFEST"); !typed || !named {
		t.Fatalf("empty MANIFEST: want a *CorruptionError naming MANIFEST, got %v", err)
	}
}
