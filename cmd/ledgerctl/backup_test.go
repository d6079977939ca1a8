package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

func TestBackupCommand(t *testing.T) {
	src, _ := makeLedger(t, 3000, 21)
	tmp := t.TempDir()
	dst, head := filepath.Join(tmp, "b1"), filepath.Join(tmp, "b1.digest")
	before := treeHash(t, src)
	r := runCLI(t, nil, "backup", src, dst, "--digest-out", head).must(t, exitOK)
	for _, want := range []string{"3,000 events up to seq 3000", "linked", "unsealed tail: 200 events", "verified:", "head: seq 3000", "digest saved"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("backup output lacks %q:\n%s", want, r.stdout)
		}
	}
	sameTree(t, "backup", before, treeHash(t, src))
	// The copy verifies against the saved head, and so does the source.
	runCLI(t, nil, "verify", dst, "--digest", head).must(t, exitOK)
	runCLI(t, nil, "verify", src, "--digest", head).must(t, exitOK)
	if a, b := runCLI(t, nil, "export", src).must(t, exitOK).stdout, runCLI(t, nil, "export", dst).must(t, exitOK).stdout; a != b {
		t.Fatal("the backup exports other events than its source")
	}

	// Incremental, JSON.
	appendMore(t, src, workload.New(workload.Config{Seed: 22}).Batch(800))
	var bj backupJSON
	out := runCLI(t, nil, "backup", src, filepath.Join(tmp, "b2"), "--since", dst, "-o", "json").must(t, exitOK).stdout
	if err := json.Unmarshal([]byte(out), &bj); err != nil || bj.Head.Seq != 3800 || bj.FromSince == 0 || !bj.Verified || bj.Events != 3800 {
		t.Fatalf("incremental backup: %v %+v", err, bj)
	}
	runCLI(t, nil, "verify", filepath.Join(tmp, "b2"), "--digest", head).must(t, exitOK)

	// Restore by export | import into a new ledger: the same events give
	// the same chain, so a digest without the ledger id proves it.
	exported := runCLI(t, nil, "export", dst).must(t, exitOK).stdout
	restored := filepath.Join(tmp, "restored")
	runCLI(t, strings.NewReader(exported), "import", restored, "-").must(t, exitOK)
	d, _ := os.ReadFile(head)
	anon := filepath.Join(tmp, "anon.digest")
	os.WriteFile(anon, []byte(strings.Join(strings.Split(string(d), "\n")[1:], "\n")), 0o644)
	runCLI(t, nil, "verify", restored, "--digest", anon).must(t, exitOK)

	// Refusals: a non-empty target; an unfinished backup is not a ledger.
	r = runCLI(t, nil, "backup", src, dst).must(t, exitError)
	if !strings.Contains(r.stderr, "not empty") {
		t.Errorf("non-empty target: %s", r.stderr)
	}
	half := filepath.Join(tmp, "half")
	os.MkdirAll(filepath.Join(half, "seg"), 0o755)
	os.WriteFile(filepath.Join(half, "BACKUP-INCOMPLETE"), []byte("x"), 0o644)
	for _, args := range [][]string{{"stat", half}, {"verify", half}, {"backup", half, filepath.Join(tmp, "b3")}} {
		r := runCLI(t, nil, args...).must(t, exitError)
		if !strings.Contains(r.stderr, "unfinished backup") {
			t.Errorf("%q on an unfinished backup: %s", args, r.stderr)
		}
	}
}

const ledgerctlHelperEnv = "EXLEDGER_LEDGERCTL_ARGS"

// TestLedgerctlHelper runs ledgerctl with the JSON-encoded arguments of
// the environment variable, as a separate process; it does nothing in a
// normal run.
func TestLedgerctlHelper(t *testing.T) {
	spec := os.Getenv(ledgerctlHelperEnv)
	if spec == "" {
		t.Skip("helper process for TestBackupBesideWriter")
	}
	var args []string
	if err := json.Unmarshal([]byte(spec), &args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(exitUsage)
	}
	os.Exit(run(context.Background(), args, os.Stdin, os.Stdout, os.Stderr))
}

// TestBackupBesideWriter runs 'ledgerctl backup' in another process while
// 4 writers append (and the writer compacts): every backup verifies, is a
// dense prefix of the writer's log reaching at least the sequence number
// acknowledged before it started, and the final ledger extends its head.
func TestBackupBesideWriter(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "live")
	o := &ledger.Options{SegmentBytes: 64 << 10, WALFileSize: 128 << 10}
	l, err := ledger.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.AppendEvents(ctx, workload.New(workload.Config{Seed: 30}).Batch(1000)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bgErr atomic.Value
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			g := workload.New(workload.Config{Seed: int64(31 + w)})
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := l.AppendEvents(ctx, g.Batch(25)); err != nil {
					bgErr.Store(err)
					return
				}
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := l.Compact(ctx, ledger.CompactOptions{TargetBytes: 512 << 10}); err != nil {
				bgErr.Store(err)
				return
			}
		}
	}()
	type run struct {
		acked uint64
		rep   backupJSON
		dir   string
	}
	var runs []run
	for i := 0; i < 3; i++ {
		time.Sleep(100 * time.Millisecond)
		acked := l.LastSeq()
		bdir := filepath.Join(tmp, fmt.Sprintf("b%d", i))
		spec, _ := json.Marshal([]string{"backup", dir, bdir, "-o", "json"})
		cmd := exec.Command(os.Args[0], "-test.run=^TestLedgerctlHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), ledgerctlHelperEnv+"="+string(spec))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("ledgerctl backup: %v\n%s", err, stderr.String())
		}
		var rep backupJSON
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("%v: %s", err, stdout.String())
		}
		// The JSON digest carries the hash in hex only.
		hb, _ := json.Marshal(rep.Head)
		if rep.Head, err = parseDigest(hb); err != nil {
			t.Fatal(err)
		}
		if rep.Head.Seq < acked || !rep.Verified {
			t.Fatalf("backup %d: head %d, %d acknowledged before it started (verified %v)", i, rep.Head.Seq, acked, rep.Verified)
		}
		runs = append(runs, run{acked, rep, bdir})
	}
	close(stop)
	wg.Wait()
	if err, ok := bgErr.Load().(error); ok {
		t.Fatal(err)
	}
	final := runCLI(t, nil, "export", dir).must(t, exitOK).stdout
	for i, r := range runs {
		if err := l.VerifyDigest(ctx, r.rep.Head); err != nil {
			t.Fatalf("the final ledger does not extend backup %d: %v", i, err)
		}
		got := runCLI(t, nil, "export", r.dir).must(t, exitOK).stdout
		if n := strings.Count(got, "\n"); uint64(n) != r.rep.Head.Seq || !strings.HasPrefix(final, got) {
			t.Fatalf("backup %d holds %d events, not the writer's first %d", i, n, r.rep.Head.Seq)
		}
		t.Logf("backup %d: acked %d, N %d, %d segments (%d files linked), tail %d events, %.3fs",
			i, r.acked, r.rep.Head.Seq, r.rep.Segments, r.rep.Linked, r.rep.TailEvents, r.rep.TookSeconds)
	}
}
