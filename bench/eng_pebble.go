package main

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/exledger/exledger/ledger"
)

// pebbleEngine is Pebble v2 with default options (Snappy blocks, 8 MiB
// block cache), events keyed by big-endian seq and the index keys of
// engine.go written in the same batch. Durable commits use pebble.Sync.
type pebbleEngine struct {
	db    *pebble.DB
	wo    *pebble.WriteOptions
	seq   atomic.Uint64
	syncs atomic.Uint64
	pool  sync.Pool
}

type pebbleScratch struct {
	body []byte
	keys []byte
	ends []int
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...interface{})  {}
func (quietLogger) Errorf(string, ...interface{}) {}
func (quietLogger) Fatalf(f string, a ...interface{}) {
	panic("pebble fatal: " + f)
}

func (e *pebbleEngine) name() string { return "pebble" }

func (e *pebbleEngine) open(dir string, durable bool) error {
	e.syncs.Store(0)
	db, err := pebble.Open(dir, &pebble.Options{
		FS:     countingFS{FS: vfs.Default, n: &e.syncs},
		Logger: quietLogger{},
	})
	if err != nil {
		return err
	}
	e.db = db
	e.wo = pebble.NoSync
	if durable {
		e.wo = pebble.Sync
	}
	e.pool.New = func() any { return &pebbleScratch{} }
	// Recover the sequence counter: the last event key.
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{pEvent}, UpperBound: []byte{pEvent + 1}})
	if err != nil {
		return err
	}
	var last uint64
	if it.Last() {
		last = keySeq(it.Key())
	}
	e.seq.Store(last)
	return it.Close()
}

func (e *pebbleEngine) close() error {
	if e.db == nil {
		return nil
	}
	err := e.db.Close()
	e.db = nil
	return err
}

func (e *pebbleEngine) put(b *pebble.Batch, s *pebbleScratch, ev *ledger.ExperienceEventEnvelope, seq uint64) error {
	var err error
	s.body, err = ledger.AppendCanonical(s.body[:0], ev)
	if err != nil {
		return err
	}
	h := ledger.HeaderOf(ev)
	if err := b.Set(eventKey(seq), s.body, nil); err != nil {
		return err
	}
	s.keys, s.ends = indexKeys(s.keys[:0], s.ends[:0], &h, seq)
	start := 0
	for _, end := range s.ends {
		if err := b.Set(s.keys[start:end], nil, nil); err != nil {
			return err
		}
		start = end
	}
	return nil
}

func (e *pebbleEngine) append(evs []ledger.ExperienceEventEnvelope) error {
	s := e.pool.Get().(*pebbleScratch)
	defer e.pool.Put(s)
	b := e.db.NewBatch()
	defer b.Close()
	first := e.seq.Add(uint64(len(evs))) - uint64(len(evs)) + 1
	for i := range evs {
		if err := e.put(b, s, &evs[i], first+uint64(i)); err != nil {
			return err
		}
	}
	return b.Commit(e.wo)
}

func (e *pebbleEngine) appendOne(ev *ledger.ExperienceEventEnvelope) error {
	s := e.pool.Get().(*pebbleScratch)
	defer e.pool.Put(s)
	b := e.db.NewBatch()
	defer b.Close()
	if err := e.put(b, s, ev, e.seq.Add(1)); err != nil {
		return err
	}
	return b.Commit(e.wo)
}

func (e *pebbleEngine) lastSeq() (uint64, error) { return e.seq.Load(), nil }

// get decodes the event with this seq.
func (e *pebbleEngine) get(seq uint64) (ledger.ExperienceEventEnvelope, error) {
	v, c, err := e.db.Get(eventKey(seq))
	if err != nil {
		return ledger.ExperienceEventEnvelope{}, err
	}
	defer c.Close()
	return decode(v)
}

