package ledger_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/exledger/exledger/index"
	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// A poisoned index (valid checksums, wrong postings: every event filed
// under every tenant) must never make a tenant query return another
// tenant's event: the ledger checks every decoded event against the query.
func TestTenantIsolationWithPoisonedIndex(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	o := smallOpts(mem)
	o.SegmentBytes = 1 << 30
	l := openT(t, "/l", o)
	g := workload.New(workload.Config{Seed: 51, OutlierRate: -1})
	if err := l.AppendEvents(ctx, g.Batch(400)); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	tenants := g.Tenants()
	l.Close()

	// Rewrite the segment's index: all events under every tenant.
	idx, err := mem.List("/l/seg")
	if err != nil {
		t.Fatal(err)
	}
	var ipath string
	for _, n := range idx {
		if filepath.Ext(n) == ".idx" {
			ipath = "/l/seg/" + n
		}
	}
	if ipath == "" {
		t.Fatal("no index file")
	}
	b := index.NewBuilder()
	for ord := uint32(0); ord < 400; ord++ {
		terms := []index.Term{{Field: index.FieldKind, Value: "ProposalCreated"}}
		for _, tn := range tenants {
			terms = append(terms, index.Term{Field: index.FieldTenant, Value: string(tn)})
		}
		b.Add(ord, "2026-01-01T00:00:00Z", terms)
	}
	data, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := index.WriteFile(mem, ipath, data); err != nil {
		t.Fatal(err)
	}

	l = openT(t, "/l", o)
	leaks, detected := 0, 0
	for _, tn := range tenants {
		tn := tn
		evs, err := l.QueryEvents(ctx, ledger.EventQuery{TenantID: &tn})
		if err != nil {
			var ce *ledger.CorruptionError
			if !errors.As(err, &ce) {
				t.Fatalf("tenant %s: unexpected error %v", tn, err)
			}
			detected++
			continue
		}
		for _, e := range evs {
			if e.TenantID == nil || *e.TenantID != tn {
				leaks++
			}
		}
	}
	// The raw scan, which decodes headers only, checks them as strictly.
	for _, tn := range tenants {
		tn := tn
		for r, err := range l.ScanRaw(ctx, ledger.EventQuery{TenantID: &tn}, 0) {
			if err != nil {
				var ce *ledger.CorruptionError
				if !errors.As(err, &ce) {
					t.Fatalf("raw scan, tenant %s: unexpected error %v", tn, err)
				}
				detected++
				break
			}
			if !r.Header.HasTenant || r.Header.TenantID != tn {
				leaks++
			}
		}
	}
	if leaks != 0 {
		t.Fatalf("%d events of other tenants leaked through a poisoned index", leaks)
	}
	if detected == 0 {
		t.Fatal("the poisoned index went unnoticed")
	}
	// Verify names the index as not matching its data.
	_, err = l.Verify(ctx, nil)
	var ie *ledger.IntegrityError
	if !errors.As(err, &ie) || filepath.Base(ie.File) != filepath.Base(ipath) {
		t.Fatalf("verify: %v", err)
	}
}
