package inspector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/exledger/exledger/ledger"
)

// Limits that keep a page's cost bounded whatever the ledger's size.
const (
	defaultPageSize = 50
	maxPageSize     = 500
	maxTimeline     = 2000 // events drawn on one timeline
	maxTraceRefs    = 200  // events listed as referencing a trace link
	maxSegmentRows  = 50   // newest segments listed on the overview
	summaryLen      = 160  // characters of an event's JSON shown in tables
)

var funcs = template.FuncMap{
	"bytes": humanBytes,
	"count": func(n any) string { return groupDigits(fmt.Sprint(n)) },
	"dur": func(d time.Duration) string {
		return d.Round(time.Millisecond).String()
	},
}

func (s *Server) parseTemplates() error {
	pages := []string{"overview", "query", "timeline", "trace", "event", "error"}
	s.tpl = map[string]*template.Template{}
	for _, p := range pages {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return err
		}
		s.tpl[p] = t
	}
	return nil
}

// httpError is an error with a status code for the error page.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// pageData is what the layout gets: the page's own data plus the title
// and the navigation state.
type pageData struct {
	Title   string
	Nav     string
	Dir     string
	LastSeq uint64
	Data    any
}

type handler func(r *http.Request, l *ledger.Ledger) (page, title string, data any, err error)

func (s *Server) page(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var (
			page, title string
			data        any
			last        uint64
		)
		err := s.current(func(l *ledger.Ledger) error {
			last = l.LastSeq()
			var err error
			page, title, data, err = h(r, l)
			return err
		})
		code := http.StatusOK
		if err != nil {
			code = http.StatusInternalServerError
			var he *httpError
			switch {
			case errors.As(err, &he):
				code = he.code
			case errors.Is(err, ledger.ErrInvalidQuery):
				code = http.StatusBadRequest
			case errors.Is(err, ledger.ErrNotFound):
				code = http.StatusNotFound
			}
			page, title, data = "error", "Error", err.Error()
		}
		var buf bytes.Buffer
		if terr := s.tpl[page].Execute(&buf, pageData{Title: title, Nav: page, Dir: s.dir, LastSeq: last, Data: data}); terr != nil {
			s.log.Error("inspector: template", "page", page, "err", terr)
			http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(code)
		w.Write(buf.Bytes())
	}
}

// ---- overview ----

type countRow struct {
	Name  string
	Count uint64
	Link  string
}

type overviewData struct {
	ID             string
	Stat           *ledger.Stat
	Head           ledger.Digest
	Tenants, Kinds []countRow
	TenantCount    int // tenants, not counting events without one
	Segments       []ledger.SegmentStat
	SegmentsHidden int
	Verify         verifyView
	Metrics        ledger.Metrics
}

type verifyView struct {
	Running, Done, OK bool
	Events            uint64
	Segments          int
	Head              string
	Err               string
	Took              time.Duration
	At                string
}

func (s *Server) overview(r *http.Request, l *ledger.Ledger) (string, string, any, error) {
	st, err := s.stat(r.Context(), l)
	if err != nil {
		return "", "", nil, err
	}
	head, err := l.Head()
	if err != nil {
		return "", "", nil, err
	}
	d := overviewData{ID: l.ID(), Stat: st, Head: head, Verify: s.verifyView(), Metrics: l.Metrics()}
	for name, n := range st.Tenants {
		row := countRow{Name: name, Count: n}
		if name == "" {
			row.Name = "(none)"
		} else {
			d.TenantCount++
			row.Link = "/query?" + url.Values{"tenant": {name}}.Encode()
		}
		d.Tenants = append(d.Tenants, row)
	}
	for name, n := range st.Kinds {
		d.Kinds = append(d.Kinds, countRow{Name: name, Count: n, Link: "/query?" + url.Values{"kind": {name}}.Encode()})
	}
	byCount := func(rows []countRow) {
		sort.Slice(rows, func(i, j int) bool {
			if rows[i].Count != rows[j].Count {
				return rows[i].Count > rows[j].Count
			}
			return rows[i].Name < rows[j].Name
		})
	}
	byCount(d.Tenants)
	byCount(d.Kinds)
	segs := st.Segments
	if len(segs) > maxSegmentRows {
		d.SegmentsHidden = len(segs) - maxSegmentRows
		segs = segs[len(segs)-maxSegmentRows:]
	}
	d.Segments = slices.Clone(segs)
	slices.Reverse(d.Segments)
	return "overview", "Overview", d, nil
}

