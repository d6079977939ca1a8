package ledger_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

// BenchmarkBackup1M backs up a live ledger of 1M sealed events (the cached
// ledger of the query benchmarks, linked into a scratch copy) plus an
// unsealed tail of 50k events appended by the writer, into a directory on
// the same file system (segments hard-linked) and into one on another file
// system (segments copied: /dev/shm, or $EXLEDGER_BENCH_OTHER_FS), each
// with and without the verification pass. For the copies it also times
// copying the same segment files with io.Copy (copy_file_range, no fsync)
// in the same run, so backup ÷ cp says how close to disk speed it is.
//
//	go test -run '^$' -bench 'Backup1M' -benchtime 3x -timeout 30m ./ledger/
func BenchmarkBackup1M(b *testing.B) {
	const n, tail = 1_000_000, 50_000
	cached, _ := qbLedger(b, n)
	ctx := context.Background()
	scratch := b.TempDir()
	live := filepath.Join(scratch, "live")
	src, err := ledger.Open(cached, &ledger.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := src.BackupWith(ctx, live, ledger.BackupOptions{NoVerify: true}); err != nil {
		b.Fatal(err)
	}
	src.Close()
	l, err := ledger.Open(live, &ledger.Options{Sync: ledger.SyncNever, SegmentAge: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	g := workload.New(workload.Config{Seed: 77})
	for done := 0; done < tail; done += 1000 {
		if err := l.AppendEvents(ctx, g.Batch(1000)); err != nil {
			b.Fatal(err)
		}
	}
	if m := l.Metrics(); m.LastSeq-m.SealedEvents != tail {
		b.Fatalf("tail of %d events, want %d", m.LastSeq-m.SealedEvents, tail)
	}

	other := os.Getenv("EXLEDGER_BENCH_OTHER_FS")
	if other == "" {
		other = "/dev/shm"
	}
	targets := []struct{ name, root string }{{"same-fs", scratch}}
	if d, err := os.MkdirTemp(other, "exledger-backup-bench-"); err != nil {
		b.Logf("no other file system (%v): copy cases skipped", err)
	} else if sameDevice(d, scratch) {
		os.RemoveAll(d)
		b.Logf("%s is on the ledger's file system: copy cases skipped", other)
	} else {
		defer os.RemoveAll(d)
		targets = append(targets, struct{ name, root string }{"other-fs", d})
	}
	for _, tg := range targets {
		for _, verify := range []bool{false, true} {
			name := tg.name + "/no-verify"
			if verify {
				name = tg.name + "/verify"
			}
			b.Run(name, func(b *testing.B) {
				var rep ledger.BackupReport
				var took, files, tailT, ver, cp time.Duration
				for i := 0; i < b.N; i++ {
					if tg.name != "same-fs" {
						// The reference copy, alternated with the backups.
						b.StopTimer()
						cp += plainCopy(b, filepath.Join(live, "seg"), filepath.Join(tg.root, "cp"))
						b.StartTimer()
					}
					dst := filepath.Join(tg.root, "b")
					t := time.Now()
					rep, err = l.BackupWith(ctx, dst, ledger.BackupOptions{NoVerify: !verify})
					took += time.Since(t)
					if err != nil {
						b.Fatal(err)
					}
					files += rep.FilesTook
					tailT += rep.TailTook
					ver += rep.VerifyTook
					b.StopTimer()
					os.RemoveAll(dst)
					b.StartTimer()
				}
				b.StopTimer()
				k := time.Duration(b.N)
				per := took / k
				ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
				b.ReportMetric(ms(per), "ms/backup")
				b.ReportMetric(ms(files/k), "files-ms")
				b.ReportMetric(ms(tailT/k), "tail-ms")
				if verify {
					b.ReportMetric(ms(ver/k), "verify-ms")
				}
				b.ReportMetric(float64(rep.Linked), "files-linked")
				b.ReportMetric(float64(rep.CopiedBytes)/1e6, "MB-copied")
				b.ReportMetric(float64(rep.TailEvents), "tail-events")
				if rep.Copied > 0 {
					b.ReportMetric(float64(rep.CopiedBytes)/1e6/(files/k).Seconds(), "copy-MB/s")
					b.ReportMetric(ms(cp/k), "cp-ms")
					b.ReportMetric(float64(files)/float64(cp), "files/cp")
				}
			})
		}
	}
}

func sameDevice(a, b string) bool {
	var sa, sb unix.Stat_t
	return unix.Stat(a, &sa) == nil && unix.Stat(b, &sb) == nil && sa.Dev == sb.Dev
}

// plainCopy copies every file of dir into a new directory with io.Copy
// (copy_file_range where the kernel allows it) and no fsync, and returns
// the time taken; the copy is removed.
func plainCopy(b *testing.B, dir, dst string) time.Duration {
	b.Helper()
	names, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	os.MkdirAll(dst, 0o700)
	defer os.RemoveAll(dst)
	t := time.Now()
	for _, e := range names {
		in, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			b.Fatal(err)
		}
		in.Close()
		out.Close()
	}
	return time.Since(t)
}
