package inspector

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/exledger/exledger/ledger"
)

// findChromium returns the path of a Chromium or Chrome binary: the
// EXLEDGER_CHROMIUM variable, else the usual names on PATH.
func findChromium() string {
	if p := os.Getenv("EXLEDGER_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowser loads every page of the inspector in headless Chromium
// (driven by chromedp over the DevTools protocol) on a generated ledger
// and checks what a user sees: the overview's counts, the timeline's
// event count and click-to-JSON, that an XSS payload stays inert text,
// the query form's results, the trace-link view and /metrics. It saves
// screenshots to $EXLEDGER_SCREENSHOTS (docs/inspector/ when refreshing
// the documentation) or to a temporary directory.
func TestBrowser(t *testing.T) {
	bin := findChromium()
	if bin == "" {
		t.Skip("no Chromium found (install the Debian package chromium, or set EXLEDGER_CHROMIUM): browser test skipped")
	}
	shots := os.Getenv("EXLEDGER_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	f := sharedFixture(t)
	_, ts := serve(t, f.dir, nil)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 860),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancelC := chromedp.NewContext(actx)
	defer cancelC()
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelT()
	if err := chromedp.Do(ctx); err != nil {
		t.Skipf("Chromium at %s does not start (%v): browser test skipped", bin, err)
	}

	do := func(step string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	text := func(step string, sel chromedp.CSS) string {
		t.Helper()
		return value(t, ctx, step, chromedp.Text(sel))
	}
	count := func(step, css string) int {
		t.Helper()
		return value(t, ctx, step, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", css)))
	}
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.CaptureScreenshot()(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	// inert checks that no script from event data ran and that the DOM
	// holds no element made from it.
	inert := func(step string) {
		t.Helper()
		xss := value(t, ctx, step, chromedp.Evaluate[bool](`typeof window.__xss !== "undefined"`))
		scripts := value(t, ctx, step, chromedp.Evaluate[int](`document.scripts.length`))
		imgs := value(t, ctx, step, chromedp.Evaluate[int](`document.images.length`))
		if xss || scripts != 1 || imgs != 0 {
			t.Fatalf("%s: payload not inert: __xss set %v, %d scripts, %d images", step, xss, scripts, imgs)
		}
	}

	// Overview: counts.
	topKind, topKindN := "", 0
	for k, n := range f.countBy(kindOf) {
		if n > topKindN {
			topKind, topKindN = k, n
		}
	}
	do("overview", chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible(chromedp.ID("events")), shot("overview"))
	events := text("overview", "#events")
	segments := text("overview", "#segments")
	kindCount := text("overview", chromedp.CSS(fmt.Sprintf(`td[data-kind=%q]`, topKind)))
	if events != commas(len(f.events)) || segments != strconv.Itoa(f.segments) || kindCount != commas(topKindN) {
		t.Fatalf("overview shows %s events, %s segments, %s %s; want %d, %d, %d", events, segments, kindCount, topKind, len(f.events), f.segments, topKindN)
	}

	// Timeline of the tour correlation: one dot per event; clicking the
	// XSS event shows its JSON as text.
	xssIndex := -1
	for i, e := range tourOrder(f) {
		if e.EventID == f.xssID {
			xssIndex = i
		}
	}
	do("timeline",
		chromedp.Navigate(ts.URL+"/timeline?"+url.Values{"correlation": {tourCorrelation}}.Encode()),
		chromedp.WaitVisible(chromedp.CSS(`#timeline .ev`)),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#timeline .ev[data-target="json-%d"]`, xssIndex))),
		chromedp.WaitVisible(chromedp.ID("detail")),
		shot("timeline"),
	)
	dots := count("timeline", "#timeline .ev")
	countAttr := value(t, ctx, "timeline", chromedp.AttributeValue(chromedp.ID("tl-count"), "data-count")).Value
	detail := value(t, ctx, "timeline", chromedp.TextContent(chromedp.ID("detail-json")))
	if dots != tourEvents || countAttr != strconv.Itoa(tourEvents) {
		t.Fatalf("timeline: %d dots, data-count %s; want %d", dots, countAttr, tourEvents)
	}
	if !strings.Contains(detail, `<script>window.__xss=1</script>`) || !strings.Contains(detail, string(f.xssID)) {
		t.Fatalf("timeline detail does not show the event's JSON as text: %.200q", detail)
	}
	inert("timeline")

	// The event page and the chain timeline of the XSS event.
	do("event", chromedp.Navigate(ts.URL+"/event?"+url.Values{"id": {string(f.xssID)}}.Encode()), chromedp.WaitVisible(chromedp.ID("event-json")))
	if ej := value(t, ctx, "event", chromedp.TextContent(chromedp.ID("event-json"))); !strings.Contains(ej, `onerror=\"window.__xss=2\"`) {
		t.Fatalf("event JSON: %.300q", ej)
	}
	inert("event")
	do("chain timeline", chromedp.Navigate(ts.URL+"/timeline?"+url.Values{"chain": {xssChain}}.Encode()), chromedp.WaitVisible(chromedp.CSS(`#timeline .ev`)))
	if n := count("chain timeline", "#timeline .ev"); n != 1 {
		t.Fatalf("chain timeline: %d dots, want 1", n)
	}
	inert("chain timeline")

	// The query form: fill it in as a user would and submit.
	tenant, kind := "tenant-globex", string(ledger.KindOutcomeRecorded)
	want := 0
	for _, e := range f.events {
		if tenantOf(&e) == tenant && kindOf(&e) == kind {
			want++
		}
	}
	do("query form",
		chromedp.Navigate(ts.URL+"/query"),
		chromedp.WaitVisible(chromedp.ID("query-form")),
		chromedp.SendKeys(chromedp.CSS(`input[name="tenant"]`), tenant),
		chromedp.SetValue(chromedp.CSS(`select[name="kind"]`), kind),
		chromedp.SetValue(chromedp.CSS(`input[name="n"]`), "500"),
		chromedp.Click(chromedp.ID("query-submit")),
		chromedp.WaitVisible(chromedp.ID("results")),
		shot("query"),
	)
	rows := count("query form", "#results tr.result")
	info := text("query form", "#result-info")
	if rows != want || !strings.HasPrefix(info, strconv.Itoa(want)+" events on this page") {
		t.Fatalf("query form: %d rows (%q), want %d", rows, info, want)
	}

	// The trace-link view.
	refs := 0
	for _, e := range f.events {
		if id, ok := ledger.TraceLinkIDOf(e.Event); ok && id == f.traceID {
			refs++
		}
	}
	do("trace",
		chromedp.Navigate(ts.URL+"/trace?"+url.Values{"id": {string(f.traceID)}}.Encode()),
		chromedp.WaitVisible(chromedp.ID("refs-link")),
		chromedp.Click(chromedp.ID("refs-link")),
		chromedp.WaitVisible(chromedp.ID("refs")),
		shot("trace"),
	)
	traceJSON := value(t, ctx, "trace", chromedp.TextContent(chromedp.ID("trace-json")))
	refsCount := text("trace", "#refs-count")
	if !strings.Contains(traceJSON, `"type"`) || refsCount != strconv.Itoa(refs) {
		t.Fatalf("trace view: %d bytes of trace JSON, %s referencing events (want %d)", len(traceJSON), refsCount, refs)
	}

	// /metrics as the browser sees it.
	do("metrics", chromedp.Navigate(ts.URL+"/metrics"))
	if m := value(t, ctx, "metrics", chromedp.TextContent(chromedp.CSS("body"))); !strings.Contains(m, "exledger_segments "+strconv.Itoa(f.segments)) {
		t.Fatalf("/metrics in the browser: %.200q", m)
	}
	t.Logf("screenshots in %s", shots)
}

// value runs one action that returns a value.
func value[T any](t *testing.T, ctx context.Context, step string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	return v
}

// tourOrder returns the tour correlation's events in timeline order
// (occurred_at, then log order).
func tourOrder(f *fixture) []ledger.ExperienceEventEnvelope {
	var out []ledger.ExperienceEventEnvelope
	for _, e := range f.events {
		if e.CorrelationID != nil && *e.CorrelationID == tourCorrelation {
			out = append(out, e)
		}
	}
	return out // the fixture's tour times increase with log order
}
