package main

// The ledger-scale run (issue 17 goal 3): one exledger ledger grown through
// a list of sizes (1M, 10M and, opt-in, 100M events) with the durable
// defaults, and at each size a fresh child process that opens it and
// measures open time, queries, the peak RSS of open + queries, a full
// decoded scan, and bytes per event. Sizes of 100M events or more run only
// with EXLEDGER_BENCH_100M=1 (about 20 GB of disk and an hour of machine):
//
//	cd bench && go run . -ledger-sizes 1000000,10000000 -ledger-dir /tmp/exl-scale -out '' -plots ../docs/plots
//	EXLEDGER_BENCH_100M=1 go run . -ledger-sizes 1000000,10000000,100000000 ...
//
// The child is this binary again (-scale-child), so that the peak RSS it
// reports (VmHWM of /proc/self/status) holds only what opening and
// querying the ledger cost, not the build.

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
	"golang.org/x/sys/unix"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// bigN is the size from which the child measures less, so that the 100M
// point fits in an hour of a shared machine: the tenant+kind 1% query
// (about a full scan at that size) is skipped, the other queries run
// bigReps times instead of five, and the decoded scan is timed over a
// prefix of scanBound.
const (
	bigN      = 20_000_000
	bigReps   = 3 // odd, so that the median is one of the runs, not the slower of two
	scanBound = 120 * time.Second
)

// scaleBatch is the build's batch size: the fastest durable path is large
// batches (one WAL fdatasync each) with the default options.
const scaleBatch = 10_000

// scaleParams are the queries of one size, chosen from the statistics of
// the events appended so far.
type scaleParams struct {
	N                      int
	Sel01Tenant, Sel01Kind string // tenant+kind pair nearest 0.1%
	Sel01Want              int
	Sel1Tenant, Sel1Kind   string // tenant+kind pair nearest 1%
	Sel1Want               int
	TRStart, TREnd         string // occurred_at of events N/2 and N/2+N/100 (~1%)
	Traces                 []string
}

// scaleResult is what the child measures at one size.
type scaleResult struct {
	N               int
	OpenFirstMs     float64 // first Open in the child (page cache as the build left it)
	OpenFirstCPUMs  float64 // its process CPU (the process start's runtime work is before it)
	OpenMs          float64 // median of the next opens
	OpenCPUMs       float64 // median process CPU (user + system) of those opens, background loads meanwhile included
	Segments        int
	Sel01Ms, Sel1Ms float64 // median latency (of the 0.1% query: over all its runs, the first included)
	Sel01CPUMs      float64 // median process CPU of the 0.1% query (all its runs)
	// The 0.1% query's first run (block cache empty; the page cache as
	// PageCache says) and the median of the runs after it (warm: what
	// the block cache kept of the run before), apart, so that sizes are
	// compared like for like. ReadMB: bytes the run read from storage
	// (read_bytes of /proc/self/io; page-cache hits are not counted),
	// the first run's and the most any warm run read.
	Sel01FirstMs, Sel01FirstCPUMs float64
	Sel01WarmMs, Sel01WarmCPUMs   float64
	Sel01WarmRuns                 int
	Sel01FirstReadMB              float64
	Sel01WarmReadMB               float64
	// Block cache hits and misses of the first run and of the last warm
	// run.
	Sel01FirstHits, Sel01FirstMisses uint64
	Sel01WarmHits, Sel01WarmMisses   uint64
	// PageCache is what the ledger's files were in the page cache when
	// the first 0.1% run started: "as left" (by the build or earlier
	// runs; Open read its files meanwhile) or "dropped" (-ledger-cold:
	// posix_fadvise DONTNEED on every file of the ledger right before
	// the first run). "" in older results: as left.
	PageCache string
	// ReadOnly: the child opened the ledger read-only
	// (Options.ReadOnly), open and reopens included (older results: a
	// writable Open).
	ReadOnly          bool
	Sel01N, Sel1N     int
	TRMs              float64
	TRCPUMs           float64 // median process CPU of the time range
	TRN               int
	TraceP50Us        float64
	TraceP99Us        float64
	RSSOpenQueriesMiB float64 // VmHWM after the first open + queries (and the Merkle tree's background load)
	HeapInuseMiB      float64 // Go heap in use at that point
	RSSReopensMiB     float64 // VmHWM after the 5 timed reopens too
	ScanEventsPerSec  float64
	ScanSec           float64
	ScanN             int     // events scanned (all, or a time-bounded prefix at >= bigN)
	ScanCPUUs         float64 // process CPU (user + system) per event scanned, µs
	RSSScanMiB        float64 // VmHWM after the scan too
	DataBytes         int64
	IndexBytes        int64
	DirBytes          int64
	Load1Start        float64 // 1-minute load average when the child started
	Load1End          float64 // and when it ended
	Opts              string  // options other than the defaults (diagnostic runs)
	SettleMs          float64 // wall time from the first Open's return until the process was idle
	SettleCPUMs       float64 // and the process CPU meanwhile (the ledger's background work)
	RSSSettledMiB     float64 // VmHWM then, before any query
	// The reopens start the same background work again; the scan waits
	// for the last one's end too (the wait's wall and CPU), so that the
	// scan's CPU per event is the scan's own.
	ScanSettleMs    float64
	ScanSettleCPUMs float64
}

// settle waits until the process uses less than 5% of a core over a
// second (at most 120 s) and returns the wall time and process CPU
// meanwhile, in ms.
func settle() (float64, float64) {
	t0, c0 := time.Now(), cpuTime()
	lastT, lastC := t0, c0
	for time.Since(t0) < 120*time.Second {
		time.Sleep(time.Second)
		t, c := time.Now(), cpuTime()
		if float64(c-lastC) < 0.05*float64(t.Sub(lastT)) {
			break
		}
		lastT, lastC = t, c
	}
	return ms(time.Since(t0)), ms(cpuTime() - c0)
}

