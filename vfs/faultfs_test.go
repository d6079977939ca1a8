package vfs

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
)

func TestFaultCounting(t *testing.T) {
	cases := []struct {
		name       string
		fault      Fault
		wantFailed []int // indexes (0..5) of the six writes that fail
	}{
		{"once", Fault{Op: OpWrite, N: 2}, []int{2}},
		{"persistent", Fault{Op: OpWrite, N: 3, Persistent: true}, []int{3, 4, 5}},
		{"other kind", Fault{Op: OpSync, N: 0}, nil},
		{"enospc", Fault{Op: OpWrite, N: 0, Err: syscall.ENOSPC}, []int{0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMem()
			ffs := NewFault(m)
			f, err := ffs.Create("/f")
			if err != nil {
				t.Fatal(err)
			}
			ffs.Inject(tc.fault)
			var failed []int
			for i := 0; i < 6; i++ {
				if _, err := f.Write([]byte{byte('0' + i)}); err != nil {
					want := tc.fault.Err
					if want == nil {
						want = syscall.EIO
					}
					if !errors.Is(err, want) {
						t.Fatalf("error %v, want %v", err, want)
					}
					failed = append(failed, i)
				}
			}
			if len(failed) != len(tc.wantFailed) {
				t.Fatalf("failed %v, want %v", failed, tc.wantFailed)
			}
			for i := range failed {
				if failed[i] != tc.wantFailed[i] {
					t.Fatalf("failed %v, want %v", failed, tc.wantFailed)
				}
			}
			if ffs.Fired() != (len(failed) > 0) || ffs.FiredCount() != len(failed) {
				t.Fatalf("Fired=%v count=%d", ffs.Fired(), ffs.FiredCount())
			}
			if ffs.Count(OpWrite) != 6 || ffs.Count(OpAny) != 7 {
				t.Fatalf("counts write=%d any=%d", ffs.Count(OpWrite), ffs.Count(OpAny))
			}
			// Failed writes never reach the inner FS.
			b, _ := m.ReadFile("/f")
			if len(b) != 6-len(failed) {
				t.Fatalf("inner has %q", b)
			}
		})
	}
}

func TestFaultShortWriteAndSync(t *testing.T) {
	m := NewMem()
	ffs := NewFault(m)
	ffs.MkdirAll("/d")
	f, _ := ffs.Create("/d/f")
	ffs.Inject(Fault{Op: OpWrite, N: 0, Short: true, Err: syscall.ENOSPC})
	n, err := f.Write([]byte("12345678"))
	if n != 4 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("short write n=%d err=%v", n, err)
	}
	if b, _ := m.ReadFile("/d/f"); string(b) != "1234" {
		t.Fatalf("inner got %q, want half", b)
	}
	ffs.Inject(Fault{Op: OpSync, N: 0})
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("sync: %v", err)
	}
	// The failed sync did not reach the inner FS: a crash drops the data.
	m.SyncDir("/")
	m.SyncDir("/d")
	if b, _ := m.Crash(CrashDropUnsynced, nil).ReadFile("/d/f"); len(b) != 0 {
		t.Fatalf("failed sync made data durable: %q", b)
	}
	if err := f.Sync(); err != nil { // N=0 only: the second sync passes
		t.Fatal(err)
	}
	if b, _ := m.Crash(CrashDropUnsynced, nil).ReadFile("/d/f"); string(b) != "1234" {
		t.Fatalf("synced data lost: %q", b)
	}
}

func TestFaultAnyLoop(t *testing.T) {
	// The canonical loop: fail op N of any kind until the workload runs
	// clean. Every op kind must be reachable.
	workload := func(fsys FS) error {
		if err := fsys.MkdirAll("/d"); err != nil {
			return err
		}
		f, err := fsys.Create("/d/tmp")
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := f.Write([]byte("abc")); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if err := fsys.Rename("/d/tmp", "/d/f"); err != nil {
			return err
		}
		if err := fsys.SyncDir("/d"); err != nil {
			return err
		}
		if _, err := fsys.List("/d"); err != nil {
			return err
		}
		buf := make([]byte, 3)
		if _, err := f.ReadAt(buf, 0); err != nil {
			return err
		}
		return fsys.Remove("/d/f")
	}
	var n int
	for n = 0; ; n++ {
		ffs := NewFault(NewMem())
		ffs.Inject(Fault{Op: OpAny, N: n})
		err := workload(ffs)
		if !ffs.Fired() {
			if err != nil {
				t.Fatalf("workload failed without a fault: %v", err)
			}
			break
		}
		if !errors.Is(err, syscall.EIO) {
			t.Fatalf("n=%d: fault fired but workload returned %v", n, err)
		}
	}
	if n != 9 {
		t.Fatalf("workload has 9 ops, loop ended at %d", n)
	}
}

// TestFaultName: a fault with Name ignores operations on other paths and
// counts N among the matching ones from Inject on, so background work on
// other files neither takes it nor moves it.
func TestFaultName(t *testing.T) {
	cases := []struct {
		name       string
		fault      Fault
		wantFailed []string // "<file><i>" of the writes that fail
	}{
		{"first match", Fault{Op: OpWrite, Name: "/wal/", N: 0}, []string{"w0"}},
		{"third match", Fault{Op: OpWrite, Name: "/wal/", N: 2}, []string{"w2"}},
		{"persistent", Fault{Op: OpWrite, Name: "/wal/", N: 1, Persistent: true}, []string{"w1", "w2", "w3"}},
		{"no match", Fault{Op: OpWrite, Name: "/nowhere/", N: 0}, nil},
		{"other kind", Fault{Op: OpSync, Name: "/wal/", N: 0}, nil},
		{"any kind", Fault{Op: OpAny, Name: "/other/", N: 1}, []string{"o1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ffs := NewFault(NewMem())
			if err := ffs.MkdirAll("/wal"); err != nil {
				t.Fatal(err)
			}
			if err := ffs.MkdirAll("/other"); err != nil {
				t.Fatal(err)
			}
			w, err := ffs.Create("/wal/1.wal")
			if err != nil {
				t.Fatal(err)
			}
			o, err := ffs.Create("/other/TREE.tmp")
			if err != nil {
				t.Fatal(err)
			}
			// Operations before Inject do not count toward a named fault.
			for i := 0; i < 3; i++ {
				if _, err := w.Write([]byte{1}); err != nil {
					t.Fatal(err)
				}
			}
			ffs.Inject(tc.fault)
			var failed []string
			for i := 0; i < 4; i++ {
				// Interleave writes on another file, as background work would.
				if _, err := o.Write([]byte{2}); err != nil {
					failed = append(failed, fmt.Sprintf("o%d", i))
				}
				if _, err := w.Write([]byte{3}); err != nil {
					if !errors.Is(err, syscall.EIO) {
						t.Fatalf("error %v, want EIO", err)
					}
					failed = append(failed, fmt.Sprintf("w%d", i))
				}
			}
			if fmt.Sprint(failed) != fmt.Sprint(tc.wantFailed) {
				t.Fatalf("failed %v, want %v", failed, tc.wantFailed)
			}
			if ffs.FiredCount() != len(failed) {
				t.Fatalf("FiredCount %d, want %d", ffs.FiredCount(), len(failed))
			}
		})
	}
}
