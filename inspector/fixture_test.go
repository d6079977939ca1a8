package inspector

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

// xssPayload is event data that would run script if it were rendered as
// markup anywhere.
const xssPayload = `</pre><script>window.__xss=1</script><img src=x onerror="window.__xss=2">"'&`

// The tour correlation: tourEvents events spread over ~20 minutes, one of
// which carries xssPayload in its payload and in its chain id.
const (
	tourCorrelation = "corr-tour"
	tourEvents      = 12
	xssChain        = `chain <script>window.__xss=3</script>`
)

type fixture struct {
	dir      string
	events   []ledger.ExperienceEventEnvelope // in log order
	xssID    ledger.EventID
	traceID  ledger.TraceLinkID // a recorded trace link
	segments int
}

// makeFixture writes a realistic ledger: 3000 workload events in several
// sealed segments plus a WAL tail, and the tour correlation.
func makeFixture(t testing.TB) *fixture { return makeFixtureIn(t, t.TempDir()) }

func makeFixtureIn(t testing.TB, dir string) *fixture {
	t.Helper()
	f := &fixture{dir: dir}
	l, err := ledger.Open(f.dir, &ledger.Options{Sync: ledger.SyncNever, SegmentBytes: 200 << 10, KeepTailOnClose: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g := workload.New(workload.Config{Seed: 5, OutlierRate: -1})
	appendAll := func(es []ledger.ExperienceEventEnvelope) {
		for i := 0; i < len(es); i += 100 {
			b := es[i:min(i+100, len(es))]
			if err := l.AppendEvents(ctx, b); err != nil {
				t.Fatal(err)
			}
			f.events = append(f.events, b...)
		}
	}
	appendAll(g.Batch(2500))
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	var tour []ledger.ExperienceEventEnvelope
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for len(tour) < tourEvents {
		e := g.Next()
		if len(tour) == 4 {
			pc, ok := e.Event.(*ledger.ProposalCreated)
			if !ok {
				continue
			}
			pc.Proposal.Payload = xssPayload
			pc.ChainID = xssChain
			f.xssID = e.EventID
		}
		c := ledger.CorrelationID(tourCorrelation)
		e.CorrelationID = &c
		e.OccurredAt = ledger.Timestamp(base.Add(time.Duration(len(tour)*len(tour)) * 9 * time.Second).Format(time.RFC3339))
		tour = append(tour, e)
	}
	appendAll(tour)
	appendAll(g.Batch(488)) // the WAL tail
	for _, e := range f.events {
		if rt, ok := e.Event.(*ledger.ReplayTraceRecorded); ok {
			f.traceID = rt.TraceLinkID
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := ledger.Open(f.dir, &ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	f.segments = ro.Metrics().Segments
	ro.Close()
	if f.segments < 3 {
		t.Fatalf("fixture has %d segments", f.segments)
	}
	return f
}

var (
	sharedOnce sync.Once
	shared     *fixture
	sharedDir  string
)

// sharedFixture is one fixture for the tests that only read it.
func sharedFixture(t testing.TB) *fixture {
	sharedOnce.Do(func() {
		d, err := os.MkdirTemp("", "inspector-test")
		if err != nil {
			t.Fatal(err)
		}
		sharedDir = d
		shared = makeFixtureIn(t, d)
	})
	if shared == nil {
		t.Fatal("shared fixture failed")
	}
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

// serve starts the inspector of dir on a loopback test server.
func serve(t testing.TB, dir string, o *Options) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	return s, ts
}

func (f *fixture) countBy(key func(e *ledger.ExperienceEventEnvelope) string) map[string]int {
	m := map[string]int{}
	for i := range f.events {
		m[key(&f.events[i])]++
	}
	return m
}

func tenantOf(e *ledger.ExperienceEventEnvelope) string {
	if e.TenantID == nil {
		return "(none)"
	}
	return string(*e.TenantID)
}

func kindOf(e *ledger.ExperienceEventEnvelope) string { return string(e.Event.Kind()) }

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func commas(n int) string { return groupDigits(fmt.Sprint(n)) }
