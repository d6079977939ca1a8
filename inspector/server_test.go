package inspector

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

func TestOverviewCounts(t *testing.T) {
	f := sharedFixture(t)
	_, ts := serve(t, f.dir, nil)
	code, body := get(t, ts.URL+"/")
	if code != 200 {
		t.Fatalf("overview: %d", code)
	}
	if !strings.Contains(body, `id="events">`+commas(len(f.events))+`<`) {
		t.Errorf("overview does not show %d events", len(f.events))
	}
	if !strings.Contains(body, `id="segments">`+strconv.Itoa(f.segments)+`<`) {
		t.Errorf("overview does not show %d segments", f.segments)
	}
	for kind, n := range f.countBy(kindOf) {
		if !strings.Contains(body, `data-kind="`+kind+`">`+commas(n)+`<`) {
			t.Errorf("kind %s: count %d not shown", kind, n)
		}
	}
	for tenant, n := range f.countBy(tenantOf) {
		if !strings.Contains(body, `data-tenant="`+tenant+`">`+commas(n)+`<`) {
			t.Errorf("tenant %s: count %d not shown", tenant, n)
		}
	}
}

// TestEventDataEscaped: the XSS payload appears only escaped, on every
// page that shows it.
func TestEventDataEscaped(t *testing.T) {
	f := sharedFixture(t)
	_, ts := serve(t, f.dir, nil)
	pages := []string{
		"/timeline?" + url.Values{"correlation": {tourCorrelation}}.Encode(),
		"/timeline?" + url.Values{"chain": {xssChain}}.Encode(),
		"/event?" + url.Values{"id": {string(f.xssID)}}.Encode(),
	}
	for _, p := range pages {
		code, body := get(t, ts.URL+p)
		if code != 200 {
			t.Fatalf("%s: %d", p, code)
		}
		for _, raw := range []string{"<script>window", "<img", "onerror=\"", "</pre><script"} {
			if strings.Contains(body, raw) {
				t.Errorf("%s: raw %q in the HTML", p, raw)
			}
		}
		if !strings.Contains(body, "&lt;script&gt;window.__xss=") {
			t.Errorf("%s: the payload is not shown (escaped)", p)
		}
		// The only script is the server's own file.
		if n := len(regexp.MustCompile(`<script`).FindAllString(body, -1)); n != 1 {
			t.Errorf("%s: %d <script elements, want 1", p, n)
		}
	}
}

func TestSecurityHeadersMethodsAndHosts(t *testing.T) {
	f := sharedFixture(t)
	_, ts := serve(t, f.dir, nil)
	resp, err := http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	for _, path := range []string{"/", "/query", "/timeline", "/trace", "/event", "/metrics", "/verify", "/api/head", "/static/app.js"} {
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			req, _ := http.NewRequest(m, ts.URL+path, strings.NewReader("x=1"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", m, path, resp.StatusCode)
			}
		}
	}
	cases := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:7070", true}, {"localhost:7070", true}, {"[::1]:7070", true}, {"localhost", true},
		{"evil.example", false}, {"evil.example:7070", false}, {"10.1.2.3:7070", false}, {"127.0.0.1.evil.example", false},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/head", nil)
		req.Host = c.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if (resp.StatusCode == 200) != c.ok {
			t.Errorf("Host %q: %d", c.host, resp.StatusCode)
		}
	}
}

func TestBadInput(t *testing.T) {
	f := sharedFixture(t)
	_, ts := serve(t, f.dir, nil)
	cases := []struct {
		path string
		code int
	}{
		{"/query?kind=NoSuchKind", 400},
		{"/query?tenant=t&n=0", 400},
		{"/query?tenant=t&n=100000", 400},
		{"/query?tenant=t&after=x", 400},
		{"/event?id=no-such-event", 404},
		{"/event", 400},
		{"/nope", 404},
	}
	for _, c := range cases {
		if code, _ := get(t, ts.URL+c.path); code != c.code {
			t.Errorf("%s: %d, want %d", c.path, code, c.code)
		}
	}
}

