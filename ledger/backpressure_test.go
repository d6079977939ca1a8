package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// When the background sealer cannot keep up (here: it always fails), at most
// a bounded number of full memtables pile up; further appends fail clearly
// instead of growing memory without bound, and nothing acknowledged is lost.
func TestSealerBackpressure(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	fsys := vfs.NewFault(mem)
	o := &ledger.Options{FS: fsys, Sync: ledger.SyncNever, SegmentBytes: 8 << 10, WALFileSize: 64 << 20}
	l, err := ledger.Open("/l", o)
	if err != nil {
		t.Fatal(err)
	}
	// From now on every create fails: segments cannot be written.
	fsys.Inject(vfs.Fault{Op: vfs.OpCreate, N: fsys.Count(vfs.OpCreate), Persistent: true})
	g := workload.New(workload.Config{Seed: 41, OutlierRate: -1})
	var acked int
	var lastErr error
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if lastErr = l.AppendEvents(ctx, g.Batch(10)); lastErr != nil {
			break
		}
		acked += 10
	}
	if lastErr == nil {
		t.Fatal("appends never paused while sealing failed")
	}
	if !errors.Is(lastErr, ledger.ErrStorage) || !strings.Contains(lastErr.Error(), "sealing") {
		t.Fatalf("error does not explain the pause: %v", lastErr)
	}
	m := l.Metrics()
	if m.SealStalls == 0 || m.BackgroundErr == "" {
		t.Fatalf("metrics: %+v", m)
	}
	if acked > 2000 {
		t.Fatalf("%d events accepted with a failing sealer; memory is not bounded", acked)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	// Nothing acknowledged is lost: it is all in the WAL.
	fsys.Clear()
	l2, err := ledger.Open("/l", o)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if got := l2.LastSeq(); got != uint64(acked) {
		t.Fatalf("recovered %d events, acknowledged %d", got, acked)
	}
}
