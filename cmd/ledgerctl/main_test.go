package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

// result is one in-process run of ledgerctl.
type result struct {
	stdout, stderr string
	code           int
}

func runCLI(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	return runCLICtx(t, context.Background(), stdin, args...)
}

func runCLICtx(t *testing.T, ctx context.Context, stdin io.Reader, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	code := run(ctx, args, stdin, &out, &errb)
	return result{out.String(), errb.String(), code}
}

func (r result) must(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

// testOpts seals small segments so a few thousand events span several
// segments plus a WAL tail.
func testOpts() *ledger.Options {
	// KeepTailOnClose: the fixtures keep a WAL tail (Close seals it by
	// default), so the commands are tested on both sealed and WAL data.
	return &ledger.Options{Sync: ledger.SyncNever, SegmentBytes: 256 << 10, SegmentAge: -1, KeepTailOnClose: true}
}

// makeLedger writes n workload events into a new ledger in a temp dir and
// closes it; the last events stay in the WAL tail.
func makeLedger(t *testing.T, n int, seed int64) (string, []ledger.ExperienceEventEnvelope) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ledger")
	l, err := ledger.Open(dir, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	evs := workload.New(workload.Config{Seed: seed}).Batch(n)
	tail := min(n, 200)
	for i := 0; i < n; i += 500 {
		end := min(i+500, n)
		if i < n-tail && end > n-tail {
			end = n - tail
		}
		if err := l.AppendEvents(context.Background(), evs[i:end]); err != nil {
			t.Fatal(err)
		}
		if end == n-tail {
			// Seal everything but the tail, so the layout is
			// deterministic: segments plus a WAL tail.
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		i = end - 500
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, evs
}

func appendMore(t *testing.T, dir string, evs []ledger.ExperienceEventEnvelope) {
	t.Helper()
	l, err := ledger.Open(dir, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.AppendEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
}

func toJSONL(t *testing.T, evs []ledger.ExperienceEventEnvelope) string {
	t.Helper()
	var b []byte
	for i := range evs {
		var err error
		if b, err = ledger.AppendEnvelopeJSON(b, &evs[i]); err != nil {
			t.Fatal(err)
		}
		b = append(b, '\n')
	}
	return string(b)
}

// treeHash maps every path under dir to the SHA-256 of its bytes ("dir"
// for directories).
func treeHash(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			m[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h := sha256.Sum256(b)
		m[rel] = hex.EncodeToString(h[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameTree(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed %s", what, k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s created %s", what, k)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestUsageErrors(t *testing.T) {
	dir, _ := makeLedger(t, 50, 1)
	missing := filepath.Join(t.TempDir(), "missing")
	tests := [][]string{
		{},
		{"nosuch"},
		{"stat"},
		{"stat", dir, dir},
		{"get", dir},
		{"stat", dir, "-o", "yaml"},
		{"query", dir, "--bogus"},
		{"query", dir, "--order", "random"},
		{"query", dir, "--kind", "NotAKind"},
		{"query", dir, "--limit", "-1"},
		{"tail", dir, "-n", "-2"},
		{"compact", dir, "--level", "ultra"},
		{"import", missing, "x.jsonl", "--batch", "0"},
		{"demo", "a", "b"},
		{"demo", missing, "--events", "0"},
	}
	for _, args := range tests {
		r := runCLI(t, nil, args...)
		if r.code != exitUsage {
			t.Errorf("%q: exit %d, want %d (stderr %q)", args, r.code, exitUsage, r.stderr)
		}
		if r.stderr == "" {
			t.Errorf("%q: no message on stderr", args)
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatal("a usage error created a directory")
	}
	// --help is not an error.
	r := runCLI(t, nil, "query", "--help").must(t, exitOK)
	if !strings.Contains(r.stdout, "--correlation") {
		t.Fatalf("help lacks the query flags: %s", r.stdout)
	}
}

func TestRejectsNonLedger(t *testing.T) {
	base := t.TempDir()
	missing := filepath.Join(base, "missing")
	empty := filepath.Join(base, "empty")
	other := filepath.Join(base, "other")
	os.Mkdir(empty, 0o755)
	os.Mkdir(other, 0o755)
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("hello"), 0o644)
	before := treeHash(t, base)
	for _, dir := range []string{missing, empty, other} {
		for _, args := range [][]string{
			{"stat", dir}, {"query", dir}, {"get", dir, "x"}, {"trace", dir, "x"}, {"export", dir},
			{"verify", dir}, {"digest", dir}, {"tail", dir}, {"compact", dir}, {"repair", dir},
			{"backup", dir, filepath.Join(base, "bk")},
			{"serve", dir, "--addr", "127.0.0.1:0"},
		} {
			r := runCLI(t, nil, args...).must(t, exitError)
			if !strings.Contains(r.stderr, "not an exledger ledger") {
				t.Errorf("%q: unclear message %q", args, r.stderr)
			}
		}
	}
	// import refuses a non-empty directory that is not a ledger.
	f := filepath.Join(base, "in.jsonl")
	os.WriteFile(f, nil, 0o644)
	r := runCLI(t, nil, "import", other, f).must(t, exitError)
	if !strings.Contains(r.stderr, "not an exledger ledger") {
		t.Errorf("import: unclear message %q", r.stderr)
	}
	os.Remove(f)
	sameTree(t, "commands on non-ledgers", before, treeHash(t, base))
}

func TestReadOnlyCommandsChangeNothing(t *testing.T) {
	dir, evs := makeLedger(t, 3000, 2)
	before := treeHash(t, dir)
	if len(before) < 6 {
		t.Fatalf("test ledger too small: %v", before)
	}
	var traceID string
	for _, e := range evs {
		if rt, ok := e.Event.(*ledger.ReplayTraceRecorded); ok {
			traceID = string(rt.TraceLinkID)
		}
	}
	tenant := string(*evs[0].TenantID)
	cmds := [][]string{
		{"stat", dir}, {"stat", dir, "-o", "json"},
		{"query", dir, "--tenant", tenant, "--order", "time"},
		{"get", dir, string(evs[10].EventID)},
		{"trace", dir, traceID},
		{"export", dir},
		{"verify", dir}, {"verify", dir, "-o", "json"},
		{"digest", dir}, {"digest", dir, "-o", "json"},
		{"tail", dir, "-n", "3"},
	}
	for _, args := range cmds {
		runCLI(t, nil, args...).must(t, exitOK)
		sameTree(t, args[0], before, treeHash(t, dir))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	runCLICtx(t, ctx, nil, "tail", dir, "-f").must(t, exitOK)
	sameTree(t, "tail -f", before, treeHash(t, dir))

	// Read-only commands work beside a writer that holds the lock.
	l, err := ledger.Open(dir, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := runCLI(t, nil, "digest", dir, "-o", "json").must(t, exitOK)
	var d ledger.Digest
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.Seq != 3000 {
		t.Fatalf("digest beside a writer: %v %+v", err, d)
	}
}

func TestStat(t *testing.T) {
	dir, evs := makeLedger(t, 3000, 3)
	r := runCLI(t, nil, "stat", dir, "-o", "json").must(t, exitOK)
	var s statJSON
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatal(err)
	}
	if s.Events != 3000 || s.FirstSeq != 1 || s.LastSeq != 3000 || s.SealedEvents+s.TailEvents != 3000 {
		t.Fatalf("counts: %+v", s)
	}
	if s.Segments < 2 || len(s.SegmentList) != s.Segments || s.TailEvents == 0 {
		t.Fatalf("want several segments and a WAL tail: %d segments, %d tail events", s.Segments, s.TailEvents)
	}
	if s.CompressionRatio <= 1 || s.IndexBytes <= 0 || s.IndexByField["tenant"] <= 0 || s.DiskBytes <= s.DataBytes {
		t.Fatalf("sizes: ratio %.2f index %d by field %v disk %d data %d", s.CompressionRatio, s.IndexBytes, s.IndexByField, s.DiskBytes, s.DataBytes)
	}
	minT, maxT := string(evs[0].OccurredAt), string(evs[0].OccurredAt)
	tenants, kinds := map[string]uint64{}, map[string]uint64{}
	for _, e := range evs {
		minT, maxT = min(minT, string(e.OccurredAt)), max(maxT, string(e.OccurredAt))
		name := "(none)"
		if e.TenantID != nil {
			name = string(*e.TenantID)
		}
		tenants[name]++
		kinds[string(e.Event.Kind())]++
	}
	if s.MinTime != minT || s.MaxTime != maxT {
		t.Fatalf("time range %s..%s, want %s..%s", s.MinTime, s.MaxTime, minT, maxT)
	}
	for _, c := range []struct {
		got  []countJSON
		want map[string]uint64
	}{{s.Tenants, tenants}, {s.Kinds, kinds}} {
		if len(c.got) != len(c.want) {
			t.Fatalf("got %d names, want %d", len(c.got), len(c.want))
		}
		for i, g := range c.got {
			if c.want[g.Name] != g.Events {
				t.Fatalf("%s: %d events, want %d", g.Name, g.Events, c.want[g.Name])
			}
			if i > 0 && g.Events > c.got[i-1].Events {
				t.Fatal("counts not sorted by decreasing count")
			}
		}
	}
	txt := runCLI(t, nil, "stat", dir).must(t, exitOK).stdout
	for _, want := range []string{"3,000 (seq 1 – 3,000)", "compression", "indexes", "tenants (", "kinds (", "ProposalCreated", "segments (", minT} {
		if !strings.Contains(txt, want) {
			t.Errorf("stat text lacks %q:\n%s", want, txt)
		}
	}
	nc := runCLI(t, nil, "stat", dir, "--no-counts").must(t, exitOK).stdout
	if strings.Contains(nc, "tenants (") {
		t.Error("--no-counts still counts")
	}
}

func TestQuery(t *testing.T) {
	dir, evs := makeLedger(t, 3000, 4)
	tenant := *evs[5].TenantID
	var corr ledger.CorrelationID
	for _, e := range evs {
		if e.CorrelationID != nil {
			corr = *e.CorrelationID
			break
		}
	}
	var chain ledger.ChainID
	for _, e := range evs {
		if c, ok := ledger.ChainIDOf(e.Event); ok {
			chain = c
			break
		}
	}
	from, to := evs[1000].OccurredAt, evs[1400].OccurredAt
	if to < from {
		from, to = to, from
	}
	lim := uint64(7)
	tests := []struct {
		args  []string
		q     ledger.EventQuery
		order ledger.Order
	}{
		{nil, ledger.EventQuery{}, ledger.OrderLog},
		{[]string{"--tenant", string(tenant), "--kind", "ProposalCreated", "--kind", "OutcomeRecorded"},
			ledger.EventQuery{TenantID: &tenant, Kinds: []ledger.ExperienceEventKind{ledger.KindProposalCreated, ledger.KindOutcomeRecorded}}, ledger.OrderLog},
		{[]string{"--from", string(from), "--to", string(to)}, ledger.EventQuery{TimeRange: &ledger.TimeRange{Start: &from, End: &to}}, ledger.OrderLog},
		{[]string{"--from", string(from), "--order", "time", "--limit", "7"}, ledger.EventQuery{TimeRange: &ledger.TimeRange{Start: &from}, Limit: &lim}, ledger.OrderTime},
		{[]string{"--correlation", string(corr)}, ledger.EventQuery{CorrelationID: &corr}, ledger.OrderLog},
		{[]string{"--chain", string(chain), "--limit", "7"}, ledger.EventQuery{ChainID: &chain, Limit: &lim}, ledger.OrderLog},
	}
	l, err := ledger.Open(dir, &ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tc := range tests {
		want, err := l.QueryEventsOrdered(context.Background(), tc.q, tc.order)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 {
			t.Fatalf("%q matches nothing", tc.args)
		}
		r := runCLI(t, nil, append([]string{"query", dir}, tc.args...)...).must(t, exitOK)
		if r.stdout != toJSONL(t, want) {
			t.Errorf("%q: output differs from QueryEvents (%d lines, want %d)", tc.args, strings.Count(r.stdout, "\n"), len(want))
		}
	}
	// The unfiltered query is every event, in append order.
	if got := runCLI(t, nil, "query", dir, "-o", "json").must(t, exitOK).stdout; got != toJSONL(t, evs) {
		t.Error("query without filters is not the appended events")
	}
}

func TestGetAndTrace(t *testing.T) {
	dir, evs := makeLedger(t, 2000, 5)
	for _, i := range []int{0, 777, 1999} {
		want, _ := ledger.MarshalEnvelopeJSON(evs[i])
		r := runCLI(t, nil, "get", dir, string(evs[i].EventID), "-o", "json").must(t, exitOK)
		if r.stdout != string(want)+"\n" {
			t.Errorf("get %d: %s", i, r.stdout)
		}
		txt := runCLI(t, nil, "get", dir, string(evs[i].EventID)).must(t, exitOK).stdout
		var c bytes.Buffer
		json.Compact(&c, []byte(txt))
		if c.String() != string(want) || !strings.Contains(txt, "\n  ") {
			t.Errorf("get %d text form is not the indented event: %s", i, txt)
		}
	}
	r := runCLI(t, nil, "get", dir, "no-such-event").must(t, exitError)
	if !strings.Contains(r.stderr, "not found") {
		t.Errorf("missing event: %q", r.stderr)
	}

	latest := map[ledger.TraceLinkID]ledger.ReplayTrace{}
	for _, e := range evs {
		if rt, ok := e.Event.(*ledger.ReplayTraceRecorded); ok {
			latest[rt.TraceLinkID] = rt.TraceLink
		}
	}
	if len(latest) == 0 {
		t.Fatal("no trace links in the workload")
	}
	n := 0
	for id, tr := range latest {
		want, _ := ledger.MarshalReplayTraceJSON(tr)
		r := runCLI(t, nil, "trace", dir, string(id), "-o", "json").must(t, exitOK)
		if r.stdout != string(want)+"\n" {
			t.Errorf("trace %s: %s, want %s", id, r.stdout, want)
		}
		if n++; n == 5 {
			break
		}
	}
	r = runCLI(t, nil, "trace", dir, "tl-never").must(t, exitError)
	if !strings.Contains(r.stderr, "not found") {
		t.Errorf("missing trace: %q", r.stderr)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	dir, evs := makeLedger(t, 2500, 6)
	tmp := t.TempDir()
	file := filepath.Join(tmp, "events.jsonl")
	r := runCLI(t, nil, "export", dir, "--out", file).must(t, exitOK)
	if !strings.Contains(r.stdout, "exported 2,500 events") {
		t.Errorf("export summary: %q", r.stdout)
	}
	exported, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(exported) != toJSONL(t, evs) {
		t.Fatal("export is not the appended events")
	}
	if out := runCLI(t, nil, "export", dir).must(t, exitOK).stdout; out != string(exported) {
		t.Fatal("export to stdout differs from export to a file")
	}

	// Into a new ledger from a file, and from stdin.
	dst := filepath.Join(tmp, "copy")
	r = runCLI(t, nil, "import", dst, file, "--batch", "300").must(t, exitOK)
	if !strings.Contains(r.stdout, "imported 2,500 events in 9 batches") {
		t.Errorf("import summary: %q", r.stdout)
	}
	dst2 := filepath.Join(tmp, "copy2")
	r = runCLI(t, bytes.NewReader(exported), "import", dst2, "-", "-o", "json").must(t, exitOK)
	var rep importJSON
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Events != 2500 || rep.Batches != 3 || rep.Error != nil {
		t.Fatalf("import json: %v %+v", err, rep)
	}
	for _, d := range []string{dst, dst2} {
		if out := runCLI(t, nil, "export", d).must(t, exitOK).stdout; out != string(exported) {
			t.Fatalf("%s: export after import differs", d)
		}
	}
	// The copy has the same events but its own identity and so its own
	// digest ledger id; the chain hash over the same events is equal.
	var d1, d2 ledger.Digest
	json.Unmarshal([]byte(runCLI(t, nil, "digest", dir, "-o", "json").must(t, exitOK).stdout), &d1)
	json.Unmarshal([]byte(runCLI(t, nil, "digest", dst, "-o", "json").must(t, exitOK).stdout), &d2)
	if d1.Seq != 2500 || d1.Seq != d2.Seq || d1.HashHex != d2.HashHex || d1.LedgerID == d2.LedgerID {
		t.Fatalf("digests: %+v %+v", d1, d2)
	}

	// A filtered export equals the same query.
	tenant := string(*evs[0].TenantID)
	q := runCLI(t, nil, "query", dir, "--tenant", tenant, "--kind", "RecallExecuted").must(t, exitOK).stdout
	e := runCLI(t, nil, "export", dir, "--tenant", tenant, "--kind", "RecallExecuted").must(t, exitOK).stdout
	if q != e || q == "" {
		t.Fatal("filtered export differs from query")
	}
}

func TestImportBadBatch(t *testing.T) {
	evs := workload.New(workload.Config{Seed: 8}).Batch(40)
	lines := strings.SplitAfter(toJSONL(t, evs), "\n")
	lines[24] = `{"event_id": "broken"` + "\n" // line 25, in batch 3 of 10
	file := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(file, []byte(strings.Join(lines, "")), 0o644)
	dir := filepath.Join(t.TempDir(), "l")
	r := runCLI(t, nil, "import", dir, file, "--batch", "10").must(t, exitError)
	for _, want := range []string{"line 25", "nothing after line 20 was imported", "2 batches before it (20 events, lines 1-20) were imported"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("message lacks %q: %s", want, r.stderr)
		}
	}
	if out := runCLI(t, nil, "export", dir).must(t, exitOK).stdout; out != toJSONL(t, evs[:20]) {
		t.Fatalf("ledger holds %d lines, want exactly the first two batches", strings.Count(out, "\n"))
	}
	r = runCLI(t, nil, "import", filepath.Join(t.TempDir(), "l2"), file, "--batch", "10", "-o", "json").must(t, exitError)
	var rep importJSON
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Events != 20 || rep.Error == nil || rep.Error.Line != 25 {
		t.Fatalf("json report: %v %+v", err, rep)
	}
	runCLI(t, nil, "import", dir, filepath.Join(t.TempDir(), "nope.jsonl")).must(t, exitError)
}

func TestVerifyAndDigest(t *testing.T) {
	dir, _ := makeLedger(t, 3000, 9)
	tmp := t.TempDir()
	r := runCLI(t, nil, "verify", dir).must(t, exitOK)
	if !strings.Contains(r.stdout, "ok: 3,000 events") || !strings.Contains(r.stdout, "head: seq 3000") {
		t.Errorf("verify output: %s", r.stdout)
	}
	jd := filepath.Join(tmp, "head.json")
	td := filepath.Join(tmp, "head.txt")
	os.WriteFile(jd, []byte(runCLI(t, nil, "digest", dir, "-o", "json").must(t, exitOK).stdout), 0o644)
	txt := runCLI(t, nil, "digest", dir).must(t, exitOK).stdout
	if !strings.HasPrefix(txt, "ledger_id ") || !strings.Contains(txt, "\nseq 3000\nhash ") {
		t.Fatalf("digest text: %q", txt)
	}
	os.WriteFile(td, []byte(txt), 0o644)

	// The ledger grows; it still extends both saved heads.
	appendMore(t, dir, workload.New(workload.Config{Seed: 99}).Batch(500))
	for _, d := range []string{jd, td} {
		r := runCLI(t, nil, "verify", dir, "--digest", d).must(t, exitOK)
		if !strings.Contains(r.stdout, "ok: 3,500 events") || !strings.Contains(r.stdout, "still extends seq 3000") {
			t.Errorf("verify --digest: %s", r.stdout)
		}
	}
	var vj verifyJSON
	json.Unmarshal([]byte(runCLI(t, nil, "verify", dir, "--digest", jd, "-o", "json").must(t, exitOK).stdout), &vj)
	if !vj.OK || vj.Events != 3500 || vj.DigestVerified == nil || vj.DigestVerified.Seq != 3000 || vj.Head.Seq != 3500 {
		t.Fatalf("verify json: %+v", vj)
	}

	// A digest with another hash, or of another ledger, is a violation.
	var d ledger.Digest
	b, _ := os.ReadFile(jd)
	json.Unmarshal(b, &d)
	forged := d
	forged.HashHex = strings.Repeat("ab", 32)
	fb, _ := json.Marshal(forged)
	os.WriteFile(filepath.Join(tmp, "forged.json"), fb, 0o644)
	r = runCLI(t, nil, "verify", dir, "--digest", filepath.Join(tmp, "forged.json")).must(t, exitIntegrity)
	if !strings.Contains(r.stderr, "integrity violation") || !strings.Contains(r.stderr, "seq 3000") {
		t.Errorf("forged digest: %s", r.stderr)
	}
	other, _ := makeLedger(t, 100, 10)
	os.WriteFile(filepath.Join(tmp, "other.txt"), []byte(runCLI(t, nil, "digest", other).must(t, exitOK).stdout), 0o644)
	runCLI(t, nil, "verify", dir, "--digest", filepath.Join(tmp, "other.txt")).must(t, exitIntegrity)
	// Unreadable digests are plain errors.
	os.WriteFile(filepath.Join(tmp, "junk"), []byte("seq x\n"), 0o644)
	runCLI(t, nil, "verify", dir, "--digest", filepath.Join(tmp, "junk")).must(t, exitError)
	runCLI(t, nil, "verify", dir, "--digest", filepath.Join(tmp, "absent")).must(t, exitError)

	// Flip one byte inside the first segment's data.
	segs, _ := filepath.Glob(filepath.Join(dir, "seg", "*.seg"))
	if len(segs) == 0 {
		t.Fatal("no segments")
	}
	data, _ := os.ReadFile(segs[0])
	data[len(data)/3] ^= 0x40
	os.WriteFile(segs[0], data, 0o644)
	r = runCLI(t, nil, "verify", dir).must(t, exitIntegrity)
	if !strings.Contains(r.stderr, filepath.Base(segs[0])) || !strings.Contains(r.stderr, "offset") || !strings.Contains(r.stderr, "seq") {
		t.Errorf("violation does not name file, offset and seq: %s", r.stderr)
	}
	json.Unmarshal([]byte(runCLI(t, nil, "verify", dir, "-o", "json").must(t, exitIntegrity).stdout), &vj)
	if vj.OK || vj.Violation == nil || !strings.Contains(vj.Violation.File, filepath.Base(segs[0])) {
		t.Errorf("json violation: %+v", vj)
	}
}

func TestParseDigest(t *testing.T) {
	h := strings.Repeat("0f", 32)
	good := []string{
		`{"ledger_id":"abc","seq":5,"hash":"` + h + `"}`,
		"ledger_id abc\nseq 5\nhash " + h + "\n",
		"\n seq 5 \r\nhash " + h,
	}
	for _, s := range good {
		d, err := parseDigest([]byte(s))
		if err != nil || d.Seq != 5 || d.HashHex != h || d.Hash[0] != 0x0f {
			t.Errorf("%q: %+v %v", s, d, err)
		}
	}
	bad := []string{"", "{}", `{"seq":5}`, "seq 5", "seq 5\nhash zz", "seq 5\nseq 6\nhash " + h, "seq -1\nhash " + h, "color blue\nseq 5\nhash " + h, "hash " + h[:10] + "\nseq 1"}
	for _, s := range bad {
		if _, err := parseDigest([]byte(s)); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestCompact(t *testing.T) {
	dir, _ := makeLedger(t, 3000, 11)
	exportBefore := runCLI(t, nil, "export", dir).must(t, exitOK).stdout
	digestBefore := runCLI(t, nil, "digest", dir).must(t, exitOK).stdout
	var st statJSON
	json.Unmarshal([]byte(runCLI(t, nil, "stat", dir, "-o", "json", "--no-counts").must(t, exitOK).stdout), &st)

	// Locked by another handle: exit 4, nothing changed.
	l, err := ledger.Open(dir, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	held := treeHash(t, dir)
	r := runCLI(t, nil, "compact", dir).must(t, exitLocked)
	if !strings.Contains(r.stderr, "in use") {
		t.Errorf("locked message: %s", r.stderr)
	}
	runCLI(t, nil, "repair", dir).must(t, exitLocked)
	sameTree(t, "locked compact", held, treeHash(t, dir))
	l.Close()

	var rep compactJSON
	r = runCLI(t, nil, "compact", dir, "-o", "json", "--level", "best").must(t, exitOK)
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.SegmentsBefore != st.Segments || rep.SegmentsAfter != 1 || rep.EventsRewritten != st.SealedEvents || rep.BytesAfter >= rep.BytesBefore {
		t.Fatalf("report %+v (before: %d segments, %d sealed events)", rep, st.Segments, st.SealedEvents)
	}
	if runCLI(t, nil, "export", dir).must(t, exitOK).stdout != exportBefore {
		t.Fatal("compaction changed the events")
	}
	if runCLI(t, nil, "digest", dir).must(t, exitOK).stdout != digestBefore {
		t.Fatal("compaction changed the head")
	}
	runCLI(t, nil, "verify", dir).must(t, exitOK)
	txt := runCLI(t, nil, "compact", dir, "--no-cluster").must(t, exitOK).stdout
	// The first compact's Close sealed the WAL tail into a segment of its
	// own; this run merges it with the compacted one.
	if !strings.Contains(txt, "segments: 2 (") || !strings.Contains(txt, "-> 1 (") {
		t.Errorf("text report: %s", txt)
	}
}

func TestCompactRetention(t *testing.T) {
	dir, evs := makeLedger(t, 3000, 12)
	var st statJSON
	json.Unmarshal([]byte(runCLI(t, nil, "stat", dir, "-o", "json", "--no-counts").must(t, exitOK).stdout), &st)
	if len(st.SegmentList) < 3 {
		t.Fatalf("want at least 3 segments, got %d", len(st.SegmentList))
	}
	bound := max(st.SegmentList[0].MaxTime, st.SegmentList[1].MaxTime) + "~" // after both
	r := runCLI(t, nil, "compact", dir, "--retain-after", bound).must(t, exitOK)
	if !strings.Contains(r.stdout, "retention: dropped") {
		t.Fatalf("retention report: %s", r.stdout)
	}
	var after statJSON
	json.Unmarshal([]byte(runCLI(t, nil, "stat", dir, "-o", "json", "--no-counts").must(t, exitOK).stdout), &after)
	if after.DroppedEvents == 0 || after.Events != 3000-after.DroppedEvents || after.FirstSeq != after.DroppedEvents+1 {
		t.Fatalf("after retention: %+v", after)
	}
	if runCLI(t, nil, "export", dir).must(t, exitOK).stdout != toJSONL(t, evs[after.DroppedEvents:]) {
		t.Fatal("retention kept other events than the tail")
	}
	runCLI(t, nil, "verify", dir).must(t, exitOK)
}

func TestRepair(t *testing.T) {
	dir, _ := makeLedger(t, 3000, 13)
	r := runCLI(t, nil, "repair", dir).must(t, exitOK)
	if !strings.Contains(r.stdout, "is sound") {
		t.Fatalf("clean repair: %s", r.stdout)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "seg", "*.seg"))
	if len(segs) < 2 {
		t.Fatal("want 2+ segments")
	}
	last := segs[len(segs)-1]
	data, _ := os.ReadFile(last)
	data[len(data)/2] ^= 0x01
	os.WriteFile(last, data, 0o644)
	runCLI(t, nil, "verify", dir).must(t, exitIntegrity)

	aside := filepath.Join(t.TempDir(), "aside")
	r = runCLI(t, nil, "repair", dir, "--aside", aside, "-o", "json").must(t, exitOK)
	var rep repairJSON
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	// Only the damaged block's events are lost (a block holds well under
	// 200 of these events), their seqs recorded as gaps, never reused. The
	// default seal layout is clustered, so one block holds seqs from all
	// over its segment: the lost seqs are several ranges, ascending and
	// apart, summing to LostEvents.
	if rep.Clean || rep.LostEvents == 0 || rep.LostEvents > 200 || rep.LostTo > 3000 || rep.LastSeq != 3000 ||
		len(rep.Damaged) == 0 || len(rep.Lost) == 0 || len(rep.Gaps) == 0 {
		t.Fatalf("repair report %+v", rep)
	}
	sum, prev := uint64(0), uint64(0)
	for _, r := range rep.Lost {
		if r.From <= prev || r.To < r.From || r.To > rep.LostTo {
			t.Fatalf("lost ranges not ascending and apart: %+v", rep.Lost)
		}
		sum, prev = sum+r.To-r.From+1, r.To+1
	}
	if sum != rep.LostEvents || rep.Lost[0].From != rep.Gaps[0].From {
		t.Fatalf("lost ranges sum to %d, LostEvents %d; first gap %+v", sum, rep.LostEvents, rep.Gaps[0])
	}
	if ents, err := os.ReadDir(aside); err != nil || len(ents) == 0 {
		t.Fatalf("nothing copied aside: %v", err)
	}
	v := runCLI(t, nil, "verify", dir).must(t, exitOK)
	if !strings.Contains(v.stdout, fmt.Sprintf("gap seq %d-", rep.Lost[0].From)) {
		t.Fatalf("verify does not show the gap: %s", v.stdout)
	}
	var st statJSON
	json.Unmarshal([]byte(runCLI(t, nil, "stat", dir, "-o", "json", "--no-counts").must(t, exitOK).stdout), &st)
	if st.LastSeq != rep.LastSeq || st.LostEvents != rep.LostEvents || st.Events != 3000-rep.LostEvents || len(st.Gaps) != len(rep.Gaps) {
		t.Fatalf("stat after repair %+v, report %+v", st, rep)
	}
	if n := strings.Count(runCLI(t, nil, "export", dir).must(t, exitOK).stdout, "\n"); uint64(n) != 3000-rep.LostEvents {
		t.Fatalf("export after repair: %d events", n)
	}
	txt := runCLI(t, nil, "stat", dir, "--no-counts").must(t, exitOK).stdout
	if !strings.Contains(txt, "repair gaps") || !strings.Contains(txt, "lost seqs:") {
		t.Fatalf("stat text does not show the gap: %s", txt)
	}
	// A digest of a seq inside the gap cannot be proven: exit 3, saying
	// what is proven.
	df := filepath.Join(t.TempDir(), "d.json")
	os.WriteFile(df, []byte(fmt.Sprintf(`{"seq": %d, "hash": "%s"}`, rep.Lost[0].From, strings.Repeat("0", 64))), 0o644)
	u := runCLI(t, nil, "verify", dir, "--digest", df).must(t, exitIntegrity)
	if !strings.Contains(u.stderr, "NOT PROVEN") || !strings.Contains(u.stderr, fmt.Sprintf("proven up to seq %d", rep.Lost[0].From-1)) {
		t.Fatalf("unprovable digest: %s", u.stderr)
	}
}

func TestTail(t *testing.T) {
	dir, evs := makeLedger(t, 1200, 14)
	if out := runCLI(t, nil, "tail", dir).must(t, exitOK).stdout; out != toJSONL(t, evs[1190:]) {
		t.Fatalf("tail: %d lines", strings.Count(out, "\n"))
	}
	if out := runCLI(t, nil, "tail", dir, "-n", "0").must(t, exitOK).stdout; out != "" {
		t.Fatal("tail -n 0 printed events")
	}
	kind := ledger.KindOutcomeRecorded
	var match []ledger.ExperienceEventEnvelope
	for _, e := range evs {
		if e.Event.Kind() == kind {
			match = append(match, e)
		}
	}
	if out := runCLI(t, nil, "tail", dir, "-n", "4", "--kind", string(kind)).must(t, exitOK).stdout; out != toJSONL(t, match[len(match)-4:]) {
		t.Fatal("filtered tail differs")
	}

	// Follow: new events appended by a writer holding the lock appear.
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"tail", dir, "-f", "-n", "2"}, strings.NewReader(""), &out, io.Discard)
	}()
	l, err := ledger.Open(dir, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	more := workload.New(workload.Config{Seed: 15}).Batch(30)
	for i := 0; i < 30; i += 10 {
		if err := l.AppendEvents(context.Background(), more[i:i+10]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(15 * time.Millisecond)
	}
	want := toJSONL(t, evs[1198:]) + toJSONL(t, more)
	deadline := time.Now().Add(10 * time.Second)
	for out.String() != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("tail -f exit %d", code)
	}
	l.Close()
	if got := out.String(); got != want {
		t.Fatalf("tail -f printed %d lines, want %d", strings.Count(got, "\n"), strings.Count(want, "\n"))
	}
}

func TestDemo(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	r := runCLI(t, nil, "demo", "--events", "5000").must(t, exitOK)
	for _, want := range []string{"5,000 Converge events", "write ", "fsyncs", "bytes/event", "tenant+kind", "time range", "trace link", "correlation", "get by id", "checksums, indexes and hash chain OK", "has been removed"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("demo left %d entries in TMPDIR", len(ents))
	}

	dir := filepath.Join(tmp, "kept")
	r = runCLI(t, nil, "demo", dir, "--events", "3000", "--writers", "3", "--batch", "250", "-o", "json").must(t, exitOK)
	var d demoJSON
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatal(err)
	}
	if d.Events != 3000 || d.Head.Seq != 3000 || d.WALBatches == 0 || d.WALBatches > 12 || d.Fsyncs == 0 || d.Fsyncs > 12 || len(d.Queries) != 5 || !d.Kept {
		t.Fatalf("demo json: %+v", d)
	}
	for _, q := range d.Queries[1:] {
		if q.Results == 0 {
			t.Errorf("query %s found nothing", q.Name)
		}
	}
	runCLI(t, nil, "verify", dir).must(t, exitOK)
	var st statJSON
	json.Unmarshal([]byte(runCLI(t, nil, "stat", dir, "-o", "json").must(t, exitOK).stdout), &st)
	if st.Events != 3000 || st.TailEvents != 0 {
		t.Fatalf("demo ledger: %+v", st)
	}
	// The demo ledger holds the workload's events (in some batch order).
	got := runCLI(t, nil, "get", dir, string(workload.New(workload.Config{Seed: 1}).Batch(42)[41].EventID), "-o", "json").must(t, exitOK)
	if got.stdout == "" {
		t.Fatal("event 42 of the workload is missing")
	}
	r = runCLI(t, nil, "demo", dir, "--events", "10").must(t, exitError)
	if !strings.Contains(r.stderr, "not empty") {
		t.Errorf("demo into a used dir: %s", r.stderr)
	}
}

// TestVerifyDigestAcrossCopies is the round trip of issue 16: a copy made
// by export and import holds the same events under another ledger id, so
// the original's digest verifies it (exit 0, the id difference a note);
// a changed, dropped or reordered event in the copy is a violation.
func TestVerifyDigestAcrossCopies(t *testing.T) {
	dir, evs := makeLedger(t, 1200, 21)
	tmp := t.TempDir()
	d1 := filepath.Join(tmp, "d1")
	os.WriteFile(d1, []byte(runCLI(t, nil, "digest", dir).must(t, exitOK).stdout), 0o644)
	d1j := filepath.Join(tmp, "d1.json")
	os.WriteFile(d1j, []byte(runCLI(t, nil, "digest", dir, "-o", "json").must(t, exitOK).stdout), 0o644)
	x := filepath.Join(tmp, "x.jsonl")
	runCLI(t, nil, "export", dir, "--out", x).must(t, exitOK)
	b := filepath.Join(tmp, "B")
	runCLI(t, nil, "import", b, x).must(t, exitOK)

	var origID string
	{
		var d ledger.Digest
		json.Unmarshal([]byte(runCLI(t, nil, "digest", dir, "-o", "json").must(t, exitOK).stdout), &d)
		origID = d.LedgerID
	}
	r := runCLI(t, nil, "verify", "--digest", d1, b).must(t, exitOK)
	if !strings.Contains(r.stdout, "still extends seq 1200") || !strings.Contains(r.stdout, "note: the digest was saved from ledger "+origID) {
		t.Errorf("verify of the copy: %s", r.stdout)
	}
	var vj verifyJSON
	r = runCLI(t, nil, "verify", "--digest", d1j, b, "-o", "json").must(t, exitOK)
	if err := json.Unmarshal([]byte(r.stdout), &vj); err != nil || !vj.OK || !strings.Contains(vj.Note, origID) || vj.DigestVerified == nil {
		t.Errorf("verify json of the copy: %v %s", err, r.stdout)
	}
	// The original itself: no note.
	if r := runCLI(t, nil, "verify", "--digest", d1, dir).must(t, exitOK); strings.Contains(r.stdout, "note:") {
		t.Errorf("note on the original: %s", r.stdout)
	}

	changed := append([]ledger.ExperienceEventEnvelope(nil), evs...)
	changed[500].EventID = "changed-" + changed[500].EventID
	reordered := append([]ledger.ExperienceEventEnvelope(nil), evs...)
	reordered[700], reordered[701] = reordered[701], reordered[700]
	cases := map[string][]ledger.ExperienceEventEnvelope{
		"changed":      changed,
		"dropped":      append(append([]ledger.ExperienceEventEnvelope(nil), evs[:300]...), evs[301:]...),
		"dropped-last": evs[:len(evs)-1],
		"reordered":    reordered,
	}
	for name, c := range cases {
		f := filepath.Join(tmp, name+".jsonl")
		os.WriteFile(f, []byte(toJSONL(t, c)), 0o644)
		cd := filepath.Join(tmp, name)
		runCLI(t, nil, "import", cd, f).must(t, exitOK)
		r := runCLI(t, nil, "verify", "--digest", d1, cd).must(t, exitIntegrity)
		if !strings.Contains(r.stderr, "integrity violation") {
			t.Errorf("%s: %s", name, r.stderr)
		}
	}
}
