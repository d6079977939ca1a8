// Command bench runs exledger side by side with the engines a user would
// pick instead (Pebble, SQLite, bbolt) and with a raw codec/fsync ceiling,
// on the same generated events, alternating the engines round by round
// (ABAB...) so that every claim can be a ratio measured in one run on a
// noisy machine. See docs/benchmarks.md.
//
//	cd bench && go run . [-scale N] [-rounds 5] [-cases ...] [-engines ...]
//	                     [-out ../docs/benchmarks-latest.md] [-plots ../docs/plots]
//	cd bench && go run . -ledger-sizes 1000000,10000000 [-ledger-dir DIR] [-ledger-report FILE] [-plots DIR]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"
)

type config struct {
	scale   int
	appendN int
	rounds  int
	dur     time.Duration
	qdur    time.Duration
	sizes   []int
	cases   map[string]bool
	engines []string
	root    string
	out     string
	plots   string
	cpuprof string
	keep    bool
	// storeCache keeps the query stores (see storecache.go).
	storeCache string
	recoveryN  int
}

var allCases = []string{"append1000", "coldappend", "append1", "concurrent64", "writers", "recovery", "replicated", "selective", "selective1pct", "timerange", "trace", "scan", "scanraw", "open", "bytes"}

var allEngines = []string{"exledger", "pebble", "sqlite", "bbolt", "raw-codec", "raw-fsync"}

func newEngine(name string) engine {
	switch name {
	case "exledger":
		return &ledgerEngine{}
	case "pebble":
		return &pebbleEngine{}
	case "sqlite":
		return &sqliteEngine{}
	case "bbolt":
		return &boltEngine{}
	case "raw-codec":
		return &rawEngine{}
	case "raw-fsync":
		return &rawEngine{sync: true}
	}
	return nil
}