// loadAvg1 is the machine's 1-minute load average (/proc/loadavg).
func loadAvg1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return math.NaN()
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

func scaleMain(sizesFlag, dir, report, plotDir string, resume, buildOnly bool, until time.Time, prior string) error {
	var sizes []int
	for _, s := range strings.Split(sizesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("bad -ledger-sizes entry %q", s)
		}
		if n >= 100_000_000 && os.Getenv("EXLEDGER_BENCH_100M") != "1" {
			return fmt.Errorf("size %d needs EXLEDGER_BENCH_100M=1 (about 200 bytes of disk per event and an hour of machine)", n)
		}
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	sizes = slices.Compact(sizes)
	if dir == "" {
		d, err := os.MkdirTemp("", "exledger-scale-")
		if err != nil {
			return err
		}
		dir = d
		defer os.RemoveAll(d)
	}
	ldir := filepath.Join(dir, "ledger")
	g := workload.New(workload.Config{Seed: corpusSeed})
	pair := map[[2]string]int{}
	rng := rand.New(rand.NewPCG(7, 11))
	var traces []string
	traceSeen := 0
	var tsEvery []string // occurred_at of events 1, 1001, 2001, ...: the time ranges
	done := 0
	observed := 0 // events observe has seen
	// observe updates the statistics with the next batch of the corpus.
	observe := func(bt []ledger.ExperienceEventEnvelope) {
		for i := range bt {
			seq := observed + i + 1
			h := ledger.HeaderOf(&bt[i])
			t := ""
			if h.HasTenant {
				t = string(h.TenantID)
			}
			pair[[2]string{t, string(h.Kind)}]++
			if seq%1000 == 1 {
				tsEvery = append(tsEvery, string(bt[i].OccurredAt))
			}
			if h.Kind == ledger.KindReplayTraceRecorded {
				traceSeen++
				if len(traces) < traceSample {
					traces = append(traces, string(h.TraceLinkID))
				} else if j := rng.IntN(traceSeen); j < traceSample {
					traces[j] = string(h.TraceLinkID)
				}
			}
		}
		observed += len(bt)
	}
	if resume {
		// Continue a ledger this run built before (in batches of
		// scaleBatch, so it holds a multiple of it): the statistics are
		// recomputed by generating its events again, without appending.
		l, err := ledger.Open(ldir, scaleOpts())
		if err != nil {
			return err
		}
		have := int(l.LastSeq())
		if err := l.Close(); err != nil {
			return err
		}
		if have%scaleBatch != 0 {
			return fmt.Errorf("resume: the ledger holds %d events, not a multiple of %d", have, scaleBatch)
		}
		t := time.Now()
		for done < have {
			bt := g.Batch(scaleBatch)
			observe(bt)
			done += len(bt)
		}
		logf("resume: %d events in the ledger, statistics regenerated in %v", have, time.Since(t))
	} else if err := os.RemoveAll(ldir); err != nil {
		return err
	}
	logf("scale run: sizes %v in %s, batch %d, durable defaults", sizes, ldir, scaleBatch)
	var results []scaleResult
	if prior != "" {
		// Results of earlier sizes measured by an earlier run of this
		// ledger (the JSON the child logs as "child result"), one a line.
		raw, err := os.ReadFile(prior)
		if err != nil {
			return err
		}
		for _, ln := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			var r scaleResult
			if err := json.Unmarshal([]byte(ln), &r); err != nil {
				return fmt.Errorf("-ledger-prior: %w", err)
			}
			results = append(results, r)
		}
	}
	var buildSec float64
	ctx := context.Background()
	for _, size := range sizes {
		if size <= done && !(resume && size == done) {
			continue
		}
		l, err := ledger.Open(ldir, scaleOpts())
		if err != nil {
			return err
		}
		if pf := os.Getenv("EXLEDGER_SCALE_BUILD_CPUPROFILE"); pf != "" {
			if f, err := os.Create(pf); err == nil && pprof.StartCPUProfile(f) == nil {
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
		}
		t0 := time.Now()
		from := done
		reached, err := scaleBuild(ctx, l, g, observe, done, size, until)
		done = reached
		if err != nil {
			l.Close()
			return err
		}
		last := size == sizes[len(sizes)-1]
		if done < size {
			logf("build deadline %s reached at %d events: measuring this size", until.Format("15:04"), done)
			size, last = done, true
		}
		if err := l.Close(); err != nil { // seals the tail: part of the build
			return err
		}
		buildSec += time.Since(t0).Seconds()
		logf("built %d events: %.0f events/s for this step (appends + seals, batch %d)", size, float64(size-from)/time.Since(t0).Seconds(), scaleBatch)
		p := scaleParams{N: size, TRStart: tsEvery[size/2/1000], TREnd: tsEvery[(size/2+size/100)/1000], Traces: slices.Clone(traces)}
		if p.TRStart > p.TREnd {
			p.TRStart, p.TREnd = p.TREnd, p.TRStart
		}
		p.Sel01Tenant, p.Sel01Kind, p.Sel01Want = nearestPair(pair, 0.001*float64(size))
		p.Sel1Tenant, p.Sel1Kind, p.Sel1Want = nearestPair(pair, 0.01*float64(size))
		if buildOnly {
			// Keep this size for a later -ledger-measure: the last size is
			// the ledger itself, earlier ones a copy beside it.
			at := ldir
			if !last {
				at = fmt.Sprintf("%s-n%d", ldir, size)
				if err := copyTree(ldir, at); err != nil {
					return err
				}
			}
			if err := writeParams(at+".params.json", p); err != nil {
				return err
			}
			logf("kept %s (%d events) with %s.params.json", at, size, at)
			if last {
				break
			}
			continue
		}
		res, err := runScaleChild(ldir, p)
		if err != nil {
			return err
		}
		logf("size %d: %+v", size, res)
		results = append(results, res)
		if last {
			break
		}
	}
	md := scaleReport(results, buildSec)
	fmt.Println(md)
	if report != "" {
		if err := os.WriteFile(report, []byte(md), 0o644); err != nil {
			return err
		}
		logf("wrote %s", report)
	}
	if plotDir != "" && len(results) > 1 {
		if err := scalePlots(results, plotDir); err != nil {
			return err
		}
	}
	return nil
}

