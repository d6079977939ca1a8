package inspector

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgerprom"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure a Server. The zero value is usable.
type Options struct {
	// RefreshInterval is how often, at most, the server checks whether
	// the ledger grew before a request. 0 = 500 ms.
	RefreshInterval time.Duration
	// AllowAnyHost accepts any Host header. By default only loopback
	// names and addresses are accepted (see the package doc).
	AllowAnyHost bool
	// Logger receives refresh and error messages. nil discards them.
	Logger *slog.Logger
}

// Server serves the inspector of one ledger directory.
type Server struct {
	dir  string
	opts Options
	log  *slog.Logger
	tpl  map[string]*template.Template
	mux  *http.ServeMux
	reg  *prometheus.Registry

	mu        sync.RWMutex // guards l and sig; readers hold RLock during a request
	l         *ledger.Ledger
	sig       string
	checked   time.Time
	reopenMu  sync.Mutex
	statCache statCache

	verify verifyState
	// bg runs background work (verify); Close cancels and waits for it.
	bg       sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc
}

type statCache struct {
	mu   sync.Mutex
	seq  uint64
	id   string
	stat *ledger.Stat
}

type verifyState struct {
	mu      sync.Mutex
	running bool
	done    bool
	events  uint64
	report  ledger.VerifyReport
	err     error
	took    time.Duration
	at      time.Time
}

// New opens the ledger in dir read-only and returns its inspector.
func New(dir string, o *Options) (*Server, error) {
	s := &Server{dir: dir}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	if o != nil {
		s.opts = *o
	}
	if s.opts.RefreshInterval <= 0 {
		s.opts.RefreshInterval = 500 * time.Millisecond
	}
	s.log = s.opts.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	l, err := ledger.Open(dir, &ledger.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	s.l, s.sig, s.checked = l, s.signature(), time.Now()
	if err := s.parseTemplates(); err != nil {
		l.Close()
		return nil, err
	}
	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(ledgerprom.NewCollector(ledgerprom.SourceFunc(func() ledger.Metrics {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return s.l.Metrics()
	})))
	s.routes()
	return s, nil
}

// Close stops background work and closes the ledger handle.
func (s *Server) Close() error {
	s.bgCancel()
	s.bg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.l.Close()
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	sub, _ := fs.Sub(staticFS, "static")
	s.mux.Handle("/static/", http.StripPrefix("/static/", http.FileServerFS(sub)))
	s.mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("/{$}", s.page(s.overview))
	s.mux.HandleFunc("/query", s.page(s.query))
	s.mux.HandleFunc("/timeline", s.page(s.timeline))
	s.mux.HandleFunc("/trace", s.page(s.trace))
	s.mux.HandleFunc("/event", s.page(s.event))
	s.mux.HandleFunc("/verify", s.startVerify)
	s.mux.HandleFunc("/api/head", s.apiHead)
}

// serveHTTP applies the security policy, refreshes the ledger and routes.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "the inspector is read-only: only GET and HEAD are served", http.StatusMethodNotAllowed)
		return
	}
	if !s.opts.AllowAnyHost && !loopbackHost(r.Host) {
		http.Error(w, "host not allowed (the inspector answers loopback names only; see --allow-remote)", http.StatusMisdirectedRequest)
		return
	}
	s.refresh()
	s.mux.ServeHTTP(w, r)
}

// loopbackHost reports whether a Host header names the local machine.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// signature summarises what changes when the ledger grows: the manifest
// and every WAL file (frames overwrite a pre-allocated file, so its size
// may not change but its modification time does).
func (s *Server) signature() string {
	var b strings.Builder
	add := func(p string) {
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", filepath.Base(p), fi.Size(), fi.ModTime().UnixNano())
		}
	}
	add(filepath.Join(s.dir, "MANIFEST"))
	ents, _ := os.ReadDir(filepath.Join(s.dir, "wal"))
	for _, e := range ents {
		add(filepath.Join(s.dir, "wal", e.Name()))
	}
	return b.String()
}

// refresh reopens the ledger if its files changed since the last check.
func (s *Server) refresh() {
	s.reopenMu.Lock()
	defer s.reopenMu.Unlock()
	if time.Since(s.checked) < s.opts.RefreshInterval {
		return
	}
	s.checked = time.Now()
	sig := s.signature()
	if sig == s.sig {
		return
	}
	l, err := ledger.Open(s.dir, &ledger.Options{ReadOnly: true})
	if err != nil {
		// A reopen can race with a seal or a compaction switching
		// files; keep serving the previous snapshot and retry later.
		s.log.Warn("inspector: reopen failed; serving the previous snapshot", "err", err)
		return
	}
	s.mu.Lock()
	old := s.l
	s.l, s.sig = l, sig
	s.mu.Unlock()
	old.Close() // requests in flight held RLock: none uses it now
	s.log.Debug("inspector: reopened", "last_seq", l.LastSeq())
}

// current runs fn with the current ledger handle.
func (s *Server) current(fn func(l *ledger.Ledger) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return fn(s.l)
}

// stat returns the ledger's Stat with counts, cached per (ledger, last
// sequence number): counting reads every event header.
func (s *Server) stat(ctx context.Context, l *ledger.Ledger) (*ledger.Stat, error) {
	c := &s.statCache
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stat != nil && c.seq == l.LastSeq() && c.id == l.ID() {
		return c.stat, nil
	}
	st, err := l.Stat(ctx, true)
	if err != nil {
		return nil, err
	}
	c.stat, c.seq, c.id = &st, l.LastSeq(), l.ID()
	return c.stat, nil
}
