package segment

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"path"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exledger/exledger/vfs"
)

// ---- a small in-memory FS with fault injection (test only) ----

var errInjected = errors.New("injected fault")

type memFS struct {
	mu     sync.Mutex
	files  map[string][]byte
	ops    int // mutating operations so far
	failAt int // fail the failAt-th mutating op (1-based); 0 = never
}

func newMemFS() *memFS { return &memFS{files: map[string][]byte{}} }

func (m *memFS) op() error {
	m.ops++
	if m.failAt > 0 && m.ops == m.failAt {
		return errInjected
	}
	return nil
}

func (m *memFS) Create(name string) (vfs.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.op(); err != nil {
		return nil, err
	}
	m.files[name] = nil
	return &memFile{fs: m, name: name, w: true}, nil
}

func (m *memFS) Open(name string) (vfs.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[name]; !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memFile{fs: m, name: name}, nil
}

func (m *memFS) OpenRW(name string) (vfs.File, error) { return nil, errors.New("not supported") }

func (m *memFS) Rename(o, n string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.op(); err != nil {
		return err
	}
	b, ok := m.files[o]
	if !ok {
		return &fs.PathError{Op: "rename", Path: o, Err: fs.ErrNotExist}
	}
	delete(m.files, o)
	m.files[n] = b
	return nil
}

func (m *memFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[name]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(m.files, name)
	return nil
}

func (m *memFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for n := range m.files {
		if path.Dir(n) == dir {
			names = append(names, path.Base(n))
		}
	}
	sort.Strings(names)
	return names, nil
}

func (m *memFS) MkdirAll(string) error { return nil }

func (m *memFS) SyncDir(string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.op()
}

func (m *memFS) Lock(string) (io.Closer, error) { return nil, errors.New("not supported") }

func (m *memFS) Stat(name string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.files[name]
	if !ok {
		return 0, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return int64(len(b)), nil
}

func (m *memFS) get(name string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bytes.Clone(m.files[name])
}

func (m *memFS) put(name string, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[name] = bytes.Clone(b)
}

type memFile struct {
	fs   *memFS
	name string
	w    bool
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	b := f.fs.files[f.name]
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.fs.op(); err != nil {
		// a torn write: half of it lands
		f.fs.files[f.name] = append(f.fs.files[f.name], p[:len(p)/2]...)
		return len(p) / 2, err
	}
	f.fs.files[f.name] = append(f.fs.files[f.name], p...)
	return len(p), nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) { return 0, errors.New("not supported") }
func (f *memFile) Close() error                             { return nil }
func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return f.fs.op()
}
func (f *memFile) Truncate(int64) error { return errors.New("not supported") }
func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return int64(len(f.fs.files[f.name])), nil
}
func (f *memFile) Name() string { return f.name }

// ---- record generation ----

var (
	kinds   = []string{"order.created", "order.paid", "order.shipped", "user.login", "user.updated", "invoice.issued"}
	tenants = []string{"acme", "globex", "initech", "umbrella", "hooli", "stark"}
)

// genRecord returns a msgpack-like, JSON-ish record of roughly 400-700
// bytes with repeated field names and ids, so it compresses like real
// envelopes.
func genRecord(rng *rand.Rand, seq uint64) ([]byte, string) {
	ts := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(seq) * 13 * time.Millisecond).Format("2006-01-02T15:04:05.000000Z")
	var b strings.Builder
	tenant := tenants[rng.IntN(len(tenants))]
	kind := kinds[rng.IntN(len(kinds))]
	fmt.Fprintf(&b, `{"seq":%d,"tenant":%q,"kind":%q,"id":"01J%015X","occurred_at":%q,`, seq, tenant, kind, rng.Uint64()>>4, ts)
	fmt.Fprintf(&b, `"actor":{"id":"user-%d","ip":"10.%d.%d.%d","agent":"svc-%s/1.%d"},`, rng.IntN(5000), rng.IntN(256), rng.IntN(256), rng.IntN(256), tenant, rng.IntN(9))
	fmt.Fprintf(&b, `"trace":{"trace_id":"%016x%016x","span_id":"%016x"},`, rng.Uint64(), rng.Uint64(), rng.Uint64())
	fmt.Fprintf(&b, `"payload":{"order_id":"ord-%d","amount":%d,"currency":%q,"items":[`, rng.IntN(1e6), rng.IntN(1e5), []string{"EUR", "USD", "GBP"}[rng.IntN(3)])
	items := 1 + rng.IntN(4)
	for i := 0; i < items; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%05d","qty":%d,"price":%d}`, rng.IntN(20000), 1+rng.IntN(5), rng.IntN(10000))
	}
	fmt.Fprintf(&b, `],"note":%q}}`, strings.Repeat("ok ", rng.IntN(40)))
	return []byte(b.String()), ts
}

func genRecords(seed uint64, first uint64, n int) []Record {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	recs := make([]Record, n)
	for i := range recs {
		d, ts := genRecord(rng, first+uint64(i))
		recs[i] = Record{Seq: first + uint64(i), Time: ts, Data: d}
	}
	return recs
}

// refChain computes the chain with plain sha256.Sum256 over concatenated
// bytes: independent of the package's chainer.
func refChain(start [32]byte, recs []Record) [][32]byte {
	out := make([][32]byte, len(recs))
	h := start
	for i, r := range recs {
		buf := append(append(h[:0:0], h[:]...), binary.BigEndian.AppendUint64(nil, uint64(len(r.Data)))...)
		buf = append(buf, r.Data...)
		h = sha256.Sum256(buf)
		out[i] = h
	}
	return out
}

func writeSegment(t testing.TB, fsys vfs.FS, p string, opts Options, start [32]byte, recs []Record, meta []byte) Info {
	t.Helper()
	w, err := NewWriter(fsys, p, opts, start)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if opts.Unordered {
		sorted := append([]Record(nil), recs...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].Seq < sorted[j].Seq })
		ch := refChain(start, sorted)
		var cps []Checkpoint
		for i := 0; i < len(sorted); i += 97 {
			cps = append(cps, Checkpoint{Seq: sorted[i].Seq, Hash: ch[i]})
		}
		if len(sorted) > 0 && (len(cps) == 0 || cps[len(cps)-1].Seq != sorted[len(sorted)-1].Seq) {
			cps = append(cps, Checkpoint{Seq: sorted[len(sorted)-1].Seq, Hash: ch[len(ch)-1]})
		}
		w.SetChain(start, cps)
	}
	info, err := w.Finish(meta)
	if err != nil {
		t.Fatal(err)
	}
	return info
}
