package ledgerparquet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgerparquet"
)

// memSink collects the files of a partitioned export in memory.
type memSink struct {
	files  map[string]*memFile
	order  []string
	failAt int // Create fails on this call (1-based); 0 = never
	calls  int
}

type memFile struct {
	bytes.Buffer
	closed int
}

func (f *memFile) Close() error { f.closed++; return nil }

func (s *memSink) create(path string) (io.WriteCloser, error) {
	s.calls++
	if s.calls == s.failAt {
		return nil, errors.New("no space for " + path)
	}
	if s.files == nil {
		s.files = map[string]*memFile{}
	}
	if s.files[path] != nil {
		return nil, fmt.Errorf("%s created twice", path)
	}
	f := new(memFile)
	s.files[path] = f
	s.order = append(s.order, path)
	return f, nil
}

var partPath = regexp.MustCompile(`^(tenant_id|date)=([^/]+)/part-([0-9]+)\.parquet$`)

// wantPartition computes an event's partition value independently of the
// exporter (nil = the default partition).
func wantPartition(t *testing.T, by ledgerparquet.Partition, env *ledger.ExperienceEventEnvelope) *string {
	if by == ledgerparquet.ByTenant {
		return (*string)(env.TenantID)
	}
	ts, err := time.Parse(time.RFC3339Nano, string(env.OccurredAt))
	if err != nil {
		return nil
	}
	d := ts.UTC().Format("2006-01-02")
	return &d
}

// TestExportPartitioned: every file's rows are exactly the ledger's events
// of its partition, in log order, each event in exactly one file, with
// the directory value decoding (as engines do) to the partition value;
// with one open file allowed, a partition spreads over several part
// files in log order.
func TestExportPartitioned(t *testing.T) {
	l, envs := newLedger(t, 1500)
	for _, by := range []ledgerparquet.Partition{ledgerparquet.ByTenant, ledgerparquet.ByDate} {
		// One open file by date: the edge events at the end go back to
		// earlier dates, which then get a second part file. (By tenant,
		// whose values interleave, a small cap would give a file every
		// few events.)
		for _, maxOpen := range []int{0, 1} {
			if by == ledgerparquet.ByTenant && maxOpen == 1 {
				continue
			}
			t.Run(fmt.Sprintf("by%d-open%d", by, maxOpen), func(t *testing.T) {
				var s memSink
				n, err := ledgerparquet.ExportPartitioned(context.Background(), l, ledger.EventQuery{}, by, s.create,
					ledgerparquet.Options{MaxOpenPartitions: maxOpen, RowGroupRows: 700})
				if err != nil || n != uint64(len(envs)) {
					t.Fatalf("n=%d err=%v", n, err)
				}
				seen := make([]int, len(envs)+1)
				parts := map[string][]int{} // dir -> part numbers
				multiPart := false
				lastSeq := map[string]int64{} // dir -> last seq of its previous parts
				sort.Slice(s.order, func(i, j int) bool {
					a, b := partPath.FindStringSubmatch(s.order[i]), partPath.FindStringSubmatch(s.order[j])
					if a[2] != b[2] {
						return a[2] < b[2]
					}
					x, _ := strconv.Atoi(a[3])
					y, _ := strconv.Atoi(b[3])
					return x < y
				})
				for _, path := range s.order {
					f := s.files[path]
					if f.closed != 1 {
						t.Fatalf("%s closed %d times", path, f.closed)
					}
					m := partPath.FindStringSubmatch(path)
					if m == nil {
						t.Fatalf("file %q", path)
					}
					if (by == ledgerparquet.ByTenant) != (m[1] == "tenant_id") {
						t.Fatalf("file %q for partition %d", path, by)
					}
					var value *string
					if m[2] != ledgerparquet.HiveDefaultPartition {
						v, err := url.PathUnescape(m[2])
						if err != nil {
							t.Fatalf("%s: %v", path, err)
						}
						value = &v
					}
					part, _ := strconv.Atoi(m[3])
					dir := m[1] + "=" + m[2]
					if part != len(parts[dir]) {
						t.Fatalf("%s: parts of %s so far %v", path, dir, parts[dir])
					}
					parts[dir] = append(parts[dir], part)
					multiPart = multiPart || part > 0
					rows := readRows(t, f.Bytes())
					if len(rows) == 0 {
						t.Fatalf("%s is empty", path)
					}
					for _, r := range rows {
						if r.Seq <= lastSeq[dir] {
							t.Fatalf("%s: seq %d after %d", path, r.Seq, lastSeq[dir])
						}
						lastSeq[dir] = r.Seq
						if r.Seq < 1 || int(r.Seq) > len(envs) {
							t.Fatalf("%s: seq %d", path, r.Seq)
						}
						seen[r.Seq]++
						env := &envs[r.Seq-1]
						if want := expectedRow(t, int(r.Seq), env); !rowsEqual(r, want) {
							t.Fatalf("%s: row %d:\n got %s\nwant %s", path, r.Seq, dump(r), dump(want))
						}
						if w := wantPartition(t, by, env); (w == nil) != (value == nil) || w != nil && *w != *value {
							t.Fatalf("%s holds seq %d of partition %v", path, r.Seq, w)
						}
					}
				}
				for seq := 1; seq <= len(envs); seq++ {
					if seen[seq] != 1 {
						t.Fatalf("seq %d is in %d files", seq, seen[seq])
					}
				}
				if len(parts) < 3 {
					t.Fatalf("only partitions %v", parts)
				}
				if _, ok := parts[by.String()+"="+ledgerparquet.HiveDefaultPartition]; !ok {
					t.Errorf("no default partition among %v", parts)
				}
				if maxOpen == 1 && !multiPart {
					t.Errorf("1 open file and no partition with several parts: %v", parts)
				}
				if maxOpen == 0 && multiPart {
					t.Errorf("32 open files and a partition with several parts: %v", parts)
				}
				// Deterministic: the same export again gives the same files.
				var s2 memSink
				if _, err := ledgerparquet.ExportPartitioned(context.Background(), l, ledger.EventQuery{}, by, s2.create,
					ledgerparquet.Options{MaxOpenPartitions: maxOpen, RowGroupRows: 700}); err != nil {
					t.Fatal(err)
				}
				if len(s2.files) != len(s.files) {
					t.Fatalf("%d files, then %d", len(s.files), len(s2.files))
				}
				for p, f := range s.files {
					if g := s2.files[p]; g == nil || !bytes.Equal(g.Bytes(), f.Bytes()) {
						t.Fatalf("%s differs between two exports", p)
					}
				}
			})
		}
	}
}

