package vfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand"
	"reflect"
	"sync"
	"syscall"
	"testing"
)

func mustWrite(t *testing.T, f File, s string) {
	t.Helper()
	if n, err := f.Write([]byte(s)); err != nil || n != len(s) {
		t.Fatalf("write %q: n=%d err=%v", s, n, err)
	}
}

func readAll(t *testing.T, m *MemFS, name string) string {
	t.Helper()
	b, err := m.ReadFile(name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

func TestMemBasics(t *testing.T) {
	m := NewMem()
	if _, err := m.Create("/d/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("create in missing dir: %v", err)
	}
	if err := m.MkdirAll("/d/e"); err != nil {
		t.Fatal(err)
	}
	f, err := m.Create("/d/x")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, "hello")
	if _, err := f.WriteAt([]byte("J"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("!"), 7); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, m, "/d/x"); got != "Jello\x00\x00!" {
		t.Fatalf("content %q", got)
	}
	buf := make([]byte, 4)
	if n, err := f.ReadAt(buf, 6); n != 2 || err != io.EOF {
		t.Fatalf("short ReadAt: n=%d err=%v", n, err)
	}
	if err := f.Truncate(3); err != nil {
		t.Fatal(err)
	}
	if sz, _ := f.Size(); sz != 3 {
		t.Fatalf("size after truncate %d", sz)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("double close: %v", err)
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}

	rw, err := m.OpenRW("/d/x")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, rw, "APP")
	rw.Close()
	if got := readAll(t, m, "/d/x"); got != "JelAPP" {
		t.Fatalf("OpenRW appends: %q", got)
	}
	ro, _ := m.Open("/d/x")
	if _, err := ro.Write([]byte("x")); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("write on read-only: %v", err)
	}
	ro.Close()

	if err := m.Rename("/d/x", "/d/e/y"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Stat("/d/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("old name still there: %v", err)
	}
	if sz, err := m.Stat("/d/e/y"); err != nil || sz != 6 {
		t.Fatalf("stat new name: %d %v", sz, err)
	}
	names, err := m.List("/d")
	if err != nil || !reflect.DeepEqual(names, []string{"e"}) {
		t.Fatalf("list /d: %v %v", names, err)
	}
	if err := m.Remove("/d/e"); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("remove non-empty dir: %v", err)
	}
	if err := m.Remove("/d/e/y"); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("/d/e/y"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("remove missing: %v", err)
	}
	if _, err := m.List("/nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("list missing: %v", err)
	}
	// Relative paths live under ".".
	if err := m.MkdirAll("rel"); err != nil {
		t.Fatal(err)
	}
	if names, _ := m.List("."); !reflect.DeepEqual(names, []string{"rel"}) {
		t.Fatalf("list .: %v", names)
	}
}

func TestMemLock(t *testing.T) {
	m := NewMem()
	m.MkdirAll("/db")
	l1, err := m.Lock("/db/LOCK")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Lock("/db/LOCK"); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	if _, err := m.Lock("/db/../db/LOCK"); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock via unclean path: %v", err)
	}
	// A crash image has no locks.
	c := m.Crash(CrashTearLast, nil)
	l3, err := c.Lock("/db/LOCK")
	if err != nil {
		t.Fatalf("lock after crash: %v", err)
	}
	l3.Close()
	if err := l1.Close(); err != nil {
		t.Fatal(err)
	}
	l1.Close() // idempotent
	l2, err := m.Lock("/db/LOCK")
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Close()
}

// setup builds: /d synced with file a ("S" synced + "u1","u2" unsynced) and
// an unsynced file b.
func crashFixture(t *testing.T) *MemFS {
	m := NewMem()
	m.MkdirAll("/d")
	m.SyncDir("/")
	a, _ := m.Create("/d/a")
	mustWrite(t, a, "SSSS")
	a.Sync()
	m.SyncDir("/d")
	mustWrite(t, a, "1111")
	mustWrite(t, a, "2222")
	b, _ := m.Create("/d/b")
	mustWrite(t, b, "bbbb")
	b.Sync() // data synced, entry not
	return m
}