// scaleReplot writes the report and plot of results measured before (JSON
// lines as the child logs them), without building or measuring.
func scaleReplot(prior, report, plotDir string) error {
	raw, err := os.ReadFile(prior)
	if err != nil {
		return err
	}
	var results []scaleResult
	for _, ln := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var r scaleResult
		if err := json.Unmarshal([]byte(ln), &r); err != nil {
			return fmt.Errorf("-ledger-prior: %w", err)
		}
		results = append(results, r)
	}
	md := scaleReport(results, 0)
	fmt.Println(md)
	if report != "" {
		if err := os.WriteFile(report, []byte(md), 0o644); err != nil {
			return err
		}
	}
	if plotDir != "" && len(results) > 1 {
		return scalePlots(results, plotDir)
	}
	return nil
}

// scaleOpts are the build's options: the durable defaults, with the seal
// layout of -seal-layout and, if EXLEDGER_SCALE_BUILD_INDEX_CACHE_MIB is
// set, that index cache (Options.IndexCacheBytes) for the builder. The
// append's duplicate check falls back to the segments' event-id tables for
// every id the ledger-wide 32-bit filter cannot rule out (about N/2^32 of
// them), and beyond ~30M events those tables no longer fit the default
// 128 MiB, so every batch re-reads and re-verifies them. The measuring
// child always opens with the defaults.
func scaleOpts() *ledger.Options {
	var o ledger.Options
	if v := os.Getenv("EXLEDGER_SCALE_BUILD_INDEX_CACHE_MIB"); v != "" {
		mib, err := strconv.Atoi(v)
		if err != nil || mib <= 0 {
			logf("ignoring EXLEDGER_SCALE_BUILD_INDEX_CACHE_MIB=%q", v)
		} else {
			o.IndexCacheBytes = int64(mib) << 20
		}
	}
	o.SealLayout = sealLayout
	if o == (ledger.Options{}) {
		return nil
	}
	return &o
}

func nearestPair(pair map[[2]string]int, target float64) (string, string, int) {
	keys := make([][2]string, 0, len(pair))
	for k := range pair {
		if k[0] != "" { // an untenanted query is not expressible as tenant+kind
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b [2]string) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	})
	var bt, bk string
	bw, best := 0, -1.0
	for _, k := range keys {
		if d := math.Abs(float64(pair[k]) - target); best < 0 || d < best {
			best, bt, bk, bw = d, k[0], k[1], pair[k]
		}
	}
	return bt, bk, bw
}

// scaleProfDir is where the child writes its profiles (-ledger-profiles;
// the parent fills in a default, see scaleProfilesDir), never beside the
// ledgers, which -ledger-measure only reads. scaleDropCache is
// -ledger-cold.
var (
	scaleProfDir   string
	scaleDropCache bool
)

// scaleProfilesDir returns the directory for the children's profiles:
// flagDir if set, else "<report without .md>-profiles" beside the report,
// else a new temporary directory; it is created.
func scaleProfilesDir(flagDir, report string) (string, error) {
	d := flagDir
	if d == "" && report != "" {
		d = strings.TrimSuffix(report, ".md") + "-profiles"
	}
	if d == "" {
		return os.MkdirTemp("", "exledger-scale-profiles-")
	}
	return d, os.MkdirAll(d, 0o755)
}

func runScaleChild(dir string, p scaleParams) (scaleResult, error) {
	var res scaleResult
	f, err := os.CreateTemp("", "exledger-scale-params-*.json")
	if err != nil {
		return res, err
	}
	pf := f.Name()
	f.Close()
	if err := writeParams(pf, p); err != nil {
		return res, err
	}
	defer os.Remove(pf)
	args := []string{"-scale-child", dir, "-scale-params", pf, "-ledger-profiles", scaleProfDir}
	if scaleDropCache {
		args = append(args, "-ledger-cold")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return res, fmt.Errorf("scale child: %w", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if j, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
			err := json.Unmarshal([]byte(j), &res)
			return res, err
		}
	}
	return res, fmt.Errorf("scale child printed no result: %q", out)
}

// vmHWM is the process's peak resident set size in MiB.
func vmHWM() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return math.NaN()
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return math.NaN()
}

