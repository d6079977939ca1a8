package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestProcIOFields: the /proc/self/io counters are read, and write_bytes
// grows by at least what an fsynced write sent to storage.
func TestProcIOFields(t *testing.T) {
	before := ioWriteBytes()
	if before < 0 || ioReadBytes() < 0 {
		t.Skip("/proc/self/io is not available here")
	}
	if procIOField("no_such_field: ") != -1 {
		t.Fatal("a missing field did not give -1")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "w"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := ioWriteBytes() - before; got < 1<<20 {
		if got == 0 {
			t.Skip("write_bytes did not move: no storage accounting here (tmpfs, or task I/O accounting off)")
		}
		t.Fatalf("write_bytes grew by %d after an fsynced 1 MiB write, want >= %d", got, 1<<20)
	}
}