func TestCrashDropUnsynced(t *testing.T) {
	m := crashFixture(t)
	c := m.Crash(CrashDropUnsynced, rand.New(rand.NewSource(1)))
	if got := readAll(t, c, "/d/a"); got != "SSSS" {
		t.Fatalf("a = %q, want synced only", got)
	}
	if _, err := c.Stat("/d/b"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("b has no durable entry, got %v", err)
	}
	// The original keeps working and still sees everything.
	if got := readAll(t, m, "/d/a"); got != "SSSS11112222" {
		t.Fatalf("original changed: %q", got)
	}
	f, _ := m.OpenRW("/d/a")
	mustWrite(t, f, "3")
	// A crash of the crash image is stable.
	if got := readAll(t, c.Crash(CrashDropUnsynced, nil), "/d/a"); got != "SSSS" {
		t.Fatalf("second crash: %q", got)
	}
	// Durable parent is required: an unsynced mkdir loses its children.
	m2 := NewMem()
	m2.MkdirAll("/x/y")
	f2, _ := m2.Create("/x/y/z")
	f2.Sync()
	m2.SyncDir("/x/y")
	if _, err := m2.Crash(CrashDropUnsynced, nil).Stat("/x/y/z"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("child of non-durable dir survived: %v", err)
	}
	m2.SyncDir("/x")
	m2.SyncDir("/")
	if _, err := m2.Crash(CrashDropUnsynced, nil).Stat("/x/y/z"); err != nil {
		t.Fatalf("fully synced path lost: %v", err)
	}
}

func TestCrashKeepRandom(t *testing.T) {
	m := crashFixture(t)
	seen := map[string]bool{}
	for seed := int64(0); seed < 200; seed++ {
		c := m.Crash(CrashKeepRandom, rand.New(rand.NewSource(seed)))
		got := readAll(t, c, "/d/a")
		switch got {
		case "SSSS", "SSSS1111", "SSSS11112222", "SSSS\x00\x00\x00\x002222":
		default:
			t.Fatalf("seed %d: impossible content %q", seed, got)
		}
		seen[got] = true
		if _, err := c.Stat("/d/b"); err == nil {
			seen["b"] = true
			if got := readAll(t, c, "/d/b"); got != "bbbb" {
				t.Fatalf("b content %q", got)
			}
		}
	}
	if len(seen) != 5 {
		t.Fatalf("keep-random should produce every subset and both dir states, saw %v", seen)
	}
}

func TestCrashKeepRandomDirOrder(t *testing.T) {
	// Rename is atomic and ordered: after create(tmp), sync(tmp), rename
	// (tmp, final) with no SyncDir, exactly one name can exist (or neither
	// when the create itself is lost), never both.
	m := NewMem()
	m.MkdirAll("/d")
	m.SyncDir("/")
	m.SyncDir("/d")
	f, _ := m.Create("/d/tmp")
	mustWrite(t, f, "data")
	f.Sync()
	m.Rename("/d/tmp", "/d/final")
	states := map[string]bool{}
	for seed := int64(0); seed < 100; seed++ {
		c := m.Crash(CrashKeepRandom, rand.New(rand.NewSource(seed)))
		names, _ := c.List("/d")
		states[join(names)] = true
		if len(names) > 1 {
			t.Fatalf("both names survived: %v", names)
		}
	}
	if !states[""] || !states["tmp"] || !states["final"] {
		t.Fatalf("expected all three namespace states, got %v", states)
	}
	// Once /d is synced, only the final name can appear.
	m.SyncDir("/d")
	for seed := int64(0); seed < 20; seed++ {
		names, _ := m.Crash(CrashKeepRandom, rand.New(rand.NewSource(seed))).List("/d")
		if join(names) != "final" {
			t.Fatalf("after SyncDir: %v", names)
		}
	}
}

func join(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(x)
	}
	return b.String()
}