func medianDur(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// scaleChild opens the ledger with the durable defaults and measures; it
// prints one line "RESULT <json>".
func scaleChild(dir, paramsFile string) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "scale child:", err); return 1 }
	raw, err := os.ReadFile(paramsFile)
	if err != nil {
		return fail(err)
	}
	var p scaleParams
	if err := json.Unmarshal(raw, &p); err != nil {
		return fail(err)
	}
	ctx := context.Background()
	res := scaleResult{N: p.N, Load1Start: loadAvg1(), ReadOnly: true, PageCache: "as left"}
	// The defaults, read-only (nothing here writes, and a measured ledger
	// may be shared: a writable Open of a binary that knows an older index
	// format would rewrite its index files), unless a diagnostic run asks
	// for another footer cache (the result then says so).
	copts := &ledger.Options{ReadOnly: true}
	if v := os.Getenv("EXLEDGER_SCALE_CHILD_FOOTER_CACHE_MIB"); v != "" {
		mib, err := strconv.Atoi(v)
		if err != nil || mib <= 0 {
			return fail(fmt.Errorf("bad EXLEDGER_SCALE_CHILD_FOOTER_CACHE_MIB %q", v))
		}
		copts.FooterCacheBytes = int64(mib) << 20
		res.Opts = fmt.Sprintf("FooterCacheBytes %d MiB", mib)
	}
	if scaleProfDir == "" {
		d, err := os.MkdirTemp("", "exledger-scale-profiles-")
		if err != nil {
			return fail(err)
		}
		scaleProfDir = d
	}
	// prof is the path of one of this child's profiles:
	// <ledger dir's name>[-n<size>].<what>.pprof.
	label := filepath.Base(dir)
	if n := fmt.Sprintf("-n%d", p.N); !strings.HasSuffix(label, n) {
		label += n
	}
	prof := func(what string) string { return filepath.Join(scaleProfDir, label+"."+what+".pprof") }
	t, c := time.Now(), cpuTime()
	l, err := ledger.Open(dir, copts)
	if err != nil {
		return fail(err)
	}
	res.OpenFirstMs = ms(time.Since(t))
	res.OpenFirstCPUMs = ms(cpuTime() - c)
	defer func() { l.Close() }() // the last handle (the timed reopens below replace l)
	// The queries run on this first handle, so that the peak RSS read
	// after them is that of one Open and its queries, as a process that
	// opens the ledger once and queries it would see; the five timed
	// reopens come after it (each loads the Merkle tree again, and the
	// garbage of the closed handles would raise the peak). The ledger-wide
	// event-id filter is built only by a handle that appends, so a
	// query-only child never builds it.
	res.Segments = int(l.Metrics().Segments)
	if got := l.LastSeq(); got != uint64(p.N) {
		return fail(fmt.Errorf("ledger holds %d events, want %d", got, p.N))
	}
	// Open returns before its background work ends (the Merkle tree's
	// load; until 2026-12-03 also the event-id filter's build, ~13 s of
	// CPU at 100M, now done at the first append instead),
	// and that work's CPU would be counted in the queries' process CPU and
	// slow their wall time. Wait until the process is idle, so that the
	// queries are measured in steady state; the wait is reported.
	res.SettleMs, res.SettleCPUMs = settle()
	res.RSSSettledMiB = vmHWM()
	logf("  background work after Open: settled in %.0f ms, %.0f ms of CPU; VmHWM %.0f MiB", res.SettleMs, res.SettleCPUMs, res.RSSSettledMiB)
	tenant := func(s string) *ledger.TenantID { t := ledger.TenantID(s); return &t }
	kinds := func(s string) []ledger.ExperienceEventKind {
		return []ledger.ExperienceEventKind{ledger.ExperienceEventKind(s)}
	}
	// count runs q through the streaming Scan (the results are counted, not
	// kept), so that a 1M-result query at 100M does not measure a slice of
	// a million decoded events.
	count := func(q ledger.EventQuery) (int, error) {
		n := 0
		for _, err := range l.Scan(ctx, q) {
			if err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	}
	reps := 5
	if p.N >= bigN {
		reps = bigReps
	}
	var lastCPU float64 // median process CPU of timeq's last query
	timeq := func(name string, want int, run func() (int, error)) (float64, int, error) {
		var lat, cpu []time.Duration
		got := 0
		for range reps {
			t, c := time.Now(), cpuTime()
			n, err := run()
			if err != nil {
				return 0, 0, fmt.Errorf("%s: %w", name, err)
			}
			lat = append(lat, time.Since(t))
			cpu = append(cpu, cpuTime()-c)
			if want >= 0 && n != want {
				return 0, 0, fmt.Errorf("%s: %d results, want %d", name, n, want)
			}
			got = n
		}
		logf("  %s: %d results, latencies %v, process CPU %v", name, got, lat, cpu)
		lastCPU = ms(medianDur(cpu))
		return ms(medianDur(lat)), got, nil
	}
	if pf := os.Getenv("EXLEDGER_SCALE_QUERY_CPUPROFILE"); pf != "" { // the queries and trace lookups
		if f, err := os.Create(pf); err == nil && pprof.StartCPUProfile(f) == nil {
			defer f.Close()
		}
	}
	q01 := ledger.EventQuery{TenantID: tenant(p.Sel01Tenant), Kinds: kinds(p.Sel01Kind)}
	if scaleDropCache {
		// Truly cold: the first run reads the footers, index chunks and
		// blocks it needs from storage (Open read some of them).
		if err := dropPageCache(dir); err != nil {
			return fail(err)
		}
		res.PageCache = "dropped"
	}
	if err := measureSel01(l, q01, p.Sel01Want, &res, prof, os.Getenv("EXLEDGER_SCALE_QUERY_CPUPROFILE") == ""); err != nil {
		return fail(err)
	}
	q1 := ledger.EventQuery{TenantID: tenant(p.Sel1Tenant), Kinds: kinds(p.Sel1Kind)}
	if p.N < bigN {
		if res.Sel1Ms, res.Sel1N, err = timeq("tenant+kind ~1% (Scan)", p.Sel1Want, func() (int, error) { return count(q1) }); err != nil {
			return fail(err)
		}
	}
	s, e := ledger.Timestamp(p.TRStart), ledger.Timestamp(p.TREnd)
	qtr := ledger.EventQuery{TimeRange: &ledger.TimeRange{Start: &s, End: &e}}
	if res.TRMs, res.TRN, err = timeq("time range ~1% (Scan)", -1, func() (int, error) { return count(qtr) }); err != nil {
		return fail(err)
	}
	res.TRCPUMs = lastCPU
	var tl []time.Duration
	for i := range 2000 {
		id := p.Traces[(i*7919)%len(p.Traces)]
		t := time.Now()
		tr, err := l.GetTraceLink(ctx, ledger.TraceLinkID(id))
		tl = append(tl, time.Since(t))
		if err != nil || tr == nil {
			return fail(fmt.Errorf("trace %s: %v %v", id, tr, err))
		}
	}
	slices.Sort(tl)
	res.TraceP50Us = float64(pct(tl, 0.5).Nanoseconds()) / 1e3
	res.TraceP99Us = float64(pct(tl, 0.99).Nanoseconds()) / 1e3
	pprof.StopCPUProfile() // EXLEDGER_SCALE_QUERY_CPUPROFILE's, if any
	// The Merkle tree is loaded by a goroutine Open starts; TreeHead waits
	// for it, so that the peak below holds the whole tree even if the
	// queries finished first.
	t = time.Now()
	if _, err := l.TreeHead(ctx); err != nil {
		return fail(fmt.Errorf("tree head: %w", err))
	}
	logf("  Merkle tree loaded (waited %v)", time.Since(t))
	res.RSSOpenQueriesMiB = vmHWM()
	if f, err := os.Create(prof("heap")); err == nil {
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	var msBefore runtime.MemStats
	runtime.ReadMemStats(&msBefore)
	res.HeapInuseMiB = float64(msBefore.HeapInuse) / (1 << 20)
	logf("  after open + queries: VmHWM %.0f MiB, Go heap in use %.0f MiB, sys %.0f MiB", res.RSSOpenQueriesMiB, float64(msBefore.HeapInuse)/(1<<20), float64(msBefore.Sys)/(1<<20))
	// The open time: the median of 5 more opens, with a CPU profile of
	// them.
	if f, err := os.Create(prof("open.cpu")); err == nil {
		if pprof.StartCPUProfile(f) != nil {
			f.Close()
		} else {
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	var opens, openCPU []time.Duration
	for range 5 {
		if err := l.Close(); err != nil {
			return fail(err)
		}
		t, c := time.Now(), cpuTime()
		if l, err = ledger.Open(dir, copts); err != nil {
			return fail(err)
		}
		opens = append(opens, time.Since(t))
		openCPU = append(openCPU, cpuTime()-c) // includes the background tree load meanwhile
	}
	pprof.StopCPUProfile()
	logf("  opens %v, process CPU %v", opens, openCPU)
	res.OpenMs = ms(medianDur(opens))
	res.OpenCPUMs = ms(medianDur(openCPU))
	res.RSSReopensMiB = vmHWM()
	logf("  after the 5 reopens: VmHWM %.0f MiB", res.RSSReopensMiB)
	if os.Getenv("EXLEDGER_SCALE_NOSCAN") == "1" { // open + queries only (side-by-side runs)
		res.Load1End = loadAvg1()
		out, _ := json.Marshal(res)
		logf("child result: %s", out)
		fmt.Println("RESULT " + string(out))
		return 0
	}
	// The last reopen's background work (as after the first Open: ~15 s
	// of CPU at 100M) would otherwise run beside the scan and be counted
	// in its CPU per event.
	res.ScanSettleMs, res.ScanSettleCPUMs = settle()
	logf("  background work after the reopens: settled in %.0f ms, %.0f ms of CPU", res.ScanSettleMs, res.ScanSettleCPUMs)
	if pf := os.Getenv("EXLEDGER_SCALE_SCAN_CPUPROFILE"); pf != "" {
		pprof.StopCPUProfile()
		if f, err := os.Create(pf); err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	t = time.Now()
	c0 := cpuTime()
	n := 0
	for _, err := range l.Scan(ctx, ledger.EventQuery{}) {
		if err != nil {
			return fail(err)
		}
		n++
		if p.N >= bigN && n%100_000 == 0 && time.Since(t) > scanBound {
			break
		}
	}
	if n != p.N && (p.N < bigN || time.Since(t) < scanBound) {
		return fail(fmt.Errorf("scan returned %d events, want %d", n, p.N))
	}
	res.ScanN = n
	res.ScanCPUUs = float64((cpuTime() - c0).Microseconds()) / float64(max(n, 1))
	res.ScanSec = time.Since(t).Seconds()
	res.ScanEventsPerSec = float64(n) / res.ScanSec
	res.RSSScanMiB = vmHWM()
	st, err := l.Stat(ctx, false)
	if err != nil {
		return fail(err)
	}
	res.DataBytes, res.IndexBytes, res.DirBytes = st.DataBytes, st.IndexBytes, dirSize(dir)
	res.Load1End = loadAvg1()
	out, _ := json.Marshal(res)
	logf("child result: %s", out)
	fmt.Println("RESULT " + string(out))
	return 0
}

// sel01WarmRuns is how many times the 0.1% query runs after its first run,
// at every size (the query takes well under a second at 100M).
const sel01WarmRuns = 5

// measureSel01 runs the tenant+kind 0.1% query q once with the block cache
// as the settled Open left it (empty: nothing has read a block), then
// sel01WarmRuns times, and records the first run and the median of the
// warm runs apart (and the median of all, the older Sel01Ms), with the
// bytes each read from storage and the block cache's hits and misses.
// With profile, the first run's CPU profile and the warm runs' go to
// prof("q01-first.cpu") and prof("q01-warm.cpu").
func measureSel01(l *ledger.Ledger, q ledger.EventQuery, want int, res *scaleResult, prof func(string) string, profile bool) error {
	ctx := context.Background()
	var lat, cpu []time.Duration
	for i := range 1 + sel01WarmRuns {
		if profile && i <= 1 {
			pprof.StopCPUProfile()
			what := "q01-first.cpu"
			if i == 1 {
				what = "q01-warm.cpu"
			}
			if f, err := os.Create(prof(what)); err == nil {
				if pprof.StartCPUProfile(f) != nil {
					f.Close()
				} else {
					defer f.Close() // after the StopCPUProfile below
				}
			}
		}
		m0, r0 := l.Metrics(), ioReadBytes()
		t, c := time.Now(), cpuTime()
		r, err := l.QueryEvents(ctx, q)
		lat = append(lat, time.Since(t))
		cpu = append(cpu, cpuTime()-c)
		rb := float64(ioReadBytes()-r0) / 1e6
		m1 := l.Metrics()
		if err != nil {
			return fmt.Errorf("tenant+kind ~0.1%%: %w", err)
		}
		if len(r) != want {
			return fmt.Errorf("tenant+kind ~0.1%%: %d results, want %d", len(r), want)
		}
		hits, misses := m1.CacheHits-m0.CacheHits, m1.CacheMisses-m0.CacheMisses
		if i == 0 {
			res.Sel01FirstReadMB, res.Sel01FirstHits, res.Sel01FirstMisses = rb, hits, misses
		} else {
			res.Sel01WarmReadMB = max(res.Sel01WarmReadMB, rb)
			res.Sel01WarmHits, res.Sel01WarmMisses = hits, misses
		}
		res.Sel01N = len(r)
	}
	if profile {
		pprof.StopCPUProfile()
	}
	logf("  tenant+kind ~0.1%% (QueryEvents): %d results, first run %v (CPU %v, read %.1f MB, block cache %d hits / %d misses), then %v (CPU %v, the last %d hits / %d misses, at most %.1f MB read)",
		res.Sel01N, lat[0], cpu[0], res.Sel01FirstReadMB, res.Sel01FirstHits, res.Sel01FirstMisses, lat[1:], cpu[1:], res.Sel01WarmHits, res.Sel01WarmMisses, res.Sel01WarmReadMB)
	res.Sel01Ms, res.Sel01CPUMs = ms(medianDur(lat)), ms(medianDur(cpu))
	res.Sel01FirstMs, res.Sel01FirstCPUMs = ms(lat[0]), ms(cpu[0])
	res.Sel01WarmMs, res.Sel01WarmCPUMs = ms(medianDur(lat[1:])), ms(medianDur(cpu[1:]))
	res.Sel01WarmRuns = len(lat) - 1
	return nil
}

// dropPageCache asks the kernel to drop the page-cache pages of every file
// under dir (posix_fadvise POSIX_FADV_DONTNEED; clean pages only, which a
// read-only ledger's are). The files are opened read-only.
func dropPageCache(dir string) error {
	return filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	})
}

// sizeLabel is a result's size, with the options of a diagnostic run.
func sizeLabel(r scaleResult) string {
	if r.Opts == "" {
		return humanCount(r.N)
	}
	return humanCount(r.N) + " (" + r.Opts + ")"
}

func scaleReport(rs []scaleResult, buildSec float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| events | load (1 min, child start → end) | open (first / median of 5) | CPU per open (first / median) | background work after the first open: wall / CPU | segments | tenant+kind 0.1%% (results), median of all runs | per result: wall / CPU | 0.1%% first run (block cache empty), per result: wall / CPU (read from storage; block cache hits / misses) | 0.1%% warm runs (median), per result: wall / CPU (most read by one; the last's hits / misses) | tenant+kind 1%% (Scan) | time range ~1%% (Scan): wall / CPU | trace link p50 / p99 | peak RSS one open + queries (Go heap in use) | peak RSS after 5 more opens | full decoded scan | scan CPU/event | peak RSS with scan | bytes/event (segments + indexes / dir) |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	opt := func(v float64, f string) string { // a figure older runs did not record
		if v == 0 || math.IsNaN(v) {
			return "–"
		}
		return fmt.Sprintf(f, v)
	}
	for _, r := range rs {
		sel1 := "not run"
		if r.Sel1N > 0 {
			sel1 = fmt.Sprintf("%.0f ms (%d)", r.Sel1Ms, r.Sel1N)
		}
		scan, scanCPU, scanRSS := "not run", "–", "–"
		if r.ScanN > 0 {
			what := "all"
			if r.ScanN != r.N {
				what = humanCount(r.ScanN) + " prefix"
			}
			scan = fmt.Sprintf("%.2fM events/s (%s in %.1f s)", r.ScanEventsPerSec/1e6, what, r.ScanSec)
			if r.ScanSettleMs > 0 {
				scan = fmt.Sprintf("%.2fM events/s (%s in %.1f s, after the reopens' background work: %.0f ms, %.0f ms CPU)", r.ScanEventsPerSec/1e6, what, r.ScanSec, r.ScanSettleMs, r.ScanSettleCPUMs)
			}
			scanCPU = opt(r.ScanCPUUs, "%.2f µs")
			scanRSS = fmt.Sprintf("%.0f MiB", r.RSSScanMiB)
		}
		bytes := "–"
		if r.DataBytes > 0 {
			bytes = fmt.Sprintf("%.1f + %.1f / %.1f", float64(r.DataBytes)/float64(r.N), float64(r.IndexBytes)/float64(r.N), float64(r.DirBytes)/float64(r.N))
		}
		first, warm := "–", "–"
		if r.Sel01WarmRuns > 0 {
			n := float64(max(r.Sel01N, 1))
			first = fmt.Sprintf("%.2f / %.2f µs (%.1f MB; %d / %d)", 1000*r.Sel01FirstMs/n, 1000*r.Sel01FirstCPUMs/n, r.Sel01FirstReadMB, r.Sel01FirstHits, r.Sel01FirstMisses)
			warm = fmt.Sprintf("%.2f / %.2f µs (%.1f MB; %d / %d)", 1000*r.Sel01WarmMs/n, 1000*r.Sel01WarmCPUMs/n, r.Sel01WarmReadMB, r.Sel01WarmHits, r.Sel01WarmMisses)
		}
		fmt.Fprintf(&b, "| %s | %s → %s | %.0f ms / %.0f ms | %s / %s | %s / %s | %d | %.1f ms (%d) | %.2f µs / %s | %s | %s | %s | %.0f ms / %s (%d) | %.0f / %.0f µs | %.0f MiB (%s) | %s | %s | %s | %s | %s |\n",
			sizeLabel(r), opt(r.Load1Start, "%.1f"), opt(r.Load1End, "%.1f"),
			r.OpenFirstMs, r.OpenMs, opt(r.OpenFirstCPUMs, "%.0f ms"), opt(r.OpenCPUMs, "%.0f ms"),
			opt(r.SettleMs, "%.0f ms"), opt(r.SettleCPUMs, "%.0f ms"), r.Segments,
			r.Sel01Ms, r.Sel01N, 1000*r.Sel01Ms/float64(max(r.Sel01N, 1)), opt(1000*r.Sel01CPUMs/float64(max(r.Sel01N, 1)), "%.2f µs"), first, warm,
			sel1, r.TRMs, opt(r.TRCPUMs, "%.0f ms"), r.TRN, r.TraceP50Us, r.TraceP99Us,
			r.RSSOpenQueriesMiB, opt(r.HeapInuseMiB, "%.0f MiB"), opt(r.RSSReopensMiB, "%.0f MiB"), scan, scanCPU, scanRSS, bytes)
	}
	if buildSec > 0 {
		fmt.Fprintf(&b, "\nBuild: %.0f s in all (%d-event durable batches, seals included).\n", buildSec, scaleBatch)
	}
	fmt.Fprintf(&b, "\nGOMAXPROCS %d. Wall figures are medians of 5 (%d from %s events on); CPU is the process's user + system time (median), which includes any background work of the ledger meanwhile.", runtime.GOMAXPROCS(0), bigReps, humanCount(bigN))
	fmt.Fprintf(&b, " The tenant+kind 0.1%% query runs %d times at every size: once with the block cache empty (its first run), then %d times warm; the median of all runs is the older figure.\n", 1+sel01WarmRuns, sel01WarmRuns)
	if len(rs) > 0 {
		var modes []string
		for _, r := range rs {
			m := cmp.Or(r.PageCache, "as left")
			if r.ReadOnly {
				m += ", read-only Open"
			} else {
				m += ", writable Open"
			}
			modes = append(modes, humanCount(r.N)+": "+m)
		}
		fmt.Fprintf(&b, "\nPage cache before the first 0.1%% run (as left by Open and earlier runs, or dropped with -ledger-cold): %s.\n", strings.Join(modes, "; "))
	}
	b.WriteString(sel01Ratios(rs))
	return b.String()
}

// sel01Ratios compares the 0.1% query's per-result figures of each size
// with those of the smallest size that recorded first and warm runs: first
// run against first run, warm against warm (issue 17 goal 3: "a 0.1% query
// ≤ 2× its latency at 1M per result").
func sel01Ratios(rs []scaleResult) string {
	var base *scaleResult
	for i := range rs {
		if rs[i].Sel01WarmRuns > 0 && rs[i].Sel01N > 0 && (base == nil || rs[i].N < base.N) {
			base = &rs[i]
		}
	}
	if base == nil {
		return ""
	}
	per := func(ms float64, r *scaleResult) float64 { return 1000 * ms / float64(r.Sel01N) }
	var b strings.Builder
	fmt.Fprintf(&b, "\n0.1%% query per result against %s (like for like; goal ≤ 2×):\n\n", humanCount(base.N))
	b.WriteString("| events | first run: wall / CPU | warm median: wall / CPU |\n|---|---|---|\n")
	for i := range rs {
		r := &rs[i]
		if r == base || r.Sel01WarmRuns == 0 || r.Sel01N == 0 {
			continue
		}
		fmt.Fprintf(&b, "| %s | %.2f× / %.2f× | %.2f× / %.2f× |\n", sizeLabel(*r),
			per(r.Sel01FirstMs, r)/per(base.Sel01FirstMs, base), per(r.Sel01FirstCPUMs, r)/per(base.Sel01FirstCPUMs, base),
			per(r.Sel01WarmMs, r)/per(base.Sel01WarmMs, base), per(r.Sel01WarmCPUMs, r)/per(base.Sel01WarmCPUMs, base))
	}
	return b.String()
}

// scalePlots draws the medians against ledger size: wall latency
// (<name>.png) and, for results that recorded it, process CPU
// (<name>_cpu.png), which a loaded machine disturbs less, and the 0.1%
// query's first and warm runs per result (<name>_per_result.png; the
// goal's measure). The 0.1% query's first run and warm median are drawn
// apart; results older than that split draw the median of all its runs
// (gray). The name is scale_latency unless EXLEDGER_SCALE_PLOT_NAME says
// otherwise.
func scalePlots(rs []scaleResult, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := cmp.Or(os.Getenv("EXLEDGER_SCALE_PLOT_NAME"), "scale_latency")
	red := color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	blue := color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	green := color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	purple := color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}
	orange := color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	teal := color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff}
	gray := color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}
	// ifOld is v for a result that did not record the 0.1% query's first
	// and warm runs apart, else 0 (not drawn).
	ifOld := func(r scaleResult, v float64) float64 {
		if r.Sel01WarmRuns > 0 {
			return 0
		}
		return v
	}
	perResult := func(ms float64, r scaleResult) float64 { return 1000 * ms / float64(max(r.Sel01N, 1)) }
	if slices.ContainsFunc(rs, func(r scaleResult) bool { return r.Sel01WarmRuns > 0 }) {
		if err := scalePlot(rs, filepath.Join(dir, name+"_per_result.png"), "exledger: tenant+kind 0.1% query per result vs ledger size", "µs per result", []scaleLine{
			{"first run: wall", blue, func(r scaleResult) float64 { return perResult(r.Sel01FirstMs, r) }},
			{"first run: process CPU", purple, func(r scaleResult) float64 { return perResult(r.Sel01FirstCPUMs, r) }},
			{"warm (median): wall", teal, func(r scaleResult) float64 { return perResult(r.Sel01WarmMs, r) }},
			{"warm (median): process CPU", green, func(r scaleResult) float64 { return perResult(r.Sel01WarmCPUMs, r) }},
		}); err != nil {
			return err
		}
	}
	if err := scalePlot(rs, filepath.Join(dir, name+".png"), "exledger: open and query latency vs ledger size", "latency (ms, median)", []scaleLine{
		{"open (median)", red, func(r scaleResult) float64 { return r.OpenMs }},
		{"tenant+kind 0.1% (median of all runs; older results)", gray, func(r scaleResult) float64 { return ifOld(r, r.Sel01Ms) }},
		{"tenant+kind 0.1% first run", blue, func(r scaleResult) float64 { return r.Sel01FirstMs }},
		{"tenant+kind 0.1% warm (median)", teal, func(r scaleResult) float64 { return r.Sel01WarmMs }},
		{"tenant+kind 1%", green, func(r scaleResult) float64 { return r.Sel1Ms }},
		{"time range 1%", purple, func(r scaleResult) float64 { return r.TRMs }},
		{"trace link (p50)", orange, func(r scaleResult) float64 { return r.TraceP50Us / 1000 }},
	}); err != nil {
		return err
	}
	if !slices.ContainsFunc(rs, func(r scaleResult) bool { return r.OpenCPUMs > 0 }) {
		return nil
	}
	return scalePlot(rs, filepath.Join(dir, name+"_cpu.png"), "exledger: process CPU of open and queries vs ledger size", "process CPU (ms, median)", []scaleLine{
		{"open (median)", red, func(r scaleResult) float64 { return r.OpenCPUMs }},
		{"tenant+kind 0.1% (median of all runs; older results)", gray, func(r scaleResult) float64 { return ifOld(r, r.Sel01CPUMs) }},
		{"tenant+kind 0.1% first run", blue, func(r scaleResult) float64 { return r.Sel01FirstCPUMs }},
		{"tenant+kind 0.1% warm (median)", teal, func(r scaleResult) float64 { return r.Sel01WarmCPUMs }},
		{"time range 1%", purple, func(r scaleResult) float64 { return r.TRCPUMs }},
	})
}