// TestExportPartitionedFiltered: the query's filters apply; a tenant
// filter gives one partition.
func TestExportPartitionedFiltered(t *testing.T) {
	l, envs := newLedger(t, 2000)
	tenant := *envs[0].TenantID
	var s memSink
	n, err := ledgerparquet.ExportPartitioned(context.Background(), l, ledger.EventQuery{TenantID: &tenant}, ledgerparquet.ByTenant, s.create, ledgerparquet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, e := range envs {
		if e.TenantID != nil && *e.TenantID == tenant {
			want++
		}
	}
	path := "tenant_id=" + string(tenant) + "/part-0.parquet"
	if n != uint64(want) || len(s.files) != 1 || s.files[path] == nil || len(readRows(t, s.files[path].Bytes())) != want {
		t.Fatalf("n=%d want %d, files %v", n, want, s.order)
	}
}

// TestExportPartitionedErrors: a failing Create or file is reported and
// every file created is closed; bad partitions and cancellation are
// errors.
func TestExportPartitionedErrors(t *testing.T) {
	l, _ := newLedger(t, 2000)
	s := memSink{failAt: 3}
	if _, err := ledgerparquet.ExportPartitioned(context.Background(), l, ledger.EventQuery{}, ledgerparquet.ByTenant, s.create, ledgerparquet.Options{}); err == nil || !strings.Contains(err.Error(), "no space") {
		t.Fatalf("err = %v", err)
	}
	for p, f := range s.files {
		if f.closed != 1 {
			t.Errorf("%s closed %d times", p, f.closed)
		}
	}
	boom := errors.New("disk full")
	_, err := ledgerparquet.ExportPartitioned(context.Background(), l, ledger.EventQuery{}, ledgerparquet.ByDate,
		func(string) (io.WriteCloser, error) { return failWriteCloser{failWriter{boom}}, nil }, ledgerparquet.Options{})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if _, err := ledgerparquet.ExportPartitioned(context.Background(), l, ledger.EventQuery{}, 0, s.create, ledgerparquet.Options{}); !errors.Is(err, ledgerparquet.ErrPartition) {
		t.Fatalf("partition 0: %v", err)
	}
	if _, err := ledgerparquet.ParsePartition("month"); !errors.Is(err, ledgerparquet.ErrPartition) {
		t.Fatalf("ParsePartition(month): %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var s2 memSink
	if _, err := ledgerparquet.ExportPartitioned(ctx, l, ledger.EventQuery{}, ledgerparquet.ByDate, s2.create, ledgerparquet.Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

type failWriteCloser struct{ failWriter }

func (failWriteCloser) Close() error { return nil }

// TestExportPartitionedLongTenant: a tenant id too long for a directory
// name is a clear error, not a failed file system call.
func TestExportPartitionedLongTenant(t *testing.T) {
	l, err := ledger.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	long := ledger.TenantID(strings.Repeat("t", ledger.MaxIDLen))
	if err := l.AppendEvents(context.Background(), []ledger.ExperienceEventEnvelope{{EventID: "e1", OccurredAt: "2026-01-01T00:00:00Z", TenantID: &long,
		Event: &ledger.HypothesisResolved{ChainID: "c", Claim: "x", Outcome: ledger.HypothesisConfirmed}}}); err != nil {
		t.Fatal(err)
	}
	var s memSink
	if _, err := ledgerparquet.ExportPartitioned(context.Background(), l, ledger.EventQuery{}, ledgerparquet.ByTenant, s.create, ledgerparquet.Options{}); !errors.Is(err, ledgerparquet.ErrPartition) {
		t.Fatalf("err = %v", err)
	}
	if _, err := ledgerparquet.ExportPartitioned(context.Background(), l, ledger.EventQuery{}, ledgerparquet.ByDate, s.create, ledgerparquet.Options{}); err != nil {
		t.Fatalf("by date: %v", err)
	}
	if !slices.Equal(s.order, []string{"date=2026-01-01/part-0.parquet"}) {
		t.Fatalf("files %v", s.order)
	}
}