// TestQueryPagination follows the next-page links and gets exactly the
// events QueryEvents returns, in order.
func TestQueryPagination(t *testing.T) {
	f := sharedFixture(t)
	_, ts := serve(t, f.dir, nil)
	tenant := "tenant-globex"
	kinds := []string{string(ledger.KindProposalCreated), string(ledger.KindOutcomeRecorded)}
	var want []string
	for _, e := range f.events {
		if tenantOf(&e) == tenant && (kindOf(&e) == kinds[0] || kindOf(&e) == kinds[1]) {
			want = append(want, string(e.EventID))
		}
	}
	if len(want) < 20 {
		t.Fatalf("fixture has only %d matching events", len(want))
	}
	link := "/query?" + url.Values{"tenant": {tenant}, "kind": kinds, "n": {"7"}}.Encode()
	idRe := regexp.MustCompile(`<a href="/event\?id=[^"]*">([^<]*)</a>`)
	nextRe := regexp.MustCompile(`<a href="([^"]*)" id="next-page">`)
	var got []string
	for pages := 0; link != ""; pages++ {
		if pages > 100 {
			t.Fatal("too many pages")
		}
		code, body := get(t, ts.URL+link)
		if code != 200 {
			t.Fatalf("%s: %d", link, code)
		}
		for _, m := range idRe.FindAllStringSubmatch(body, -1) {
			got = append(got, m[1])
		}
		link = ""
		if m := nextRe.FindStringSubmatch(body); m != nil {
			link = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("paginated results: %d events, want %d", len(got), len(want))
	}
}

// TestMetricsScrapeAndLint scrapes /metrics and lints it as promtool
// check metrics would.
func TestMetricsScrapeAndLint(t *testing.T) {
	f := sharedFixture(t)
	_, ts := serve(t, f.dir, nil)
	get(t, ts.URL+"/query?tenant=tenant-acme") // some query work
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content type %q", ct)
	}
	problems, err := promlint.New(resp.Body).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	_, body := get(t, ts.URL+"/metrics")
	for _, want := range []string{
		"exledger_segments " + strconv.Itoa(f.segments) + "\n",
		"exledger_last_sequence " + strconv.Itoa(len(f.events)) + "\n",
		`exledger_query_duration_seconds_count{plan="index"} 1` + "\n",
		"# TYPE exledger_append_duration_seconds histogram\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestRefreshBesideWriter: the inspector shows events a writer appends
// after it started.
func TestRefreshBesideWriter(t *testing.T) {
	f := makeFixture(t) // written to: not the shared one
	_, ts := serve(t, f.dir, &Options{RefreshInterval: time.Millisecond})
	l, err := ledger.Open(f.dir, &ledger.Options{Sync: ledger.SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	more := workload.New(workload.Config{Seed: 99, OutlierRate: -1}).Batch(40)
	if err := l.AppendEvents(context.Background(), more); err != nil {
		t.Fatal(err)
	}
	want := uint64(len(f.events) + len(more))
	var head struct {
		LastSeq uint64 `json:"last_seq"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for head.LastSeq != want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		_, body := get(t, ts.URL+"/api/head")
		if err := json.Unmarshal([]byte(body), &head); err != nil {
			t.Fatal(err)
		}
	}
	if head.LastSeq != want {
		t.Fatalf("last seq %d, want %d", head.LastSeq, want)
	}
	_, body := get(t, ts.URL+"/")
	if !strings.Contains(body, `id="events">`+commas(int(want))+`<`) {
		t.Error("overview not refreshed")
	}
	// The new events are queryable.
	_, body = get(t, ts.URL+"/event?"+url.Values{"id": {string(more[39].EventID)}}.Encode())
	if !strings.Contains(body, string(more[39].EventID)) {
		t.Error("new event not found")
	}
}

func TestTraceAndVerify(t *testing.T) {
	f := sharedFixture(t)
	_, ts := serve(t, f.dir, nil)
	if f.traceID == "" {
		t.Fatal("fixture has no trace link")
	}
	refs := 0
	for _, e := range f.events {
		if id, ok := ledger.TraceLinkIDOf(e.Event); ok && id == f.traceID {
			refs++
		}
	}
	code, body := get(t, ts.URL+"/trace?"+url.Values{"id": {string(f.traceID)}, "refs": {"1"}}.Encode())
	if code != 200 || !strings.Contains(body, `id="trace-json"`) || !strings.Contains(body, `<span id="refs-count">`+strconv.Itoa(refs)+`</span>`) {
		t.Fatalf("trace page: %d, want the trace and %d referencing events", code, refs)
	}
	// Verify runs in the background; the overview shows the outcome.
	if code, _ := get(t, ts.URL+"/verify"); code != 200 {
		t.Fatalf("verify: %d", code)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_, body := get(t, ts.URL+"/")
		if strings.Contains(body, `id="verify-status">OK<`) {
			return
		}
		if strings.Contains(body, "FAILED") {
			t.Fatal("verify failed on a clean ledger")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("verify did not finish")
}
