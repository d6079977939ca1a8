package vfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// linkFSes are the file systems with hard links, rooted in a fresh
// directory each.
func linkFSes(t *testing.T) map[string]struct {
	fs   FS
	root string
} {
	mem := NewMem()
	mem.MkdirAll("/r")
	return map[string]struct {
		fs   FS
		root string
	}{
		"os":    {OS, t.TempDir()},
		"mem":   {mem, "/r"},
		"fault": {NewFault(NewMem()), "/"},
	}
}

func TestLinkSharesTheFile(t *testing.T) {
	for name, c := range linkFSes(t) {
		t.Run(name, func(t *testing.T) {
			a, b := filepath.Join(c.root, "a"), filepath.Join(c.root, "sub", "b")
			if err := c.fs.MkdirAll(filepath.Dir(b)); err != nil {
				t.Fatal(err)
			}
			f, err := c.fs.Create(a)
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, f, "hello")
			f.Close()
			if err := Link(c.fs, a, b); err != nil {
				t.Fatal(err)
			}
			// Appending through one name is seen through the other.
			g, err := c.fs.OpenRW(b)
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, g, " world")
			g.Close()
			if n, err := c.fs.Stat(a); err != nil || n != 11 {
				t.Fatalf("stat %s after a write through the link: %d %v", a, n, err)
			}
			// Removing the first name keeps the file under the second.
			if err := c.fs.Remove(a); err != nil {
				t.Fatal(err)
			}
			if n, err := c.fs.Stat(b); err != nil || n != 11 {
				t.Fatalf("stat %s after removing %s: %d %v", b, a, n, err)
			}
			// Errors: missing source, existing target, missing target dir.
			if err := Link(c.fs, a, filepath.Join(c.root, "c")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("link of a missing file: %v", err)
			}
			if err := Link(c.fs, b, b); !errors.Is(err, fs.ErrExist) {
				t.Errorf("link onto an existing name: %v", err)
			}
			if err := Link(c.fs, b, filepath.Join(c.root, "nodir", "x")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("link into a missing directory: %v", err)
			}
			if CanCopyInstead(Link(c.fs, a, filepath.Join(c.root, "c"))) {
				t.Error("a missing source must not be mistaken for a cross-device link")
			}
		})
	}
}

func TestMemLinkDurability(t *testing.T) {
	m := NewMem()
	m.MkdirAll("/d/e")
	m.SyncDir("/")
	m.SyncDir("/d")
	if err := m.WriteFile("/d/a", []byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := m.Link("/d/a", "/d/e/b"); err != nil {
		t.Fatal(err)
	}
	// An unsynced link is lost by a power loss, like a create.
	if _, err := m.Crash(CrashDropUnsynced, nil).Stat("/d/e/b"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("unsynced link survived: %v", err)
	}
	m.SyncDir("/d/e")
	c := m.Crash(CrashDropUnsynced, nil)
	if got := readAll(t, c, "/d/e/b"); got != "data" {
		t.Fatalf("synced link holds %q", got)
	}
	// Both names still share one inode after the crash.
	f, _ := c.OpenRW("/d/a")
	mustWrite(t, f, "!")
	if got := readAll(t, c, "/d/e/b"); got != "data!" {
		t.Fatalf("after crash the names do not share the file: %q", got)
	}
	// Link counts as a mutating operation and stops at the crash limit.
	ops := m.Ops()
	m.SetCrashAfter(ops)
	if err := m.Link("/d/a", "/d/c"); !errors.Is(err, ErrCrashed) {
		t.Fatalf("link after the crash limit: %v", err)
	}
	if m.Link("/d", "/d/x") == nil {
		t.Error("linked a directory")
	}
}

// noLinkFS hides the Linker method of the FS it wraps.
type noLinkFS struct{ FS }

func TestLinkFallbackErrors(t *testing.T) {
	m := NewMem()
	m.WriteFile("/a", []byte("x"))
	err := Link(noLinkFS{m}, "/a", "/b")
	if !CanCopyInstead(err) || !errors.Is(err, ErrLinkUnsupported) || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("FS without Linker: %v", err)
	}
	if err := Link(NewFault(noLinkFS{m}), "/a", "/b"); !errors.Is(err, ErrLinkUnsupported) {
		t.Fatalf("FaultFS over an FS without Linker: %v", err)
	}
	f := NewFault(m)
	f.Inject(Fault{Op: OpLink, N: 1, Err: ErrCrossDevice})
	if err := Link(f, "/a", "/b"); err != nil {
		t.Fatal(err)
	}
	err = Link(f, "/a", "/c")
	if !CanCopyInstead(err) || !errors.Is(err, ErrCrossDevice) || f.Count(OpLink) != 2 {
		t.Fatalf("injected cross-device link: %v (count %d)", err, f.Count(OpLink))
	}
	if _, serr := m.Stat("/c"); !errors.Is(serr, fs.ErrNotExist) {
		t.Fatal("a failed link created its target")
	}
}

// TestOSLinkCrossDevice links from a temp dir to /dev/shm, a different
// file system on most Linux machines: the error must say "copy instead"
// and still match EXDEV.
func TestOSLinkCrossDevice(t *testing.T) {
	src := t.TempDir()
	shm, err := os.MkdirTemp("/dev/shm", "vfs-link-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	defer os.RemoveAll(shm)
	var a, b unix.Stat_t
	if unix.Stat(src, &a) != nil || unix.Stat(shm, &b) != nil || a.Dev == b.Dev {
		t.Skip("the temp dir and /dev/shm are on the same file system")
	}
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o600)
	err = Link(OS, filepath.Join(src, "f"), filepath.Join(shm, "f"))
	if !errors.Is(err, ErrCrossDevice) || !errors.Is(err, syscall.EXDEV) || !CanCopyInstead(err) {
		t.Fatalf("cross-device link: %v", err)
	}
}
