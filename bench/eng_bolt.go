package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/exledger/exledger/ledger"
)

// boltEngine is bbolt with default options (fsync per commit when durable,
// NoSync for the unsynced build): one bucket of events keyed by
// big-endian seq, and one bucket per index with the keys of engine.go
// (without the prefix byte, which names the bucket). A batch is one Update;
// concurrent single-event writers use DB.Batch, bbolt's own group commit.
type boltEngine struct {
	db   *bolt.DB
	path string
}

func (e *boltEngine) name() string { return "bbolt" }

func (e *boltEngine) open(dir string, durable bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	e.path = filepath.Join(dir, "events.bolt")
	db, err := bolt.Open(e.path, 0o600, &bolt.Options{Timeout: 5 * time.Second, NoSync: !durable})
	if err != nil {
		return err
	}
	e.db = db
	return db.Update(func(tx *bolt.Tx) error {
		for _, p := range append([]byte{pEvent}, indexPrefixes...) {
			if _, err := tx.CreateBucketIfNotExists([]byte{p}); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *boltEngine) close() error {
	if e.db == nil {
		return nil
	}
	err := e.db.Close()
	e.db = nil
	return err
}

func (e *boltEngine) put(tx *bolt.Tx, ev *ledger.ExperienceEventEnvelope) error {
	eb := tx.Bucket([]byte{pEvent})
	seq, err := eb.NextSequence()
	if err != nil {
		return err
	}
	body, err := ledger.AppendCanonical(nil, ev) // bbolt keeps the slice until commit
	if err != nil {
		return err
	}
	if err := eb.Put(appendSeq(nil, seq), body); err != nil {
		return err
	}
	h := ledger.HeaderOf(ev)
	keys, ends := indexKeys(nil, nil, &h, seq)
	start := 0
	for _, end := range ends {
		k := keys[start:end]
		if err := tx.Bucket(k[:1]).Put(k[1:], nil); err != nil {
			return err
		}
		start = end
	}
	return nil
}

func (e *boltEngine) append(evs []ledger.ExperienceEventEnvelope) error {
	return e.db.Update(func(tx *bolt.Tx) error {
		for i := range evs {
			if err := e.put(tx, &evs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *boltEngine) appendOne(ev *ledger.ExperienceEventEnvelope) error {
	return e.db.Batch(func(tx *bolt.Tx) error { return e.put(tx, ev) })
}

func (e *boltEngine) lastSeq() (n uint64, err error) {
	err = e.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket([]byte{pEvent}).Cursor().Last()
		if k != nil {
			n = keySeq(k)
		}
		return nil
	})
	return n, err
}

// each calls f with the decoded event of every index key in [lo, hi).
func (e *boltEngine) each(tx *bolt.Tx, bucket byte, lo, hi []byte, f func(*ledger.ExperienceEventEnvelope)) error {
	eb := tx.Bucket([]byte{pEvent})
	c := tx.Bucket([]byte{bucket}).Cursor()
	for k, _ := c.Seek(lo); k != nil && bytes.Compare(k, hi) < 0; k, _ = c.Next() {
		v := eb.Get(k[len(k)-8:])
		if v == nil {
			return fmt.Errorf("bbolt: index key %q has no event", k)
		}
		ev, err := decode(v)
		if err != nil {
			return err
		}
		f(&ev)
	}
	return nil
}

func (e *boltEngine) tenantKind(tenant, kind string) (n int, err error) {
	p := prefixKey(pKind, kind)[1:]
	err = e.db.View(func(tx *bolt.Tx) error {
		return e.each(tx, pKind, p, upper(p), func(ev *ledger.ExperienceEventEnvelope) {
			if ev.TenantID != nil && string(*ev.TenantID) == tenant {
				n++
			}
		})
	})
	return n, err
}

func (e *boltEngine) timeRange(tenant, start, end string) (n int, err error) {
	lo := prefixKey(pTenant, tenant, start)[1:]
	hi := upper(prefixKey(pTenant, tenant, end)[1:])
	err = e.db.View(func(tx *bolt.Tx) error {
		return e.each(tx, pTenant, lo[:len(lo)-1], hi, func(ev *ledger.ExperienceEventEnvelope) {
			if t := string(ev.OccurredAt); t >= start && t <= end {
				n++
			}
		})
	})
	return n, err
}

func (e *boltEngine) trace(id string) (found bool, err error) {
	p := prefixKey(pTrace, id)[1:]
	err = e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte{pTrace}).Cursor()
		k, _ := c.Seek(upper(p))
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		if k == nil || !bytes.HasPrefix(k, p) {
			return nil
		}
		v := tx.Bucket([]byte{pEvent}).Get(k[len(k)-8:])
		ev, err := decode(v)
		if err != nil {
			return err
		}
		rt, ok := ev.Event.(*ledger.ReplayTraceRecorded)
		found = ok && string(rt.TraceLinkID) == id
		return nil
	})
	return found, err
}

func (e *boltEngine) scan() (int, error) {
	return e.all(func(v []byte) error { _, err := decode(v); return err })
}

func (e *boltEngine) scanRaw() (int, error) { return e.all(decodeHeader) }

// all calls fn with every stored event, in sequence order.
func (e *boltEngine) all(fn func([]byte) error) (n int, err error) {
	err = e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte{pEvent}).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if err := fn(v); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

func (e *boltEngine) fsyncs() (uint64, bool) { return 0, false }

// footprint: the pages allocated to the event bucket and to the index
// buckets (Bucket.Stats); other = the rest of the file (meta and free
// pages, and the pre-grown tail).
func (e *boltEngine) footprint(dir string) (data, index, other int64, err error) {
	if err := e.db.Sync(); err != nil {
		return 0, 0, 0, err
	}
	err = e.db.View(func(tx *bolt.Tx) error {
		s := tx.Bucket([]byte{pEvent}).Stats()
		data = int64(s.BranchAlloc + s.LeafAlloc)
		for _, p := range indexPrefixes {
			s := tx.Bucket([]byte{p}).Stats()
			index += int64(s.BranchAlloc + s.LeafAlloc)
		}
		return nil
	})
	return data, index, dirSize(dir) - data - index, err
}
