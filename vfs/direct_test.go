package vfs

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"
)

func TestAlignedBuffer(t *testing.T) {
	for _, n := range []int{0, 1, DirectAlign, 3*DirectAlign + 5, 1 << 20} {
		b := AlignedBuffer(n)
		if len(b) != n || cap(b) != n {
			t.Fatalf("n=%d: len %d cap %d", n, len(b), cap(b))
		}
		if n > 0 && uintptr(unsafe.Pointer(&b[0]))%DirectAlign != 0 {
			t.Fatalf("n=%d: unaligned", n)
		}
	}
}

// directCheck runs the alignment and content checks every DirectOpener
// must pass: aligned writes land and are read by other handles, unaligned
// ones fail with EINVAL and change nothing.
func directCheck(t *testing.T, fsys FS, dir string) {
	t.Helper()
	name := filepath.Join(dir, "d")
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("head")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d, err := OpenDirect(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	buf := AlignedBuffer(2 * DirectAlign)
	for i := range buf {
		buf[i] = byte(i%251 + 1)
	}
	if _, err := d.WriteAt(buf, DirectAlign); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		p   []byte
		off int64
	}{
		{buf[:DirectAlign], 100 + DirectAlign},    // offset (unaligned for a 512-byte device too)
		{buf[:100], 0},                            // length
		{buf[1 : DirectAlign+1], 3 * DirectAlign}, // address
	} {
		if _, err := d.WriteAt(bad.p, bad.off); !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("unaligned write at %d (%d bytes): %v, want EINVAL", bad.off, len(bad.p), err)
		}
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	if size, err := d.Size(); err != nil || size != 3*DirectAlign {
		t.Fatalf("size %d, %v", size, err)
	}
	r, err := fsys.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make([]byte, 3*DirectAlign)
	if n, err := r.ReadAt(got, 0); n != len(got) {
		t.Fatalf("read %d, %v", n, err)
	}
	want := append(append([]byte("head"), make([]byte, DirectAlign-4)...), buf...)
	if !bytes.Equal(got, want) {
		t.Fatal("content differs")
	}
	rb := AlignedBuffer(DirectAlign)
	if _, err := d.ReadAt(rb, DirectAlign); err != nil || !bytes.Equal(rb, buf[:DirectAlign]) {
		t.Fatalf("direct read: %v", err)
	}
	if _, err := OpenDirect(fsys, filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestDirectMem(t *testing.T) {
	m := NewMem()
	if err := m.MkdirAll("/d"); err != nil {
		t.Fatal(err)
	}
	directCheck(t, m, "/d")
	// Direct writes are as volatile as any other until Sync.
	m.SyncDir("/")
	m.SyncDir("/d")
	d, _ := m.OpenDirect("/d/d")
	if _, err := d.WriteAt(AlignedBuffer(DirectAlign), 3*DirectAlign); err != nil {
		t.Fatal(err)
	}
	if b, _ := m.Crash(CrashDropUnsynced, nil).ReadFile("/d/d"); len(b) != 3*DirectAlign {
		t.Fatalf("an unsynced direct write survived a power loss: %d bytes", len(b))
	}
}

func TestDirectOS(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenDirect(OS, dir+"/none"); errors.Is(err, ErrDirectUnsupported) {
		t.Skipf("the file system of %s refuses O_DIRECT: %v", dir, err)
	}
	directCheck(t, OS, dir)
}

func TestDirectFault(t *testing.T) {
	m := NewMem()
	m.MkdirAll("/d")
	ffs := NewFault(m)
	directCheck(t, ffs, "/d")

	// A short direct write tears at a DirectAlign boundary.
	d, err := ffs.OpenDirect("/d/d")
	if err != nil {
		t.Fatal(err)
	}
	buf := AlignedBuffer(3 * DirectAlign)
	for i := range buf {
		buf[i] = 0xee
	}
	ffs.Inject(Fault{Op: OpWrite, N: ffs.Count(OpWrite), Short: true})
	if n, err := d.WriteAt(buf, 0); n != DirectAlign || !errors.Is(err, syscall.EIO) {
		t.Fatalf("short direct write: %d, %v", n, err)
	}
	// A fault on OpOpen hits OpenDirect.
	ffs.Inject(Fault{Op: OpOpen, N: ffs.Count(OpOpen)})
	if _, err := ffs.OpenDirect("/d/d"); !errors.Is(err, syscall.EIO) || errors.Is(err, ErrDirectUnsupported) {
		t.Fatalf("open fault: %v", err)
	}
	ffs.RefuseDirect(syscall.EINVAL)
	if _, err := ffs.OpenDirect("/d/d"); !errors.Is(err, ErrDirectUnsupported) || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("refused: %v", err)
	}
	ffs.RefuseDirect(nil)
	if f, err := ffs.OpenDirect("/d/d"); err != nil {
		t.Fatalf("allowed again: %v", err)
	} else {
		f.Close()
	}
	// A file system without DirectOpener.
	if _, err := OpenDirect(struct{ FS }{m}, "/d/d"); !errors.Is(err, ErrDirectUnsupported) {
		t.Fatalf("no DirectOpener: %v", err)
	}
}
