package ledger_test

// Bad input at the API: each case must give a clear error, store nothing
// and lose nothing (the ledger's content is compared before and after).

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// badContent returns the canonical bytes of every stored event.
func badContent(t *testing.T, l *ledger.Ledger) [][]byte {
	t.Helper()
	var out [][]byte
	for e, err := range l.ScanSeq(context.Background(), ledger.EventQuery{}, 1) {
		if err != nil {
			t.Fatalf("scan: %v", err)
		}
		b, err := ledger.MarshalCanonical(&e.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func sameContent(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestBadInputAppend(t *testing.T) {
	ctx := context.Background()
	o := relOpts(relNewMem())
	o.MaxEventBytes = 8 << 10
	o.MaxBatchBytes = 32 << 10
	l, err := ledger.Open("/l", o)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	g := workload.New(workload.Config{Seed: 8, OutlierRate: -1})
	if err := l.AppendEvents(ctx, g.Batch(20)); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendEvents(ctx, g.Batch(5)); err != nil {
		t.Fatal(err)
	}
	before := badContent(t, l)

	big := workload.New(workload.Config{Seed: 9, OutlierRate: 1}).Next() // ~64 KiB
	valid := func() relEnv { return g.Next() }
	with := func(f func(e *relEnv)) relEnv { e := valid(); f(&e); return e }
	long := strings.Repeat("a", 257)
	bad := ledger.TenantID("bad tenant!")
	badCorr := ledger.CorrelationID(long)
	var batchOver []relEnv
	for len(batchOver) < 60 {
		batchOver = append(batchOver, valid()) // > 32 KiB in total
	}
	// Batches of 256+ events are encoded on several goroutines: the same
	// checks must hold whichever part holds the bad event.
	largeValid := func(n int) []relEnv {
		out := make([]relEnv, n)
		for i := range out {
			out[i] = valid()
		}
		return out
	}
	largeOver := largeValid(600)
	largeBig := largeValid(300)
	largeBig[250] = big
	largeNil := largeValid(300)
	largeNil[280] = with(func(e *relEnv) { e.Event = nil })
	cases := []struct {
		name  string
		batch []relEnv
		want  string // substring of the message
	}{
		{"event over MaxEventBytes", []relEnv{big}, "maximum event size"},
		{"event over MaxEventBytes inside a batch", []relEnv{valid(), big, valid()}, "maximum event size"},
		{"batch over MaxBatchBytes", batchOver, "maximum batch size"},
		{"empty event id", []relEnv{with(func(e *relEnv) { e.EventID = "" })}, "event_id"},
		{"event id with a space", []relEnv{with(func(e *relEnv) { e.EventID = "bad id" })}, "event_id"},
		{"event id of 257 bytes", []relEnv{with(func(e *relEnv) { e.EventID = ledger.EventID(long) })}, "event_id"},
		{"invalid tenant", []relEnv{with(func(e *relEnv) { e.TenantID = &bad })}, "tenant"},
		{"correlation id of 257 bytes", []relEnv{with(func(e *relEnv) { e.CorrelationID = &badCorr })}, "correlation"},
		{"nil event", []relEnv{with(func(e *relEnv) { e.Event = nil })}, "event"},
		{"nil event after valid ones", []relEnv{valid(), valid(), with(func(e *relEnv) { e.Event = nil })}, "event"},
		{"invalid id last in a batch", []relEnv{valid(), with(func(e *relEnv) { e.EventID = "x y" })}, "event_id"},
		{"large batch over MaxBatchBytes", largeOver, "maximum batch size"},
		{"event over MaxEventBytes in the last part of a large batch", largeBig, "maximum event size"},
		{"nil event in the last part of a large batch", largeNil, "event"},
	}
	for _, c := range cases {
		err := l.AppendEvents(ctx, c.batch)
		if !errors.Is(err, ledger.ErrInvalidQuery) {
			t.Errorf("%s: want ErrInvalidQuery, got %v", c.name, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: message %q does not mention %q", c.name, err.Error(), c.want)
		}
		if after := badContent(t, l); !sameContent(before, after) {
			t.Fatalf("%s: the ledger changed (%d events before, %d after)", c.name, len(before), len(after))
		}
	}
	// An empty batch is a no-op.
	if err := l.AppendEvents(ctx, nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
	// A cancelled context: nothing stored.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.AppendEvents(cctx, []relEnv{valid()}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: want context.Canceled, got %v", err)
	}
	if _, err := l.QueryEvents(cctx, ledger.EventQuery{}); !errors.Is(err, context.Canceled) {
		t.Errorf("query with a cancelled context: want context.Canceled, got %v", err)
	}
	if _, err := l.Verify(cctx, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("verify with a cancelled context: want context.Canceled, got %v", err)
	}
	if after := badContent(t, l); !sameContent(before, after) {
		t.Fatal("the ledger changed after bad input")
	}
	// Nothing is lost across a restart either, and the ledger still works.
	l.Close()
	l2, err := ledger.Open("/l", o)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if after := badContent(t, l2); !sameContent(before, after) {
		t.Fatal("the ledger's content changed across a restart after bad input")
	}
	if err := l2.AppendEvent(ctx, valid()); err != nil {
		t.Fatalf("a valid append after bad input: %v", err)
	}
}

func TestBadInputQueryLimits(t *testing.T) {
	ctx := context.Background()
	l, err := ledger.Open("/l", relOpts(relNewMem()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	g := workload.New(workload.Config{Seed: 10, OutlierRate: -1})
	if err := l.AppendEvents(ctx, g.Batch(40)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		limit uint64
		want  int
	}{{0, 0}, {1, 1}, {39, 39}, {40, 40}, {41, 40}, {^uint64(0), 40}, {1 << 63, 40}} {
		got, err := l.QueryEvents(ctx, ledger.EventQuery{Limit: relPtr(c.limit)})
		if err != nil || len(got) != c.want {
			t.Errorf("limit %d: %d results (err %v), want %d", c.limit, len(got), err, c.want)
		}
	}
	// Inverted and absurd time ranges match nothing, without error.
	a, b := ledger.Timestamp("9999-12-31T23:59:59Z"), ledger.Timestamp("")
	for _, tr := range []*ledger.TimeRange{{Start: &a, End: &b}, {Start: &a}} {
		got, err := l.QueryEvents(ctx, ledger.EventQuery{TimeRange: tr})
		if err != nil || len(got) != 0 {
			t.Errorf("time range %v: %d results, err %v", tr, len(got), err)
		}
	}
	if _, err := l.Get(ctx, "no such id"); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("Get of a missing id: want ErrNotFound, got %v", err)
	}
}

func TestBadInputClosedLedger(t *testing.T) {
	ctx := context.Background()
	l, err := ledger.Open("/l", relOpts(relNewMem()))
	if err != nil {
		t.Fatal(err)
	}
	g := workload.New(workload.Config{Seed: 11, OutlierRate: -1})
	if err := l.AppendEvents(ctx, g.Batch(3)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	errs := map[string]error{"AppendEvents": l.AppendEvents(ctx, g.Batch(1)), "Flush": l.Flush(), "Sync": l.Sync()}
	_, errs["QueryEvents"] = l.QueryEvents(ctx, ledger.EventQuery{})
	_, errs["Compact"] = l.Compact(ctx, ledger.CompactOptions{})
	_, errs["Verify"] = l.Verify(ctx, nil)
	_, errs["Head"] = l.Head()
	_, errs["Get"] = l.Get(ctx, "x")
	_, errs["GetTraceLink"] = l.GetTraceLink(ctx, "x")
	errs["VerifyDigest"] = l.VerifyDigest(ctx, ledger.Digest{})
	for _, err := range l.Scan(ctx, ledger.EventQuery{}) {
		errs["Scan"] = err
		break
	}
	for name, err := range errs {
		if !errors.Is(err, ledger.ErrClosed) {
			t.Errorf("%s on a closed ledger: want ErrClosed, got %v", name, err)
		}
	}
}

func TestBadInputNotALedgerDirectory(t *testing.T) {
	mem := vfs.NewMem()
	mem.MkdirAll("/d/sub")
	mem.WriteFile("/d/sub/data.bin", []byte("x"))
	if _, err := ledger.Open("/d", &ledger.Options{FS: mem}); !errors.Is(err, ledger.ErrNotLedger) {
		t.Errorf("directory with other files: want ErrNotLedger, got %v", err)
	}
	if b, _ := mem.ReadFile("/d/sub/data.bin"); string(b) != "x" {
		t.Error("Open touched a foreign file")
	}
	mem.WriteFile("/f", []byte("plain file"))
	if l, err := ledger.Open("/f", &ledger.Options{FS: mem}); err == nil {
		l.Close()
		t.Error("Open of a plain file succeeded")
	}
}

// A ledger written by a newer format version is refused with
// ErrNewerFormat, and nothing is changed: once the MANIFEST is back, every
// event is there.
func TestBadInputNewerFormatVersion(t *testing.T) {
	ctx := context.Background()
	mem := relNewMem()
	l, err := ledger.Open("/l", relOpts(mem))
	if err != nil {
		t.Fatal(err)
	}
	g := workload.New(workload.Config{Seed: 12, OutlierRate: -1})
	if err := l.AppendEvents(ctx, g.Batch(30)); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendEvents(ctx, g.Batch(4)); err != nil {
		t.Fatal(err)
	}
	before := badContent(t, l)
	l.Close()
	orig, err := mem.ReadFile("/l/MANIFEST")
	if err != nil {
		t.Fatal(err)
	}
	// MANIFEST: "EXLMANI1" | u32 length | JSON body | u64 xxhash64 of all
	// preceding bytes.
	body := orig[12 : len(orig)-8]
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	m["version"] = ledger.FormatVersion + 1
	nb, _ := json.Marshal(m)
	out := append([]byte("EXLMANI1"), binary.LittleEndian.AppendUint32(nil, uint32(len(nb)))...)
	out = append(out, nb...)
	out = binary.LittleEndian.AppendUint64(out, xxhash.Sum64(out))
	mem.WriteFile("/l/MANIFEST", out)
	files := map[string][]byte{}
	for _, d := range []string{"/l/wal", "/l/seg"} {
		names, _ := mem.List(d)
		for _, n := range names {
			files[d+"/"+n], _ = mem.ReadFile(d + "/" + n)
		}
	}
	_, err = ledger.Open("/l", relOpts(mem))
	if !errors.Is(err, ledger.ErrNewerFormat) {
		t.Fatalf("want ErrNewerFormat, got %v", err)
	}
	if !strings.Contains(err.Error(), "version") {
		t.Errorf("message does not mention the version: %v", err)
	}
	for p, b := range files {
		if now, err := mem.ReadFile(p); err != nil || !bytes.Equal(now, b) {
			t.Errorf("refusing a newer format changed %s", p)
		}
	}
	mem.WriteFile("/l/MANIFEST", orig)
	l2, err := ledger.Open("/l", relOpts(mem))
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if after := badContent(t, l2); !sameContent(before, after) {
		t.Fatalf("content changed: %d events before, %d after", len(before), len(after))
	}
}
