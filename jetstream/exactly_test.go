package jetstream_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exledger/exledger/jetstream"
	"github.com/exledger/exledger/jetstream/jstest"
	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

func allIDs(t *testing.T, s *jetstream.Store) []ledger.EventID {
	t.Helper()
	evs, err := s.QueryEvents(context.Background(), ledger.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]ledger.EventID, len(evs))
	for i := range evs {
		ids[i] = evs[i].EventID
	}
	return ids
}

func wantConflict(t *testing.T, err error, id ledger.EventID) {
	t.Helper()
	want := "Invalid query: duplicate event_id " + string(id) + " with different content"
	if !errors.Is(err, ledger.ErrInvalidQuery) || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// TestExactlyOnce: retries never duplicate, whichever Store they go
// through and whether or not the first attempt's outcome is still in
// memory; other content under an acknowledged id gets the embedded
// ledger's error on every path; racing conflicting appends: one wins.
func TestExactlyOnce(t *testing.T) {
	c := jstest.StartCluster(t, 3)
	ctx := context.Background()
	stream := newStream()
	var stores []*jetstream.Store
	for i := range 3 {
		s := openStore(t, c.Connect(i), jetstream.Options{Stream: stream, Replicas: 3, Dir: t.TempDir()})
		defer s.Close()
		stores = append(stores, s)
	}
	g := workload.New(workload.Config{Seed: 5})
	b := g.Batch(10)
	a1, err := stores[0].Append(ctx, b)
	if err != nil || a1.Duplicate {
		t.Fatalf("first append: %+v %v", a1, err)
	}
	// The same batch through another node: deduplicated by JetStream.
	a2, err := stores[1].Append(ctx, b)
	if err != nil || !a2.Duplicate || a2.Seq != a1.Seq {
		t.Fatalf("retry: %+v %v, want a duplicate of seq %d", a2, err, a1.Seq)
	}
	// Other content under the first id: stored in the stream, rejected
	// by every node with the embedded ledger's error.
	x := g.Batch(1)
	x[0].EventID = b[0].EventID
	_, err = stores[1].Append(ctx, x)
	wantConflict(t, err, b[0].EventID)
	// The same conflicting batch again, through a Store that did not see
	// the first attempt: JetStream deduplicates it, the Store works the
	// outcome out from its ledger.
	late := openStore(t, c.Connect(2), jetstream.Options{Stream: stream, Replicas: 3, Dir: t.TempDir()})
	defer late.Close()
	a3, err := late.Append(ctx, x)
	wantConflict(t, err, b[0].EventID)
	if !a3.Duplicate {
		t.Fatalf("conflicting retry not deduplicated: %+v", a3)
	}
	a4, err := late.Append(ctx, b)
	if err != nil || !a4.Duplicate || a4.Seq != a1.Seq {
		t.Fatalf("late retry: %+v %v", a4, err)
	}
	// A batch overlapping an acknowledged one: the known event is a
	// no-op, the new one is appended once.
	y := append([]ledger.ExperienceEventEnvelope{b[3]}, g.Batch(2)...)
	if _, err := stores[2].Append(ctx, y); err != nil {
		t.Fatal(err)
	}
	// Racing appends of one new id with different contents: exactly one
	// succeeds.
	r1, r2 := g.Batch(1), g.Batch(1)
	r2[0].EventID = r1[0].EventID
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, batch := range [][]ledger.ExperienceEventEnvelope{r1, r2} {
		wg.Go(func() { errs[i] = stores[i].AppendEvents(ctx, batch) })
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("racing conflicting appends: %v, %v; want exactly one error", errs[0], errs[1])
	}
	for _, err := range errs {
		if err != nil {
			wantConflict(t, err, r1[0].EventID)
		}
	}
	winner := r1
	if errs[0] != nil {
		winner = r2
	}
	var want []ledger.EventID
	for _, e := range append(append(b, y[1:]...), winner...) {
		want = append(want, e.EventID)
	}
	for i, s := range append(stores, late) {
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		got := allIDs(t, s)
		if strings.Join(asStrings(got), ",") != strings.Join(asStrings(want), ",") {
			t.Fatalf("store %d holds %v, want %v", i, got, want)
		}
		e, err := s.Get(ctx, r1[0].EventID)
		if err != nil {
			t.Fatal(err)
		}
		if e.OccurredAt != winner[0].OccurredAt {
			t.Fatalf("store %d holds the losing content", i)
		}
	}
}

func asStrings(ids []ledger.EventID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

// TestBatchTooLarge: a batch over the message limit is rejected before
// anything is published; one that fits is accepted whole.
func TestBatchTooLarge(t *testing.T) {
	c := jstest.StartServer(t)
	ctx := context.Background()
	const limit = 16 << 10
	s := openStore(t, c.Connect(0), jetstream.Options{Stream: newStream(), Dir: t.TempDir(), MaxBatchBytes: limit, DisableCompression: true})
	defer s.Close()
	g := workload.New(workload.Config{Seed: 8})
	big := g.Batch(60)
	_, err := s.Append(ctx, big)
	if !errors.Is(err, ledger.ErrInvalidQuery) || !strings.Contains(err.Error(), "over the maximum of 16384 bytes") ||
		!strings.Contains(err.Error(), "split it into smaller batches") {
		t.Fatalf("oversized batch: %v", err)
	}
	if n := len(allIDs(t, s)); n != 0 || s.AppliedSeq() != 0 {
		t.Fatalf("after a rejected batch: %d events, stream seq %d", n, s.AppliedSeq())
	}
	// Halves until it fits.
	n := len(big)
	for ; n > 0; n /= 2 {
		if _, err = s.Append(ctx, big[:n]); err == nil {
			break
		}
	}
	if got := len(allIDs(t, s)); got != n || n == 0 {
		t.Fatalf("fitting batch: %d events stored, want %d", got, n)
	}

	// The server's max_payload (1 MiB by default) is the default limit.
	s2 := openStore(t, c.Connect(0), jetstream.Options{Stream: newStream(), Dir: t.TempDir(), DisableCompression: true})
	defer s2.Close()
	huge := g.Batch(3000)
	if _, err := s2.Append(ctx, huge); !errors.Is(err, ledger.ErrInvalidQuery) || !strings.Contains(err.Error(), "over the maximum of 1048064 bytes") {
		t.Fatalf("batch over max_payload: %v", err)
	}
	if _, err := s2.Append(ctx, huge[:1000]); err != nil {
		t.Fatalf("1000-event batch: %v", err)
	}
	// Compressed, the same 3000 events fit.
	s3 := openStore(t, c.Connect(0), jetstream.Options{Stream: newStream(), Dir: t.TempDir()})
	defer s3.Close()
	if _, err := s3.Append(ctx, huge); err != nil {
		t.Fatalf("3000-event batch, compressed: %v", err)
	}
	if got := len(allIDs(t, s3)); got != 3000 {
		t.Fatalf("3000-event batch: %d events stored", got)
	}
}

// TestRecovery: a damaged position file makes a node re-apply the whole
// stream (no duplicate, same head); a directory holding an embedded
// ledger, and a stream deleted and created again under the same name, are
// refused.
func TestRecovery(t *testing.T) {
	c := jstest.StartServer(t)
	nc := c.Connect(0)
	ctx := context.Background()
	g := workload.New(workload.Config{Seed: 11})
	o := jetstream.Options{Stream: newStream(), Dir: t.TempDir()}
	s := openStore(t, nc, o)
	for range 20 {
		if err := s.AppendEvents(ctx, g.Batch(7)); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := s.Head()
	s.Close()
	pos := filepath.Join(o.Dir, "jetstream.state")
	b, err := os.ReadFile(pos)
	if err != nil {
		t.Fatal(err)
	}
	b[5] ^= 0x20
	if err := os.WriteFile(pos, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, nc, o)
	got, _ := s.Head()
	if got.StreamSeq != want.StreamSeq || got.Digest.Seq != want.Digest.Seq || got.Digest.Hash != want.Digest.Hash {
		t.Fatalf("after re-applying: %+v, want %+v", got, want)
	}
	if st := s.Stats(); st.Applied != 20 {
		t.Fatalf("re-applied %d messages, want all 20 (as no-ops)", st.Applied)
	}
	s.Close()

	// A directory holding an embedded ledger (no position file) is not
	// taken for a node of the stream.
	edir := t.TempDir()
	el, err := ledger.Open(edir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := el.AppendEvents(ctx, g.Batch(2)); err != nil {
		t.Fatal(err)
	}
	el.Close()
	octx0, cancel0 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel0()
	if _, err := jetstream.Open(octx0, nc, jetstream.Options{Stream: o.Stream, Dir: edir}); !errors.Is(err, jetstream.ErrStreamMismatch) {
		t.Fatalf("opening on an embedded ledger: %v, want ErrStreamMismatch", err)
	}

	js, _ := natsjs.New(nc)
	if err := js.DeleteStream(ctx, o.Stream); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, nc, jetstream.Options{Stream: o.Stream, Dir: t.TempDir()})
	if err := s.AppendEvents(ctx, g.Batch(3)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := jetstream.Open(octx, nc, o); !errors.Is(err, jetstream.ErrStreamMismatch) {
		t.Fatalf("reopening on a re-created stream: %v, want ErrStreamMismatch", err)
	}
}

// TestReadYourWrites: an append returns only once the local ledger holds
// it; another node sees it after Sync, or at once with StrictReads.
func TestReadYourWrites(t *testing.T) {
	c := jstest.StartCluster(t, 3)
	ctx := context.Background()
	stream := newStream()
	w := openStore(t, c.Connect(0), jetstream.Options{Stream: stream, Replicas: 3, Dir: t.TempDir()})
	defer w.Close()
	r := openStore(t, c.Connect(1), jetstream.Options{Stream: stream, Replicas: 3, Dir: t.TempDir()})
	defer r.Close()
	strict := openStore(t, c.Connect(2), jetstream.Options{Stream: stream, Replicas: 3, Dir: t.TempDir(), StrictReads: true})
	defer strict.Close()
	g := workload.New(workload.Config{Seed: 12})
	for i := range 30 {
		b := g.Batch(1 + i%5)
		ack, err := w.Append(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Get(ctx, b[0].EventID); err != nil {
			t.Fatalf("writer does not see its own append: %v", err)
		}
		if _, err := strict.Get(ctx, b[len(b)-1].EventID); err != nil {
			t.Fatalf("strict reader does not see an acknowledged append: %v", err)
		}
		if i%2 == 0 {
			if err := r.Sync(ctx); err != nil {
				t.Fatal(err)
			}
		} else if err := r.WaitApplied(ctx, ack.Seq); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Get(ctx, b[0].EventID); err != nil {
			t.Fatalf("reader after Sync/WaitApplied: %v", err)
		}
	}
}

// TestCompressionMixed: writers with each Compression append to one
// stream; the messages carry the matching Exledger-Encoding (zstd, the
// earlier default, included) and every node applies all of them into the
// same ledger. An unknown value is refused by Open.
func TestCompressionMixed(t *testing.T) {
	t.Parallel()
	c := jstest.StartServer(t)
	nc := c.Connect(0)
	ctx := context.Background()
	stream := newStream()
	g := workload.New(workload.Config{Seed: 21})
	encs := []struct{ comp, want string }{
		{"", "snappy"}, {jetstream.CompressionSnappy, "snappy"}, {jetstream.CompressionZstd, "zstd"}, {jetstream.CompressionNone, ""},
	}
	var stores []*jetstream.Store
	for _, e := range encs {
		comp := e.comp
		s := openStore(t, nc, jetstream.Options{Stream: stream, Dir: t.TempDir(), Compression: comp})
		defer s.Close()
		stores = append(stores, s)
	}
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for round := range 2 {
		for i, e := range encs {
			comp, want := e.comp, e.want
			ack, err := stores[i].Append(ctx, g.Batch(300+round))
			if err != nil {
				t.Fatalf("compression %q: %v", comp, err)
			}
			n += 300 + round
			m, err := st.GetMsg(ctx, ack.Seq)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Header.Get("Exledger-Encoding"); got != want {
				t.Fatalf("compression %q: message encoding %q, want %q", comp, got, want)
			}
		}
	}
	reader := openStore(t, nc, jetstream.Options{Stream: stream, Dir: t.TempDir()})
	defer reader.Close()
	if got := len(allIDs(t, reader)); got != n {
		t.Fatalf("reader holds %d events, %d appended", got, n)
	}
	want, _ := reader.Head()
	for _, s := range stores {
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if h, _ := s.Head(); h.Digest.Hash != want.Digest.Hash || h.StreamSeq != want.StreamSeq {
			t.Fatalf("%s: head %+v, reader %+v", s.Dir(), h, want)
		}
		if st := s.Stats(); st.Foreign != 0 || st.Rejected != 0 {
			t.Fatalf("%s: %+v", s.Dir(), st)
		}
	}
	if _, err := jetstream.Open(ctx, nc, jetstream.Options{Stream: stream, Dir: t.TempDir(), Compression: "lz4"}); err == nil || !strings.Contains(err.Error(), `unknown Compression "lz4"`) {
		t.Fatalf("Compression lz4: %v", err)
	}
}
