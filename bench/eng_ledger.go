package main

import (
	"context"
	"fmt"

	"github.com/exledger/exledger/ledger"
)

// ledgerEngine is exledger with its documented durable defaults
// (ledger.Open(dir, nil)); the unsynced build mode is Options{Sync:
// SyncNever} with every other option at its default.
type ledgerEngine struct {
	l   *ledger.Ledger
	ctx context.Context
}

func (e *ledgerEngine) name() string { return "exledger" }

// sealLayout is the -seal-layout flag: the Options.SealLayout of every
// exledger store (the zero value keeps ledger.Open(dir, nil) for the
// durable mode).
var sealLayout ledger.SealLayout

func setSealLayout(s string) error {
	switch s {
	case "":
	case "log":
		sealLayout = ledger.SealLayoutLog
	case "clustered":
		sealLayout = ledger.SealLayoutClustered
	default:
		return fmt.Errorf("bad -seal-layout %q (log or clustered)", s)
	}
	return nil
}

func (e *ledgerEngine) open(dir string, durable bool) error {
	var o *ledger.Options
	if !durable {
		o = &ledger.Options{Sync: ledger.SyncNever, SealLayout: sealLayout}
	} else if sealLayout != ledger.SealLayoutDefault {
		o = &ledger.Options{SealLayout: sealLayout}
	}
	l, err := ledger.Open(dir, o)
	if err != nil {
		return err
	}
	e.l, e.ctx = l, context.Background()
	return nil
}

func (e *ledgerEngine) close() error {
	if e.l == nil {
		return nil
	}
	err := e.l.Close()
	e.l = nil
	return err
}

func (e *ledgerEngine) append(evs []ledger.ExperienceEventEnvelope) error {
	return e.l.AppendEvents(e.ctx, evs)
}

func (e *ledgerEngine) appendOne(ev *ledger.ExperienceEventEnvelope) error {
	return e.l.AppendEvent(e.ctx, *ev)
}

func (e *ledgerEngine) lastSeq() (uint64, error) { return e.l.LastSeq(), nil }

func (e *ledgerEngine) tenantKind(tenant, kind string) (int, error) {
	t := ledger.TenantID(tenant)
	r, err := e.l.QueryEvents(e.ctx, ledger.EventQuery{TenantID: &t, Kinds: []ledger.ExperienceEventKind{ledger.ExperienceEventKind(kind)}})
	return len(r), err
}

func (e *ledgerEngine) timeRange(tenant, start, end string) (int, error) {
	t := ledger.TenantID(tenant)
	s, en := ledger.Timestamp(start), ledger.Timestamp(end)
	r, err := e.l.QueryEvents(e.ctx, ledger.EventQuery{TenantID: &t, TimeRange: &ledger.TimeRange{Start: &s, End: &en}})
	return len(r), err
}

func (e *ledgerEngine) trace(id string) (bool, error) {
	tr, err := e.l.GetTraceLink(e.ctx, ledger.TraceLinkID(id))
	return tr != nil, err
}

func (e *ledgerEngine) scan() (int, error) {
	n := 0
	for _, err := range e.l.Scan(e.ctx, ledger.EventQuery{}) {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (e *ledgerEngine) scanRaw() (int, error) {
	n := 0
	for _, err := range e.l.ScanRaw(e.ctx, ledger.EventQuery{}, 0) {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (e *ledgerEngine) fsyncs() (uint64, bool) { return e.l.Metrics().Fsyncs, true }

func (e *ledgerEngine) footprint(dir string) (data, index, other int64, err error) {
	if err := e.l.Flush(); err != nil {
		return 0, 0, 0, err
	}
	st, err := e.l.Stat(e.ctx, false)
	if err != nil {
		return 0, 0, 0, err
	}
	return st.DataBytes, st.IndexBytes, dirSize(dir) - st.DataBytes - st.IndexBytes, nil
}

// drain seals the WAL-backed tail into a segment (compression, index,
// fsync): the work a long run of appends pays in the background.
func (e *ledgerEngine) drain() error { return e.l.Flush() }
