package ledger_test

import (
	"context"
	"errors"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// TestVerifyDigestComparesContent: a digest verifies any ledger holding
// the same events in the same order, whatever its id (a copy made by
// export and import); a changed, dropped or reordered event does not.
func TestVerifyDigestComparesContent(t *testing.T) {
	ctx := context.Background()
	fsys := vfs.NewMem()
	evs := workload.New(workload.Config{Seed: 5}).Batch(600)
	a := openT(t, "/a", smallOpts(fsys))
	if err := a.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	d, err := a.Head()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}

	copyOf := func(name string, evs []ledger.ExperienceEventEnvelope) *ledger.Ledger {
		l := openT(t, "/"+name, smallOpts(fsys))
		// Several batches, as an import does.
		for i := 0; i < len(evs); i += 128 {
			if err := l.AppendEvents(ctx, evs[i:min(i+128, len(evs))]); err != nil {
				t.Fatal(err)
			}
		}
		return l
	}
	b := copyOf("b", evs)
	if b.ID() == a.ID() {
		t.Fatal("copy has the original's id")
	}
	if err := b.VerifyDigest(ctx, d); err != nil {
		t.Fatalf("identical copy under another id: %v", err)
	}
	// The copy's own head is the original's.
	hb, _ := b.Head()
	if hb.Hash != d.Hash || hb.Seq != d.Seq {
		t.Fatalf("heads differ: %+v %+v", hb, d)
	}

	changed := append([]ledger.ExperienceEventEnvelope(nil), evs...)
	changed[200].EventID += "-x"
	reordered := append([]ledger.ExperienceEventEnvelope(nil), evs...)
	reordered[300], reordered[301] = reordered[301], reordered[300]
	bad := map[string][]ledger.ExperienceEventEnvelope{
		"changed":   changed,
		"dropped":   append(append([]ledger.ExperienceEventEnvelope(nil), evs[:100]...), evs[101:]...),
		"truncated": evs[:599],
		"reordered": reordered,
	}
	for name, c := range bad {
		l := copyOf(name, c)
		if err := l.VerifyDigest(ctx, d); !errors.Is(err, ledger.ErrIntegrity) {
			t.Errorf("%s copy: VerifyDigest = %v, want ErrIntegrity", name, err)
		}
	}
}