func TestCrashTearLast(t *testing.T) {
	m := crashFixture(t)
	lens := map[int]bool{}
	for seed := int64(0); seed < 100; seed++ {
		c := m.Crash(CrashTearLast, rand.New(rand.NewSource(seed)))
		got := readAll(t, c, "/d/a")
		if len(got) < 8 || len(got) >= 12 || got != "SSSS11112222"[:len(got)] {
			t.Fatalf("seed %d: torn content %q", seed, got)
		}
		lens[len(got)] = true
		// Directory entries are kept; b's last write is torn too.
		if got := readAll(t, c, "/d/b"); got != "bbbb" {
			// b's write was synced, so nothing of it is unsynced.
			t.Fatalf("b = %q", got)
		}
	}
	if len(lens) != 4 {
		t.Fatalf("tear offsets seen %v, want 4 distinct", lens)
	}
}

func TestCrashDropDirEntries(t *testing.T) {
	m := crashFixture(t)
	m.Rename("/d/a", "/d/a2") // unsynced rename
	c := m.Crash(CrashDropDirEntries, nil)
	if got := readAll(t, c, "/d/a"); got != "SSSS11112222" {
		t.Fatalf("data must be kept as written, got %q", got)
	}
	if names, _ := c.List("/d"); join(names) != "a" {
		t.Fatalf("entries %v, want only the synced a", names)
	}
	// An unsynced remove comes back.
	m.SyncDir("/d")
	m.Remove("/d/b")
	c = m.Crash(CrashDropDirEntries, nil)
	if names, _ := c.List("/d"); join(names) != "a2,b" {
		t.Fatalf("entries %v, want a2,b", names)
	}
}

func TestMemCrashAfter(t *testing.T) {
	m := NewMem()
	m.MkdirAll("/d")
	f, _ := m.Create("/d/f")
	if m.Ops() != 2 {
		t.Fatalf("ops %d", m.Ops())
	}
	m.SetCrashAfter(4)
	mustWrite(t, f, "a")
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("b")); !errors.Is(err, ErrCrashed) {
		t.Fatalf("write after crash point: %v", err)
	}
	for _, err := range []error{f.Sync(), m.SyncDir("/d"), m.Remove("/d/f"), m.MkdirAll("/e"), f.Truncate(0), m.Rename("/d/f", "/d/g")} {
		if !errors.Is(err, ErrCrashed) {
			t.Fatalf("mutating op after crash point: %v", err)
		}
	}
	if _, err := m.Create("/d/h"); !errors.Is(err, ErrCrashed) {
		t.Fatalf("create after crash point: %v", err)
	}
	if m.Ops() != 4 {
		t.Fatalf("failed ops must not count: %d", m.Ops())
	}
	// Reads still work; the image holds the synced "a".
	if got := readAll(t, m, "/d/f"); got != "a" {
		t.Fatalf("content %q", got)
	}
	m.SyncDir("/") // fails, ignored
	c := m.Crash(CrashDropUnsynced, nil)
	if _, err := c.Stat("/d/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("dir entry never synced, file must be gone: %v", err)
	}
	if c.Ops() != 0 {
		t.Fatal("crash image must start at 0 ops")
	}
	if _, err := c.Create("/x"); err != nil {
		t.Fatalf("crash image must have no crash limit: %v", err)
	}
}

func TestMemConcurrent(t *testing.T) {
	m := NewMem()
	m.MkdirAll("/d")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			name := "/d/" + string(rune('a'+i))
			f, err := m.Create(name)
			if err != nil {
				t.Error(err)
				return
			}
			for j := 0; j < 100; j++ {
				f.Write([]byte{byte(j)})
				if j%10 == 0 {
					f.Sync()
					m.SyncDir("/d")
				}
				m.List("/d")
			}
			f.Close()
		}(i)
	}
	wg.Wait()
	c := m.Crash(CrashKeepRandom, rand.New(rand.NewSource(3)))
	names, _ := c.List("/d")
	if len(names) != 8 {
		t.Fatalf("all creates were dir-synced, got %v", names)
	}
	for _, n := range names {
		b, _ := c.ReadFile("/d/" + n)
		if len(b) < 91 {
			t.Fatalf("%s lost synced data: %d bytes", n, len(b))
		}
	}
}
