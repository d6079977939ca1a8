package ledger_test

// Real kill -9 (reliability research T10, guarantees G1-G3, G11): the test
// binary re-executes itself as a helper process that appends batches to a
// ledger on the real disk (default options: SyncAlways) and prints each
// batch's id on stdout once AppendEvents has returned. The parent SIGKILLs
// it at a random moment, reopens the ledger (timing Open) and checks that
// every acknowledged batch is present and whole, that no batch is partial
// and that sequence numbers have no holes; then it starts the next helper
// on the same directory.

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

const (
	killHelperEnv = "EXLEDGER_KILL_HELPER_DIR"
	killBaseEnv   = "EXLEDGER_KILL_HELPER_BASE"
)

// killBatch returns batch id of the helper: deterministic, so the parent
// can rebuild exactly what the helper appended. Event ids are unique per
// batch id.
func killBatch(id int) relBatch {
	g := workload.New(workload.Config{Seed: int64(id), OutlierRate: -1, Tenants: 3})
	n := 1 + id%7
	b := relNewBatch(g, id, n)
	for i := range b.evs {
		b.evs[i].EventID = ledger.EventID(fmt.Sprintf("kill-%d-%d", id, i))
		cb, err := ledger.MarshalCanonical(&b.evs[i])
		if err != nil {
			panic(err)
		}
		b.canon[i] = cb
	}
	return b
}

func killOpts() *ledger.Options {
	// Default durability (SyncAlways) on the real disk; small segments so
	// kills also land in background seals.
	return &ledger.Options{SegmentBytes: 48 << 10, WALFileSize: 256 << 10, EmbeddingDim: relDim, SealLayout: relLayout}
}

// TestKillHelper is the helper process; it does nothing in a normal run.
func TestKillHelper(t *testing.T) {
	dir := os.Getenv(killHelperEnv)
	if dir == "" {
		t.Skip("helper process for TestKill9")
	}
	base, _ := strconv.Atoi(os.Getenv(killBaseEnv))
	l, err := ledger.Open(dir, killOpts())
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper open:", err)
		os.Exit(3)
	}
	out := bufio.NewWriter(os.Stdout)
	ctx := context.Background()
	for id := base; ; id++ {
		b := killBatch(id)
		if err := relAppend(ctx, l, b); err != nil {
			fmt.Fprintln(os.Stderr, "helper append:", err)
			os.Exit(4)
		}
		fmt.Fprintln(out, id)
		out.Flush()
		if id%50 == 49 {
			l.Flush()
		}
	}
}

func TestKill9(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL")
	}
	kills := 50
	if relShort() {
		kills = 12
	}
	if v, err := strconv.Atoi(os.Getenv("EXLEDGER_KILLS")); err == nil && v > 0 {
		kills = v
	}
	ctx := context.Background()
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	var attempts []relAttempt
	var opens []time.Duration
	acked, violations := 0, 0
	nextBase := 0
	start := time.Now()
	for k := 0; k < kills; k++ {
		base := nextBase
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), killHelperEnv+"="+dir, killBaseEnv+"="+strconv.Itoa(base))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ids := make(chan int, 1<<16)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if id, err := strconv.Atoi(sc.Text()); err == nil {
					ids <- id
				}
			}
			close(ids)
		}()
		// Wait for the first acknowledgement (the helper is up), then a
		// random delay, then SIGKILL.
		var got []int
		select {
		case id, ok := <-ids:
			if ok {
				got = append(got, id)
			}
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatal("helper did not acknowledge anything in 60s")
		}
		time.Sleep(time.Duration(rng.Intn(150)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		for id := range ids {
			got = append(got, id)
		}
		cmd.Wait()
		// Attempted: everything acknowledged plus, possibly, the one batch
		// in flight when the helper died.
		ackedSet := map[int]bool{}
		for _, id := range got {
			ackedSet[id] = true
		}
		last := base - 1
		if len(got) > 0 {
			last = slices.Max(got)
		}
		for id := base; id <= last+1; id++ {
			attempts = append(attempts, relAttempt{b: killBatch(id), acked: ackedSet[id]})
		}
		acked += len(got)
		nextBase = last + 2

		t0 := time.Now()
		l, err := ledger.Open(dir, killOpts())
		opens = append(opens, time.Since(t0))
		if err != nil {
			t.Fatalf("kill %d: reopen: %v", k, err)
		}
		st, err := relReadAll(ctx, l, relKnown(attempts))
		if err == nil {
			err = relCheckAttempts(st, attempts)
		}
		if err != nil {
			violations++
			t.Errorf("kill %d: %v", k, err)
		}
		if k == kills-1 {
			if _, err := l.Verify(ctx, nil); err != nil {
				violations++
				t.Errorf("verify: %v", err)
			}
		}
		// The recovered content is now the acknowledged history: a batch
		// in flight that survived becomes part of it.
		if st != nil {
			attempts = relAsAcked(st.batches)
		}
		l.Close()
	}
	slices.Sort(opens)
	pct := func(p float64) time.Duration { return opens[int(p*float64(len(opens)-1))] }
	relReport(t, "test=T10-kill9 kills=%d acked_batches=%d violations=%d acked_lost=%d recovery_open_p50=%s p99=%s max=%s duration=%s",
		kills, acked, violations, violations, pct(0.5).Round(time.Microsecond), pct(0.99).Round(time.Microsecond),
		opens[len(opens)-1].Round(time.Microsecond), time.Since(start).Round(time.Millisecond))
}