func main() {
	var (
		c                     config
		cases, engines, sizes string
		childEngine, childDir string
		childN                int
		scaleSizes, scaleDir  string
		scaleReportPath       string
		scaleChildDir, scaleP string
		scaleBuildOnly        bool
		scaleMeasureDirs      string
		scaleResume           bool
		scaleUntil            string
		scalePrior            string
	)
	flag.IntVar(&c.scale, "scale", 200_000, "events in the query/scan/open/bytes stores")
	flag.IntVar(&c.appendN, "append-events", 0, "events per round of the batch-1000 append case (0 = min(scale, 100000))")
	flag.IntVar(&c.recoveryN, "recovery-events", 0, "events written before the kill in the recovery case (0 = min(scale/2, 100000))")
	flag.IntVar(&c.rounds, "rounds", 5, "measured rounds per case (after one warm-up round)")
	flag.DurationVar(&c.dur, "dur", time.Second, "length of one round of the time-bound write cases")
	flag.DurationVar(&c.qdur, "qdur", 300*time.Millisecond, "query time per engine per round")
	flag.StringVar(&sizes, "sizes", "", "store sizes for the query-latency plot (default scale/4,scale,5*scale)")
	flag.StringVar(&cases, "cases", "all", "comma-separated cases: "+strings.Join(allCases, ","))
	flag.StringVar(&engines, "engines", strings.Join(allEngines, ","), "comma-separated engines")
	flag.StringVar(&c.root, "dir", "", "scratch directory (default: a new temp dir, removed at exit)")
	flag.StringVar(&c.out, "out", "../docs/benchmarks-latest.md", "Markdown report ('' = none)")
	flag.StringVar(&c.plots, "plots", "../docs/plots", "directory for the PNG plots ('' = none)")
	flag.StringVar(&c.cpuprof, "cpuprofile", "", "write a CPU profile of the measured cases (samples labelled run=<case>/<engine>)")
	flag.BoolVar(&c.keep, "keep", false, "keep the scratch directory")
	flag.StringVar(&c.storeCache, "store-cache", "", "keep the query stores in this directory and reuse complete ones in later runs (a single -sizes value)")
	layout := flag.String("seal-layout", "", "exledger's Options.SealLayout: log or clustered ('' = the default)")
	flag.StringVar(&childEngine, "child-engine", "", "internal: recovery child")
	flag.StringVar(&childDir, "child-dir", "", "internal: recovery child")
	flag.IntVar(&childN, "child-n", 0, "internal: recovery child")
	flag.StringVar(&scaleSizes, "ledger-sizes", "", "ledger-scale run: grow one exledger ledger through these sizes and measure open, queries, RSS, scan at each (sizes >= 100M need EXLEDGER_BENCH_100M=1; `replot` only redoes the report and plot of -ledger-prior); the other cases are not run")
	flag.StringVar(&scaleDir, "ledger-dir", "", "ledger-scale run: directory of the ledger (default: a new temp dir, removed at exit)")
	flag.StringVar(&scaleReportPath, "ledger-report", "", "ledger-scale run: write the Markdown table here")
	flag.BoolVar(&scaleResume, "ledger-resume", false, "ledger-scale run: continue the ledger of -ledger-dir instead of starting anew")
	flag.StringVar(&scaleUntil, "ledger-until", "", "ledger-scale run: stop building at this UTC time (HH:MM) and measure the size reached")
	flag.StringVar(&scalePrior, "ledger-prior", "", "ledger-scale run: a file of earlier sizes' results (JSON lines) to include in the report and plot")
	flag.BoolVar(&scaleBuildOnly, "ledger-build-only", false, "ledger-scale run: build only; keep each size (a copy <dir>/ledger-n<size> for all but the last) with its query parameters for -ledger-measure")
	flag.StringVar(&scaleMeasureDirs, "ledger-measure", "", "ledger-scale run: measure these ledgers kept by -ledger-build-only (comma-separated directories), no build")
	flag.IntVar(&scaleWriters, "ledger-writers", scaleWriters, "ledger-scale run: goroutines appending the build's batches")
	flag.StringVar(&scaleProfDir, "ledger-profiles", "", "ledger-scale run: directory for the children's CPU and heap profiles (default: <-ledger-report without .md>-profiles, or a new temp dir)")
	flag.BoolVar(&scaleDropCache, "ledger-cold", false, "ledger-scale run: drop the ledger's files from the page cache (posix_fadvise DONTNEED) right before the first run of the 0.1% query, so that it reads from storage")
	flag.StringVar(&scaleChildDir, "scale-child", "", "internal: ledger-scale child")
	flag.StringVar(&scaleP, "scale-params", "", "internal: ledger-scale child")
	flag.Parse()

	if err := setSealLayout(*layout); err != nil {
		fatalf("%v", err)
	}
	if childEngine != "" {
		os.Exit(child(childEngine, childDir, childN))
	}
	if scaleChildDir != "" {
		os.Exit(scaleChild(scaleChildDir, scaleP))
	}
	if scaleMeasureDirs != "" || (scaleSizes != "" && scaleSizes != "replot") {
		d, err := scaleProfilesDir(scaleProfDir, scaleReportPath)
		if err != nil {
			fatalf("%v", err)
		}
		scaleProfDir = d
		logf("ledger-scale profiles go to %s", d)
	}
	if scaleSizes == "replot" {
		if err := scaleReplot(scalePrior, scaleReportPath, c.plots); err != nil {
			fatalf("%v", err)
		}
		return
	}
	if scaleMeasureDirs != "" {
		if err := scaleMeasure(strings.Split(scaleMeasureDirs, ","), scaleReportPath, c.plots, scalePrior); err != nil {
			fatalf("%v", err)
		}
		return
	}
	if scaleSizes != "" {
		var until time.Time
		if scaleUntil != "" {
			t, err := time.Parse("15:04", scaleUntil)
			if err != nil {
				fatalf("bad -ledger-until %q", scaleUntil)
			}
			now := time.Now().UTC()
			until = time.Date(now.Year(), now.Month(), now.Day(), t.Hour(), t.Minute(), 0, 0, time.UTC)
		}
		if err := scaleMain(scaleSizes, scaleDir, scaleReportPath, c.plots, scaleResume, scaleBuildOnly, until, scalePrior); err != nil {
			fatalf("%v", err)
		}
		return
	}
	if c.appendN == 0 {
		c.appendN = min(c.scale, 100_000)
	}
	if c.recoveryN == 0 {
		c.recoveryN = max(1000, min(c.scale/2, 100_000))
	}
	c.cases = map[string]bool{}
	for _, s := range strings.Split(cases, ",") {
		s = strings.TrimSpace(s)
		if s == "all" {
			for _, a := range allCases {
				c.cases[a] = true
			}
		} else if s != "" {
			if !slices.Contains(allCases, s) {
				fatalf("unknown case %q", s)
			}
			c.cases[s] = true
		}
	}
	for _, s := range strings.Split(engines, ",") {
		s = strings.TrimSpace(s)
		if newEngine(s) == nil {
			fatalf("unknown engine %q", s)
		}
		c.engines = append(c.engines, s)
	}
	if sizes == "" {
		c.sizes = []int{max(1000, c.scale/4), c.scale, 5 * c.scale}
		if c.scale >= 1_000_000 {
			c.sizes = []int{c.scale}
		}
	} else {
		for _, s := range strings.Split(sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 {
				fatalf("bad -sizes entry %q", s)
			}
			c.sizes = append(c.sizes, n)
		}
	}
	if !slices.Contains(c.sizes, c.scale) {
		c.sizes = append(c.sizes, c.scale)
	}
	slices.Sort(c.sizes)
	c.sizes = slices.Compact(c.sizes)

	if c.root == "" {
		d, err := os.MkdirTemp("", "exledger-bench-")
		if err != nil {
			fatalf("%v", err)
		}
		c.root = d
	}
	if !c.keep {
		defer os.RemoveAll(c.root)
	}
	r := &runner{cfg: c, started: time.Now()}
	if err := r.run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		if !c.keep {
			os.RemoveAll(c.root)
		}
		os.Exit(1)
	}
}

func fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+f+"\n", a...)
	os.Exit(2)
}

func logf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s "+f+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

func (r *runner) run() error {
	c := &r.cfg
	logf("scratch %s; scale %d; rounds %d (+1 warm-up); engines %s", c.root, c.scale, c.rounds, strings.Join(c.engines, ","))
	r.machine = machineInfo(c.root)
	// Pre-touch memory: write and delete a 1 GiB scratch file (the first
	// touch of fresh guest pages is several times slower than later ones).
	pretouch(c.root, 1<<30)
	p0, err := driftProbe(c.root)
	if err != nil {
		return err
	}
	r.probes = append(r.probes, p0)
	logf("drift probe: 4 KiB fdatasync p50 %v, 1 MiB write+fdatasync %.0f MiB/s", p0.Sync4KP50, p0.MiBps)

	if c.cpuprof != "" {
		f, err := os.Create(c.cpuprof)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if err := r.writeCases(); err != nil {
		return err
	}
	if c.cases["recovery"] {
		if err := r.recovery(); err != nil {
			return err
		}
	}
	if c.cases["replicated"] {
		if err := r.replicated(); err != nil {
			return err
		}
	}
	if err := r.queryPhase(); err != nil {
		return err
	}
	p1, err := driftProbe(c.root)
	if err != nil {
		return err
	}
	r.probes = append(r.probes, p1)
	logf("drift probe: 4 KiB fdatasync p50 %v, 1 MiB write+fdatasync %.0f MiB/s", p1.Sync4KP50, p1.MiBps)
	r.elapsed = time.Since(r.started)
	md := r.report()
	fmt.Println(md)
	if c.out != "" {
		if err := os.WriteFile(c.out, []byte(md), 0o644); err != nil {
			return err
		}
		logf("wrote %s", c.out)
	}
	if c.plots != "" {
		if err := r.plot(c.plots); err != nil {
			return err
		}
	}
	return nil
}

func pretouch(root string, n int) {
	p := filepath.Join(root, "pretouch.dat")
	f, err := os.Create(p)
	if err != nil {
		return
	}
	buf := make([]byte, 4<<20)
	for w := 0; w < n; w += len(buf) {
		f.Write(buf)
	}
	f.Close()
	os.Remove(p)
}

// labelled runs f with the pprof label run=<case>/<engine>, so that one
// profile of a whole run can be cut per case with -tagfocus.
func labelled(cs, eng string, f func()) {
	pprof.Do(context.Background(), pprof.Labels("run", cs+"/"+eng), func(context.Context) { f() })
}

// child is the recovery case's writer process: it writes n events with
// the durable policy, reports READY on stdout once the last append has
// returned, then waits to be killed with SIGKILL. It never closes the
// store.
func child(name, dir string, n int) int {
	e := newEngine(name)
	if err := e.open(dir, true); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	s := newStream()
	for s.n < n {
		if err := e.append(s.next(min(1000, n-s.n))); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 1
		}
	}
	fmt.Println("READY")
	os.Stdout.Sync()
	select {} // wait for SIGKILL
}

// spawnAndKill runs the child for one engine and kills it once it is ready.
func spawnAndKill(name, dir string, n int) error {
	cmd := exec.Command(os.Args[0], "-child-engine", name, "-child-dir", dir, "-child-n", strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	line, rerr := bufio.NewReader(out).ReadString('\n')
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()
	if rerr != nil || strings.TrimSpace(line) != "READY" {
		return fmt.Errorf("recovery child %s: %q %v", name, line, rerr)
	}
	return nil
}

func machineInfo(root string) []string {
	var out []string
	out = append(out, fmt.Sprintf("CPUs (nproc): %d, GOMAXPROCS %d", runtime.NumCPU(), runtime.GOMAXPROCS(0)))
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				out = append(out, "CPU model: "+strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":")))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n")[:2] {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		out = append(out, "kernel: "+strings.TrimSpace(string(b)))
	}
	if b, err := exec.Command("df", "-hT", root).Output(); err == nil {
		ls := strings.Split(strings.TrimSpace(string(b)), "\n")
		out = append(out, "scratch filesystem: "+strings.Join(strings.Fields(ls[len(ls)-1]), " "))
	}
	out = append(out, "Go: "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH)
	return out
}