func (s *Server) verifyView() verifyView {
	v := &s.verify
	v.mu.Lock()
	defer v.mu.Unlock()
	vv := verifyView{Running: v.running, Done: v.done, Events: v.events, Took: v.took}
	if v.done {
		vv.OK = v.err == nil
		vv.Segments = v.report.Segments
		vv.Head = fmt.Sprintf("seq %d %s", v.report.Head.Seq, v.report.Head.HashHex)
		vv.At = v.at.UTC().Format(time.RFC3339)
		if v.err != nil {
			vv.Err = v.err.Error()
		}
	}
	return vv
}

// startVerify runs Verify on its own read-only handle in the background
// (GET: it reads only) and sends the browser back to the overview.
func (s *Server) startVerify(w http.ResponseWriter, r *http.Request) {
	v := &s.verify
	v.mu.Lock()
	if !v.running {
		v.running, v.done, v.events = true, false, 0
		s.bg.Add(1)
		go s.runVerify()
	}
	v.mu.Unlock()
	http.Redirect(w, r, "/#verify", http.StatusSeeOther)
}

func (s *Server) runVerify() {
	defer s.bg.Done()
	start := time.Now()
	v := &s.verify
	var rep ledger.VerifyReport
	l, err := ledger.Open(s.dir, &ledger.Options{ReadOnly: true})
	if err == nil {
		rep, err = l.Verify(s.bgCtx, func(n uint64) {
			v.mu.Lock()
			v.events = n
			v.mu.Unlock()
		})
		l.Close()
	}
	v.mu.Lock()
	v.running, v.done, v.report, v.err, v.took, v.at = false, true, rep, err, time.Since(start), time.Now()
	v.events = rep.Events
	v.mu.Unlock()
}

func (s *Server) apiHead(w http.ResponseWriter, r *http.Request) {
	var out struct {
		LedgerID string `json:"ledger_id"`
		LastSeq  uint64 `json:"last_seq"`
	}
	s.current(func(l *ledger.Ledger) error {
		out.LedgerID, out.LastSeq = l.ID(), l.LastSeq()
		return nil
	})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(out)
}

// ---- query ----

type queryForm struct {
	Tenant, Correlation, Chain, From, To string
	Kinds                                []string
	PageSize                             int
}

type kindOption struct {
	Name     string
	Selected bool
}

type eventRow struct {
	Seq                                                   uint64
	Time, Kind, ID, Tenant, Correlation, Chain, TraceLink string
	Summary                                               string
	EventLink, CorrelationLink, ChainLink, TraceLinkLink  string
}

type queryData struct {
	Form      queryForm
	Kinds     []kindOption
	Ran       bool
	Results   []eventRow
	FromSeq   uint64
	Next      string
	First     string
	PageFirst uint64
	PageLast  uint64
}

