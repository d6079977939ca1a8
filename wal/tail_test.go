package wal

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

func tailOpts(fs vfs.FS) TailOptions {
	return TailOptions{FS: fs, Dir: testDir, Salt: 0x5a17}
}

// drain reads everything the tail has now.
func drain(t *testing.T, tl *Tail) ([]got, error) {
	t.Helper()
	var out []got
	err := tl.Read(func(b *Batch) error {
		out = append(out, got{b.FirstSeq, b.Records})
		return nil
	})
	return out, err
}

// flatten returns the records of committed batches from seq on.
func flatten(cs []committed, from uint64) [][]byte {
	var out [][]byte
	for _, c := range cs {
		for i, r := range c.recs {
			if c.seq+uint64(i) >= from {
				out = append(out, r)
			}
		}
	}
	return out
}

func flattenGot(gs []got) (uint64, [][]byte) {
	var out [][]byte
	for _, g := range gs {
		out = append(out, g.recs...)
	}
	if len(gs) == 0 {
		return 0, nil
	}
	return gs[0].seq, out
}

// TestTailFollowsWriterAcrossRotation reads a WAL incrementally while it
// is written, across file rotations, from the start and from the middle
// of a batch.
func TestTailFollowsWriterAcrossRotation(t *testing.T) {
	mem := vfs.NewMem()
	w, _, err := openReplay(testOpts(mem, 600), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tl := NewTail(tailOpts(mem), 1)
	defer tl.Close()
	if gs, err := drain(t, tl); err != nil || len(gs) != 0 {
		t.Fatalf("empty log: %v %v", gs, err)
	}
	var all []committed
	for round := 0; round < 6; round++ {
		cs := commitN(t, w, round*7, round*7+7)
		all = append(all, cs...)
		gs, err := drain(t, tl)
		if err != nil {
			t.Fatal(err)
		}
		first, recs := flattenGot(gs)
		if first != cs[0].seq || !equalRecs(recs, flatten(cs, 0)) {
			t.Fatalf("round %d: got %d records from seq %d, want %d from %d", round, len(recs), first, len(flatten(cs, 0)), cs[0].seq)
		}
		if tl.Next() != cs[len(cs)-1].last()+1 {
			t.Fatalf("Next %d", tl.Next())
		}
	}
	if len(walFiles(t, mem)) < 4 {
		t.Fatal("the writer did not rotate")
	}
	// A new tail starting inside a batch (the second record of a
	// multi-record batch).
	var mid uint64
	for _, c := range all[10:] {
		if len(c.recs) > 1 {
			mid = c.seq + 1
			break
		}
	}
	tl2 := NewTail(tailOpts(mem), mid)
	defer tl2.Close()
	gs, err := drain(t, tl2)
	if err != nil {
		t.Fatal(err)
	}
	first, recs := flattenGot(gs)
	if first != mid || !equalRecs(recs, flatten(all, mid)) {
		t.Fatalf("from %d: got %d records from %d", mid, len(recs), first)
	}
}

// TestTailHalfWrittenFrame writes a frame byte range by byte range: the
// tail delivers nothing until the frame is complete and checksum-valid.
func TestTailHalfWrittenFrame(t *testing.T) {
	mem := vfs.NewMem()
	if err := mem.MkdirAll(testDir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(testDir, fileName(1))
	f, err := mem.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	hdr := appendFileHeader(nil, 0x5a17, 1)
	recs := [][]byte{[]byte("alpha"), []byte("beta-gamma")}
	frame := appendFrame(nil, xxhash.New(), 0x5a17, 1, 1, fileHeaderSize, recs, payloadSize(recs))
	if _, err := f.WriteAt(hdr, 0); err != nil {
		t.Fatal(err)
	}
	tl := NewTail(tailOpts(mem), 1)
	defer tl.Close()
	for _, cut := range []int{1, 8, 39, 40, 47, len(frame) - 8, len(frame) - 1} {
		if _, err := f.WriteAt(frame[:cut], fileHeaderSize); err != nil {
			t.Fatal(err)
		}
		gs, err := drain(t, tl)
		if err != nil || len(gs) != 0 {
			t.Fatalf("%d of %d frame bytes: delivered %v, err %v", cut, len(frame), gs, err)
		}
	}
	// A complete frame with a wrong checksum byte is still "not yet".
	bad := append([]byte(nil), frame...)
	bad[len(bad)-1] ^= 1
	f.WriteAt(bad, fileHeaderSize)
	if gs, err := drain(t, tl); err != nil || len(gs) != 0 {
		t.Fatalf("bad checksum: delivered %v, err %v", gs, err)
	}
	f.WriteAt(frame, fileHeaderSize)
	gs, err := drain(t, tl)
	if err != nil || len(gs) != 1 || !equalRecs(gs[0].recs, recs) || gs[0].seq != 1 {
		t.Fatalf("complete frame: %v, err %v", gs, err)
	}
	// Zero-filled space after it (a pre-created file) is "not yet" too.
	f.WriteAt(make([]byte, 4096), fileHeaderSize+int64(len(frame)))
	if gs, err := drain(t, tl); err != nil || len(gs) != 0 {
		t.Fatalf("zeros: %v %v", gs, err)
	}
	f.Close()
}

// TestTailGapAfterCheckpoint: records removed by a checkpoint are
// reported as ErrTailGap, and Seek resumes in the log.
func TestTailGapAfterCheckpoint(t *testing.T) {
	mem := vfs.NewMem()
	w, _, err := openReplay(testOpts(mem, 512), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	all := commitN(t, w, 0, 40)
	cut := all[20].last()
	if err := w.Checkpoint(cut); err != nil {
		t.Fatal(err)
	}
	tl := NewTail(tailOpts(mem), 1)
	defer tl.Close()
	if _, err := drain(t, tl); !errors.Is(err, ErrTailGap) {
		t.Fatalf("reading checkpointed records: %v, want ErrTailGap", err)
	}
	// The records after the checkpoint are still in the log.
	firstInLog := cut + 1
	tl.Seek(firstInLog)
	gs, err := drain(t, tl)
	if err != nil {
		t.Fatal(err)
	}
	first, recs := flattenGot(gs)
	if first != firstInLog || !equalRecs(recs, flatten(all, firstInLog)) {
		t.Fatalf("after Seek(%d): %d records from %d", firstInLog, len(recs), first)
	}
	// A tail that is caught up survives the checkpoint of its file.
	if err := w.Checkpoint(all[39].last()); err != nil {
		t.Fatal(err)
	}
	more := commitN(t, w, 40, 60)
	gs, err = drain(t, tl)
	if err != nil {
		t.Fatal(err)
	}
	first, recs = flattenGot(gs)
	if first != more[0].seq || !equalRecs(recs, flatten(more, 0)) {
		t.Fatalf("after checkpoint: %d records from %d", len(recs), first)
	}
}

// TestTailForeignSalt: a checksum-valid frame of another ledger is
// corruption, not "not yet".
func TestTailForeignSalt(t *testing.T) {
	mem := vfs.NewMem()
	mem.MkdirAll(testDir)
	f, _ := mem.Create(filepath.Join(testDir, fileName(1)))
	f.WriteAt(appendFileHeader(nil, 0x5a17, 1), 0)
	recs := [][]byte{[]byte("x")}
	f.WriteAt(appendFrame(nil, xxhash.New(), 0x999, 1, 1, fileHeaderSize, recs, payloadSize(recs)), fileHeaderSize)
	f.Close()
	tl := NewTail(tailOpts(mem), 1)
	defer tl.Close()
	if _, err := drain(t, tl); !errors.Is(err, corrupt.ErrCorrupt) {
		t.Fatalf("foreign frame: %v", err)
	}
}