type scaleLine struct {
	name string
	c    color.RGBA
	v    func(scaleResult) float64 // <= 0: not measured at that size
}

func scalePlot(rs []scaleResult, path, title, ylabel string, lines []scaleLine) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "events in ledger"
	p.Y.Label.Text = ylabel
	p.X.Scale = plot.LogScale{}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var ticks []plot.Tick
	for _, r := range rs {
		ticks = append(ticks, plot.Tick{Value: float64(r.N), Label: humanCount(r.N)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Legend.Top = true
	p.Legend.Left = true
	for _, ln := range lines {
		var pts plotter.XYs
		for _, r := range rs {
			if v := ln.v(r); v > 0 {
				pts = append(pts, plotter.XY{X: float64(r.N), Y: v})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color, l.Width = ln.c, vg.Points(2)
		s.Color, s.Shape = ln.c, draw.CircleGlyph{}
		p.Add(l, s)
		p.Legend.Add(ln.name, l, s)
	}
	if err := p.Save(6*vg.Inch, 4*vg.Inch, path); err != nil {
		return err
	}
	logf("wrote %s", path)
	return nil
}

// scaleWriters is how many goroutines append the build's batches: with
// more than one, a batch's encoding overlaps another's WAL fdatasync (the
// WAL commits concurrent batches as a group), but batches may then commit
// out of generation order, and a resume after a kill could regenerate
// statistics of a different prefix; the default is one (the events are
// generated on another goroutine either way).
var scaleWriters = 1

// scaleBuild appends the corpus from event done+1 to size (or until the
// deadline) with scaleWriters appenders fed by one generating goroutine,
// and returns the count reached. It does not close l.
func scaleBuild(ctx context.Context, l *ledger.Ledger, g *workload.Generator, observe func([]ledger.ExperienceEventEnvelope), done, size int, until time.Time) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []ledger.ExperienceEventEnvelope, 2*scaleWriters)
	go func() {
		defer close(batches)
		for n := done; n < size; {
			if !until.IsZero() && time.Now().After(until) {
				return
			}
			bt := g.Batch(min(scaleBatch, size-n))
			n += len(bt)
			select {
			case batches <- bt:
			case <-ctx.Done():
				return
			}
		}
	}()
	var mu sync.Mutex
	var firstErr error
	appended := done
	t0, last, from := time.Now(), time.Now(), done
	var wg sync.WaitGroup
	for range scaleWriters {
		wg.Go(func() {
			for bt := range batches {
				if err := l.AppendEvents(ctx, bt); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("append at %d: %w", appended, err)
					}
					mu.Unlock()
					cancel()
					return
				}
				mu.Lock()
				observe(bt) // only appended batches count (a deadline drops the queued ones)
				appended += len(bt)
				if time.Since(last) > time.Minute {
					last = time.Now()
					logf("  %d events (%.0f/s since %d)", appended, float64(appended-from)/time.Since(t0).Seconds(), from)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for range batches { // the generator stops on cancel; drain what it queued
	}
	if firstErr != nil {
		return appended, firstErr
	}
	return appended, nil
}

func writeParams(path string, p scaleParams) error {
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}

// copyTree copies the closed ledger directory src to dst (replaced).
func copyTree(src, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return os.CopyFS(dst, os.DirFS(src))
}

// scaleMeasure runs the child on ledgers kept by a -ledger-build-only run
// (each with its <dir>.params.json), smallest first, and writes the report
// and plot with any -ledger-prior results.
func scaleMeasure(dirs []string, report, plotDir, prior string) error {
	var results []scaleResult
	if prior != "" {
		raw, err := os.ReadFile(prior)
		if err != nil {
			return err
		}
		for _, ln := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			var r scaleResult
			if err := json.Unmarshal([]byte(ln), &r); err != nil {
				return fmt.Errorf("-ledger-prior: %w", err)
			}
			results = append(results, r)
		}
	}
	for _, d := range dirs {
		raw, err := os.ReadFile(d + ".params.json")
		if err != nil {
			return err
		}
		var p scaleParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return fmt.Errorf("%s.params.json: %w", d, err)
		}
		res, err := runScaleChild(d, p)
		if err != nil {
			return err
		}
		logf("size %d: %+v", p.N, res)
		results = append(results, res)
	}
	slices.SortFunc(results, func(a, b scaleResult) int { return cmp.Compare(a.N, b.N) })
	md := scaleReport(results, 0)
	fmt.Println(md)
	if report != "" {
		if err := os.WriteFile(report, []byte(md), 0o644); err != nil {
			return err
		}
	}
	if plotDir != "" && len(results) > 1 {
		return scalePlots(results, plotDir)
	}
	return nil
}