// parseQuery reads the query page's form: the same filters as ledgerctl
// query (tenant, kind (repeatable), correlation, chain, from, to).
func parseQuery(v url.Values) (ledger.EventQuery, queryForm, error) {
	var q ledger.EventQuery
	f := queryForm{
		Tenant: v.Get("tenant"), Correlation: v.Get("correlation"), Chain: v.Get("chain"),
		From: v.Get("from"), To: v.Get("to"), PageSize: defaultPageSize,
	}
	if f.Tenant != "" {
		t := ledger.TenantID(f.Tenant)
		q.TenantID = &t
	}
	if f.Correlation != "" {
		c := ledger.CorrelationID(f.Correlation)
		q.CorrelationID = &c
	}
	if f.Chain != "" {
		c := ledger.ChainID(f.Chain)
		q.ChainID = &c
	}
	for _, k := range v["kind"] {
		if k == "" {
			continue
		}
		kind, ok := ledger.ParseKind(k)
		if !ok {
			return q, f, badRequest("unknown kind %q", k)
		}
		if !slices.Contains(q.Kinds, kind) {
			q.Kinds = append(q.Kinds, kind)
			f.Kinds = append(f.Kinds, k)
		}
	}
	if f.From != "" || f.To != "" {
		q.TimeRange = &ledger.TimeRange{}
		if f.From != "" {
			t := ledger.Timestamp(f.From)
			q.TimeRange.Start = &t
		}
		if f.To != "" {
			t := ledger.Timestamp(f.To)
			q.TimeRange.End = &t
		}
	}
	if ps := v.Get("n"); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > maxPageSize {
			return q, f, badRequest("page size must be 1 to %d", maxPageSize)
		}
		f.PageSize = n
	}
	if err := ledger.ValidateQuery(q); err != nil {
		return q, f, err
	}
	return q, f, nil
}

func (s *Server) query(r *http.Request, l *ledger.Ledger) (string, string, any, error) {
	v := r.URL.Query()
	q, f, err := parseQuery(v)
	d := queryData{Form: f}
	for _, k := range ledger.AllKinds {
		d.Kinds = append(d.Kinds, kindOption{Name: string(k), Selected: slices.Contains(f.Kinds, string(k))})
	}
	if err != nil {
		return "", "", nil, err
	}
	if len(v) == 0 {
		return "query", "Query", d, nil // the empty form
	}
	d.Ran = true
	from := uint64(1)
	if a := v.Get("after"); a != "" {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return "", "", nil, badRequest("after must be a sequence number")
		}
		from = n + 1
	}
	d.FromSeq = from
	last := l.LastSeq()
	for e, err := range l.ScanSeq(r.Context(), q, from) {
		if err != nil {
			return "", "", nil, err
		}
		if e.Seq > last {
			break
		}
		if len(d.Results) == f.PageSize {
			nv := cloneValues(v)
			nv.Set("after", strconv.FormatUint(d.PageLast, 10))
			d.Next = "/query?" + nv.Encode()
			break
		}
		d.Results = append(d.Results, rowOf(e.Seq, &e.Envelope))
		if d.PageFirst == 0 {
			d.PageFirst = e.Seq
		}
		d.PageLast = e.Seq
	}
	if from > 1 {
		nv := cloneValues(v)
		nv.Del("after")
		d.First = "/query?" + nv.Encode()
	}
	return "query", "Query", d, nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func rowOf(seq uint64, e *ledger.ExperienceEventEnvelope) eventRow {
	h := ledger.HeaderOf(e)
	row := eventRow{
		Seq: seq, Time: string(e.OccurredAt), Kind: string(h.Kind), ID: string(e.EventID),
		EventLink: "/event?" + url.Values{"id": {string(e.EventID)}}.Encode(),
	}
	if h.HasTenant {
		row.Tenant = string(h.TenantID)
	}
	if h.HasCorrelation {
		row.Correlation = string(h.CorrelationID)
		row.CorrelationLink = "/timeline?" + url.Values{"correlation": {row.Correlation}}.Encode()
	}
	if h.HasChain {
		row.Chain = string(h.ChainID)
		row.ChainLink = "/timeline?" + url.Values{"chain": {row.Chain}}.Encode()
	}
	if h.HasTraceLink {
		row.TraceLink = string(h.TraceLinkID)
		row.TraceLinkLink = "/trace?" + url.Values{"id": {row.TraceLink}}.Encode()
	}
	if b, err := json.Marshal(eventBody(e)); err == nil {
		row.Summary = truncate(string(b), summaryLen)
	}
	return row
}