// eachKey calls f with every key that starts with prefix, in order.
func (e *pebbleEngine) eachKey(lo, hi []byte, f func(k []byte) error) error {
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		if err := f(it.Key()); err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

func upper(p []byte) []byte {
	u := bytes.Clone(p)
	u[len(u)-1]++
	return u
}

// tenantKind walks kind|seq and filters each event on its tenant: with the
// keys a user writes, that is the cheaper of the two postings (a kind is
// rarer than a tenant).
func (e *pebbleEngine) tenantKind(tenant, kind string) (int, error) {
	p := prefixKey(pKind, kind)
	n := 0
	err := e.eachKey(p, upper(p), func(k []byte) error {
		ev, err := e.get(keySeq(k))
		if err != nil {
			return err
		}
		if ev.TenantID != nil && string(*ev.TenantID) == tenant {
			n++
		}
		return nil
	})
	return n, err
}

func (e *pebbleEngine) timeRange(tenant, start, end string) (int, error) {
	lo := prefixKey(pTenant, tenant, start)
	hi := upper(prefixKey(pTenant, tenant, end))
	n := 0
	err := e.eachKey(lo[:len(lo)-1], hi, func(k []byte) error {
		ev, err := e.get(keySeq(k))
		if err != nil {
			return err
		}
		if t := string(ev.OccurredAt); t >= start && t <= end {
			n++
		}
		return nil
	})
	return n, err
}

func (e *pebbleEngine) trace(id string) (bool, error) {
	p := prefixKey(pTrace, id)
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: upper(p)})
	if err != nil {
		return false, err
	}
	defer it.Close()
	if !it.Last() {
		return false, it.Error()
	}
	ev, err := e.get(keySeq(it.Key()))
	if err != nil {
		return false, err
	}
	rt, ok := ev.Event.(*ledger.ReplayTraceRecorded)
	return ok && string(rt.TraceLinkID) == id, nil
}

func (e *pebbleEngine) scan() (int, error) {
	return e.each(func(v []byte) error { _, err := decode(v); return err })
}

func (e *pebbleEngine) scanRaw() (int, error) { return e.each(decodeHeader) }

// each calls fn with every stored event, in sequence order.
func (e *pebbleEngine) each(fn func([]byte) error) (int, error) {
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pEvent}, UpperBound: []byte{pEvent + 1}})
	if err != nil {
		return 0, err
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return n, err
		}
		if err := fn(v); err != nil {
			it.Close()
			return n, err
		}
		n++
	}
	return n, it.Close()
}

func (e *pebbleEngine) fsyncs() (uint64, bool) { return e.syncs.Load(), true }

// footprint flushes the memtable and asks Pebble for the sstable bytes of
// the event key range and of the index key ranges (EstimateDiskUsage:
// block-granular, exact for whole sstables).
func (e *pebbleEngine) footprint(dir string) (data, index, other int64, err error) {
	if err := e.db.Flush(); err != nil {
		return 0, 0, 0, err
	}
	d, err := e.db.EstimateDiskUsage([]byte{pEvent}, []byte{pEvent + 1})
	if err != nil {
		return 0, 0, 0, err
	}
	for _, p := range indexPrefixes {
		n, err := e.db.EstimateDiskUsage([]byte{p}, []byte{p + 1})
		if err != nil {
			return 0, 0, 0, err
		}
		index += int64(n)
	}
	data = int64(d)
	return data, index, dirSize(dir) - data - index, nil
}

// countingFS counts the fsync-family calls Pebble makes (WAL, sstables,
// manifest, directories).
type countingFS struct {
	vfs.FS
	n *atomic.Uint64
}

type countingFile struct {
	vfs.File
	n *atomic.Uint64
}

func (f countingFile) Sync() error     { f.n.Add(1); return f.File.Sync() }
func (f countingFile) SyncData() error { f.n.Add(1); return f.File.SyncData() }
func (f countingFile) SyncTo(length int64) (bool, error) {
	full, err := f.File.SyncTo(length)
	if full {
		f.n.Add(1) // a partial SyncTo is sync_file_range, not an fsync
	}
	return full, err
}

func (fs countingFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return countingFile{File: f, n: fs.n}, nil
}

func (fs countingFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return fs.wrap(fs.FS.Create(name, c))
}

func (fs countingFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, o ...vfs.OpenOption) (vfs.File, error) {
	return fs.wrap(fs.FS.OpenReadWrite(name, c, o...))
}

func (fs countingFS) ReuseForWrite(old, new string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return fs.wrap(fs.FS.ReuseForWrite(old, new, c))
}

func (fs countingFS) OpenDir(name string) (vfs.File, error) { return fs.wrap(fs.FS.OpenDir(name)) }

// drain flushes the memtable to an sstable.
func (e *pebbleEngine) drain() error { return e.db.Flush() }
