package wal

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/exledger/exledger/vfs"
)

const testDir = "/db/wal"

// testBuffered makes testOpts turn direct writes off, so that a suite
// written for the default (direct writes) runs again on the buffered
// path (TestBufferedWritesSuites).
var testBuffered bool

func testOpts(fs vfs.FS, fileSize int64) Options {
	return Options{FS: fs, Dir: testDir, Salt: 0x5a17, FileSize: fileSize, syncPrecreate: true, BufferedWrites: testBuffered}
}

// batchRecords returns the deterministic records of batch i of a workload.
func batchRecords(i int) [][]byte {
	sizes := []int{0, 1, 7, 60, 150, 333}
	n := 1 + (i*7)%4
	recs := make([][]byte, n)
	for j := range recs {
		sz := sizes[(i+j)%len(sizes)]
		r := make([]byte, sz)
		for k := range r {
			r[k] = byte(i*31 + j*7 + k)
		}
		recs[j] = r
	}
	return recs
}

type got struct {
	seq  uint64
	recs [][]byte
}

// openReplay opens the WAL and collects the replayed batches.
func openReplay(opts Options, startSeq uint64) (*WAL, []got, error) {
	var out []got
	w, err := Open(opts, startSeq, func(b *Batch) error {
		out = append(out, got{b.FirstSeq, b.Records})
		return nil
	})
	return w, out, err
}

// committed is what the test knows about a batch it committed.
type committed struct {
	idx  int // workload index (records = batchRecords(idx))
	seq  uint64
	recs [][]byte
}

func (c committed) last() uint64 { return c.seq + uint64(len(c.recs)) - 1 }

func equalRecs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// checkPrefix checks that replay is, in order, exactly attempted[k:m]
// where k is the first batch with last >= startSeq, and m covers at least
// every batch in mustHave (indexes into attempted).
func checkPrefix(replay []got, attempted []committed, startSeq uint64, mustHave int) error {
	k := 0
	for k < len(attempted) && attempted[k].last() < startSeq {
		k++
	}
	if len(replay) > len(attempted)-k {
		return fmt.Errorf("replayed %d batches, only %d attempted from seq %d", len(replay), len(attempted)-k, startSeq)
	}
	for i, g := range replay {
		a := attempted[k+i]
		if g.seq != a.seq || !equalRecs(g.recs, a.recs) {
			return fmt.Errorf("replayed batch %d: seq %d (%d records), want seq %d (%d records)", i, g.seq, len(g.recs), a.seq, len(a.recs))
		}
	}
	if k+len(replay) < mustHave {
		return fmt.Errorf("lost acknowledged batches: replayed up to %d, %d acknowledged", k+len(replay), mustHave)
	}
	return nil
}

// commitN commits batches from..to-1 sequentially.
func commitN(t testing.TB, w *WAL, from, to int) []committed {
	t.Helper()
	var out []committed
	for i := from; i < to; i++ {
		recs := batchRecords(i)
		seq, err := w.Commit(context.Background(), recs, nil)
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		out = append(out, committed{idx: i, seq: seq, recs: recs})
	}
	return out
}

// frameEnds parses a WAL file independently of the package's decoder and
// returns the end offset of each frame (stops at the first zero magic).
func frameEnds(data []byte) []int64 {
	var ends []int64
	off := int64(40)
	for off+48 <= int64(len(data)) && binary.LittleEndian.Uint32(data[off:]) == 0x46574c45 {
		p := int64(binary.LittleEndian.Uint32(data[off+36:]))
		off += 40 + (p+7)&^7 + 8
		ends = append(ends, off)
	}
	return ends
}

// walFiles returns the WAL file paths in mem, in order.
func walFiles(t testing.TB, mem *vfs.MemFS) []string {
	t.Helper()
	names, err := mem.List(testDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if _, ok := parseFileName(n); ok {
			out = append(out, filepath.Join(testDir, n))
		}
	}
	return out
}

// image builds a fresh MemFS holding files (path -> content), all durable.
func image(t testing.TB, files map[string][]byte) *vfs.MemFS {
	t.Helper()
	m := vfs.NewMem()
	if err := m.MkdirAll(testDir); err != nil {
		t.Fatal(err)
	}
	for p, d := range files {
		if err := m.WriteFile(p, d); err != nil {
			t.Fatal(err)
		}
	}
	return m
}