// eventBody is the event's variant as Converge JSON (without the
// envelope), for the summary column.
func eventBody(e *ledger.ExperienceEventEnvelope) json.RawMessage {
	b, err := ledger.MarshalEnvelopeJSON(*e)
	if err != nil {
		return nil
	}
	var env struct {
		Event json.RawMessage `json:"event"`
	}
	if json.Unmarshal(b, &env) != nil || env.Event == nil {
		return b
	}
	return env.Event
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

func prettyJSON(e *ledger.ExperienceEventEnvelope) string {
	b, err := ledger.MarshalEnvelopeJSON(*e)
	if err != nil {
		return fmt.Sprintf("(cannot encode: %v)", err)
	}
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

// ---- timeline ----

type tlEvent struct {
	eventRow
	X    string // position on the axis, percent
	Lane int
	JSON string
}

type timelineData struct {
	By, ID     string
	Events     []tlEvent
	Count      int
	Truncated  bool
	Start, End string
	Kinds      []countRow
	Untimed    bool
}

func (s *Server) timeline(r *http.Request, l *ledger.Ledger) (string, string, any, error) {
	v := r.URL.Query()
	var q ledger.EventQuery
	d := timelineData{}
	switch {
	case v.Get("correlation") != "":
		c := ledger.CorrelationID(v.Get("correlation"))
		q.CorrelationID, d.By, d.ID = &c, "correlation", string(c)
	case v.Get("chain") != "":
		c := ledger.ChainID(v.Get("chain"))
		q.ChainID, d.By, d.ID = &c, "chain", string(c)
	default:
		return "timeline", "Timeline", d, nil // the empty form
	}
	if err := ledger.ValidateQuery(q); err != nil {
		return "", "", nil, err
	}
	limit := uint64(maxTimeline + 1)
	q.Limit = &limit
	evs, err := l.QueryEventsOrdered(r.Context(), q, ledger.OrderTime)
	if err != nil {
		return "", "", nil, err
	}
	if len(evs) > maxTimeline {
		evs, d.Truncated = evs[:maxTimeline], true
	}
	// Sequence numbers: the query gives envelopes only; a second pass in
	// log order maps ids to sequence numbers.
	seqs := map[ledger.EventID]uint64{}
	q.Limit = nil
	n := 0
	for e, err := range l.ScanSeq(r.Context(), q, 1) {
		if err != nil {
			return "", "", nil, err
		}
		seqs[e.Envelope.EventID] = e.Seq
		if n++; n > 4*maxTimeline {
			break
		}
	}
	times := make([]time.Time, len(evs))
	lo, hi := time.Time{}, time.Time{}
	for i := range evs {
		t, err := time.Parse(time.RFC3339Nano, string(evs[i].OccurredAt))
		if err != nil {
			d.Untimed = true
			break
		}
		times[i] = t
		if lo.IsZero() || t.Before(lo) {
			lo = t
		}
		if t.After(hi) {
			hi = t
		}
	}
	kinds := map[string]uint64{}
	var lastX []float64 // x of the events already placed, for lanes
	for i := range evs {
		e := &evs[i]
		x := 50.0
		switch {
		case d.Untimed || !hi.After(lo):
			if len(evs) > 1 {
				x = 100 * float64(i) / float64(len(evs)-1)
			}
		default:
			x = 100 * float64(times[i].Sub(lo)) / float64(hi.Sub(lo))
		}
		lane := 0
		for _, px := range lastX {
			if x-px < 1.2 {
				lane++
			}
		}
		lastX = append(lastX, x)
		if len(lastX) > 8 {
			lastX = lastX[1:]
		}
		d.Events = append(d.Events, tlEvent{eventRow: rowOf(seqs[e.EventID], e), X: strconv.FormatFloat(x, 'f', 2, 64), Lane: min(lane, 7), JSON: prettyJSON(e)})
		kinds[string(e.Kind())]++
	}
	d.Count = len(d.Events)
	if d.Count > 0 {
		d.Start, d.End = string(evs[0].OccurredAt), string(evs[len(evs)-1].OccurredAt)
	}
	for _, k := range ledger.AllKinds {
		if n := kinds[string(k)]; n > 0 {
			d.Kinds = append(d.Kinds, countRow{Name: string(k), Count: n})
		}
	}
	return "timeline", "Timeline of " + d.By + " " + d.ID, d, nil
}

// ---- trace link ----

type traceData struct {
	ID            string
	Asked         bool
	Found         bool
	TraceJSON     string
	Refs          []eventRow
	RefsScanned   bool
	RefsTruncated bool
	RefsLink      string
}

func (s *Server) trace(r *http.Request, l *ledger.Ledger) (string, string, any, error) {
	v := r.URL.Query()
	d := traceData{ID: v.Get("id")}
	if d.ID == "" {
		return "trace", "Trace link", d, nil
	}
	d.Asked = true
	tr, err := l.GetTraceLink(r.Context(), ledger.TraceLinkID(d.ID))
	if err != nil {
		return "", "", nil, err
	}
	if tr != nil {
		d.Found = true
		b, err := ledger.MarshalReplayTraceJSON(*tr)
		if err == nil {
			var out bytes.Buffer
			if json.Indent(&out, b, "", "  ") == nil {
				d.TraceJSON = out.String()
			} else {
				d.TraceJSON = string(b)
			}
		}
	}
	// Events that mention the trace link: no index serves this lookup
	// (EventQuery has no trace-link filter), so it is a scan of the
	// headers, run only on request.
	if v.Get("refs") == "1" {
		d.RefsScanned = true
		for rec, err := range l.ScanRaw(r.Context(), ledger.EventQuery{}, 1) {
			if err != nil {
				return "", "", nil, err
			}
			if !rec.Header.HasTraceLink || string(rec.Header.TraceLinkID) != d.ID {
				continue
			}
			if len(d.Refs) == maxTraceRefs {
				d.RefsTruncated = true
				break
			}
			env, err := ledger.UnmarshalCanonical(rec.Canonical)
			if err != nil {
				return "", "", nil, err
			}
			d.Refs = append(d.Refs, rowOf(rec.Seq, &env))
		}
	} else {
		d.RefsLink = "/trace?" + url.Values{"id": {d.ID}, "refs": {"1"}}.Encode()
	}
	return "trace", "Trace link " + d.ID, d, nil
}

// ---- one event ----

type eventData struct {
	Row  eventRow
	JSON string
}

func (s *Server) event(r *http.Request, l *ledger.Ledger) (string, string, any, error) {
	id := r.URL.Query().Get("id")
	if id == "" {
		return "", "", nil, badRequest("missing ?id=EVENT_ID")
	}
	e, err := l.Get(r.Context(), ledger.EventID(id))
	if err != nil {
		return "", "", nil, err
	}
	// The sequence number: Get does not return it; the event's own time
	// bounds a scan to the events with the same occurred_at.
	var seq uint64
	t := e.OccurredAt
	for x, err := range l.ScanSeq(r.Context(), ledger.EventQuery{TimeRange: &ledger.TimeRange{Start: &t, End: &t}}, 1) {
		if err != nil {
			break
		}
		if x.Envelope.EventID == e.EventID {
			seq = x.Seq
			break
		}
	}
	return "event", "Event " + id, eventData{Row: rowOf(seq, &e), JSON: prettyJSON(&e)}, nil
}

// ---- formatting ----

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func groupDigits(s string) string {
	if len(s) <= 3 || strings.ContainsAny(s, ".-e") {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}
