package main

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/exledger/exledger/ledger"
)

// engine is one store under test. Every engine stores the same canonical
// msgpack bytes (ledger.AppendCanonical) and returns decoded envelopes
// (ledger.UnmarshalCanonical) from its reads, so that the comparison is
// about storage, not about codecs.
type engine interface {
	name() string
	// open creates or opens the store in dir. durable: every commit is
	// fsynced before append returns; otherwise the engine's fastest
	// unsynced mode (used only to build query stores).
	open(dir string, durable bool) error
	close() error
	// append commits evs as one atomic batch.
	append(evs []ledger.ExperienceEventEnvelope) error
	// appendOne commits one event; called from many goroutines at once.
	appendOne(e *ledger.ExperienceEventEnvelope) error
	// lastSeq is the number of events stored (after a crash: recovered).
	lastSeq() (uint64, error)

	tenantKind(tenant, kind string) (int, error)
	timeRange(tenant, start, end string) (int, error)
	trace(id string) (bool, error)
	scan() (int, error)
	// scanRaw visits every event and decodes its header only
	// (ledger.DecodeHeader), the read a replication or aggregation does.
	scanRaw() (int, error)

	// fsyncs counts the fsync-family calls since open (ok=false: not
	// measurable for this engine).
	fsyncs() (n uint64, ok bool)
	// footprint makes every event durable in the engine's long-term
	// layout (seal, flush, checkpoint) and returns the bytes taken by the
	// event data, by the secondary indexes and by everything else in dir.
	footprint(dir string) (data, index, other int64, err error)
}

var errUnsupported = errors.New("not supported by this engine")

// Index keys a user of a key-value store writes next to each event (all in
// the same atomic batch). prefix byte, then the fields, then the big-endian
// sequence number:
//
//	'e' seq                          -> canonical event bytes
//	't' tenant 0 occurred_at 0 seq   (tenant+time range)
//	'k' kind 0 seq
//	'c' correlation 0 seq
//	'h' chain 0 seq
//	'r' trace_link_id 0 seq          (ReplayTraceRecorded only: GetTraceLink)
const (
	pEvent  = 'e'
	pTenant = 't'
	pKind   = 'k'
	pCorr   = 'c'
	pChain  = 'h'
	pTrace  = 'r'
)

var indexPrefixes = []byte{pTenant, pKind, pCorr, pChain, pTrace}

func appendSeq(b []byte, seq uint64) []byte { return binary.BigEndian.AppendUint64(b, seq) }

// indexKeys appends the index keys of h (each with its prefix byte) to buf
// and returns buf plus the end offset of each key.
func indexKeys(buf []byte, ends []int, h *ledger.EnvelopeHeader, seq uint64) ([]byte, []int) {
	add := func(p byte, parts ...string) {
		buf = append(buf, p)
		for _, s := range parts {
			buf = append(buf, s...)
			buf = append(buf, 0)
		}
		buf = appendSeq(buf, seq)
		ends = append(ends, len(buf))
	}
	if h.HasTenant {
		add(pTenant, string(h.TenantID), string(h.OccurredAt))
	}
	add(pKind, string(h.Kind))
	if h.HasCorrelation {
		add(pCorr, string(h.CorrelationID))
	}
	if h.HasChain {
		add(pChain, string(h.ChainID))
	}
	if h.HasTraceLink && h.Kind == ledger.KindReplayTraceRecorded {
		add(pTrace, string(h.TraceLinkID))
	}
	return buf, ends
}

func eventKey(seq uint64) []byte { return appendSeq([]byte{pEvent}, seq) }

// prefixKey is p, the parts each followed by 0.
func prefixKey(p byte, parts ...string) []byte {
	b := []byte{p}
	for _, s := range parts {
		b = append(b, s...)
		b = append(b, 0)
	}
	return b
}

// keySeq is the sequence number at the end of an index key.
func keySeq(k []byte) uint64 {
	if len(k) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k[len(k)-8:])
}

// dirSize is the total size of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// decodeCount decodes an event (the same work every engine does per result)
// and reports whether it passes the check.
func decode(b []byte) (ledger.ExperienceEventEnvelope, error) {
	return ledger.UnmarshalCanonical(b)
}

func decodeHeader(b []byte) error {
	_, err := ledger.DecodeHeader(b)
	return err
}
