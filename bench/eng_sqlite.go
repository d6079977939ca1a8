package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	_ "github.com/mattn/go-sqlite3"

	"github.com/exledger/exledger/ledger"
)

// sqliteEngine is SQLite through github.com/mattn/go-sqlite3 (cgo: the C
// library at native speed, so SQLite is not handicapped by a transpiled
// build), WAL journal mode with synchronous=FULL when durable (OFF for the
// unsynced build), one connection (SQLite serialises writers anyway), and an
// index on each queried column.
type sqliteEngine struct {
	db   *sql.DB
	path string
	ins  *sql.Stmt
	tk   *sql.Stmt
	tr   *sql.Stmt
	trc  *sql.Stmt
	mu   sync.Mutex
	body []byte
}

const sqliteSchema = `
CREATE TABLE IF NOT EXISTS events(
	seq INTEGER PRIMARY KEY,
	tenant TEXT,
	occurred_at TEXT NOT NULL,
	kind TEXT NOT NULL,
	correlation TEXT,
	chain TEXT,
	trace TEXT,
	body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS events_tenant_time ON events(tenant, occurred_at);
CREATE INDEX IF NOT EXISTS events_kind ON events(kind);
CREATE INDEX IF NOT EXISTS events_correlation ON events(correlation);
CREATE INDEX IF NOT EXISTS events_chain ON events(chain);
CREATE INDEX IF NOT EXISTS events_trace ON events(trace);
`

func (e *sqliteEngine) name() string { return "sqlite" }

func (e *sqliteEngine) open(dir string, durable bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sync := "OFF"
	if durable {
		sync = "FULL"
	}
	e.path = filepath.Join(dir, "events.db")
	db, err := sql.Open("sqlite3", fmt.Sprintf("file:%s?_journal_mode=WAL&_synchronous=%s&_busy_timeout=10000", e.path, sync))
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	e.db = db
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		return fmt.Errorf("sqlite journal_mode %q: %v", mode, err)
	}
	if !durable {
		// The unsynced build mode is a bulk load: a 1 GiB page cache keeps
		// the five indexes' B-trees in memory (with the default 2 MB,
		// building 10M events took hours on 2 cores, nearly all of it in
		// index page misses). The durable mode keeps SQLite's default.
		if _, err := db.Exec(`PRAGMA cache_size=-1048576`); err != nil {
			return err
		}
	}
	if _, err := db.Exec(sqliteSchema); err != nil {
		return err
	}
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		s, err = db.Prepare(q)
		return s
	}
	e.ins = prep(`INSERT INTO events(tenant, occurred_at, kind, correlation, chain, trace, body) VALUES(?,?,?,?,?,?,?)`)
	e.tk = prep(`SELECT body FROM events WHERE tenant = ? AND kind = ? ORDER BY seq`)
	e.tr = prep(`SELECT body FROM events WHERE tenant = ? AND occurred_at >= ? AND occurred_at <= ? ORDER BY seq`)
	e.trc = prep(`SELECT body FROM events WHERE trace = ? ORDER BY seq DESC LIMIT 1`)
	return err
}

func (e *sqliteEngine) close() error {
	if e.db == nil {
		return nil
	}
	for _, s := range []*sql.Stmt{e.ins, e.tk, e.tr, e.trc} {
		if s != nil {
			s.Close()
		}
	}
	err := e.db.Close()
	e.db = nil
	return err
}

func nullable(ok bool, s string) any {
	if !ok {
		return nil
	}
	return s
}

func (e *sqliteEngine) append(evs []ledger.ExperienceEventEnvelope) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	tx, err := e.db.Begin()
	if err != nil {
		return err
	}
	st := tx.Stmt(e.ins)
	defer st.Close()
	for i := range evs {
		if err := e.insertStmt(st, &evs[i]); err != nil {
			tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

func (e *sqliteEngine) insertStmt(st *sql.Stmt, ev *ledger.ExperienceEventEnvelope) error {
	var err error
	e.body, err = ledger.AppendCanonical(e.body[:0], ev)
	if err != nil {
		return err
	}
	h := ledger.HeaderOf(ev)
	_, err = st.Exec(nullable(h.HasTenant, string(h.TenantID)), string(h.OccurredAt), string(h.Kind),
		nullable(h.HasCorrelation, string(h.CorrelationID)), nullable(h.HasChain, string(h.ChainID)),
		nullable(h.HasTraceLink && h.Kind == ledger.KindReplayTraceRecorded, string(h.TraceLinkID)), e.body)
	return err
}

// appendOne: concurrent writers share the one connection; each commit is
// its own transaction (SQLite has no group commit across transactions).
func (e *sqliteEngine) appendOne(ev *ledger.ExperienceEventEnvelope) error {
	return e.append([]ledger.ExperienceEventEnvelope{*ev})
}

func (e *sqliteEngine) lastSeq() (uint64, error) {
	var n sql.NullInt64
	err := e.db.QueryRow(`SELECT max(seq) FROM events`).Scan(&n)
	return uint64(n.Int64), err
}

func (e *sqliteEngine) scanRaw() (int, error) {
	rows, err := e.db.Query(`SELECT body FROM events ORDER BY seq`)
	return e.each(rows, err, func(b []byte) (bool, error) { return true, decodeHeader(b) })
}

// count decodes every row's event and counts those keep accepts (all of
// them when keep is nil).
func (e *sqliteEngine) count(rows *sql.Rows, err error, keep func(*ledger.ExperienceEventEnvelope) bool) (int, error) {
	return e.each(rows, err, func(b []byte) (bool, error) {
		ev, err := decode(b)
		if err != nil {
			return false, err
		}
		return keep == nil || keep(&ev), nil
	})
}

// each calls fn with every row's event bytes and counts the rows for which
// it reports true.
func (e *sqliteEngine) each(rows *sql.Rows, err error, fn func([]byte) (bool, error)) (int, error) {
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	var b sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&b); err != nil {
			return n, err
		}
		ok, err := fn(b)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, rows.Err()
}

func (e *sqliteEngine) tenantKind(tenant, kind string) (int, error) {
	rows, err := e.tk.Query(tenant, kind)
	return e.count(rows, err, nil)
}

func (e *sqliteEngine) timeRange(tenant, start, end string) (int, error) {
	rows, err := e.tr.Query(tenant, start, end)
	return e.count(rows, err, nil)
}

func (e *sqliteEngine) trace(id string) (bool, error) {
	rows, err := e.trc.Query(id)
	found := false
	_, err = e.count(rows, err, func(ev *ledger.ExperienceEventEnvelope) bool {
		rt, ok := ev.Event.(*ledger.ReplayTraceRecorded)
		found = ok && string(rt.TraceLinkID) == id
		return found
	})
	return found, err
}

func (e *sqliteEngine) scan() (int, error) {
	rows, err := e.db.Query(`SELECT body FROM events ORDER BY seq`)
	return e.count(rows, err, nil)
}

// afterBuild runs ANALYZE once the query store is built, so the planner
// picks its indexes from statistics as a careful user would.
func (e *sqliteEngine) afterBuild() error {
	_, err := e.db.Exec(`ANALYZE`)
	return err
}

func (e *sqliteEngine) fsyncs() (uint64, bool) { return 0, false }

// footprint checkpoints the WAL into the database file, then measures the
// table alone on a copy without the indexes (VACUUM INTO, DROP INDEX,
// VACUUM): data = that copy, index = the database minus the copy.
func (e *sqliteEngine) footprint(dir string) (data, index, other int64, err error) {
	if _, err := e.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return 0, 0, 0, err
	}
	total := fileSize(e.path)
	tmp := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+"-tableonly.db")
	os.Remove(tmp)
	defer os.Remove(tmp)
	if _, err := e.db.Exec(`VACUUM INTO ?`, tmp); err != nil {
		return 0, 0, 0, err
	}
	c, err := sql.Open("sqlite3", "file:"+tmp)
	if err != nil {
		return 0, 0, 0, err
	}
	defer c.Close()
	for _, ix := range []string{"events_tenant_time", "events_kind", "events_correlation", "events_chain", "events_trace"} {
		if _, err := c.Exec(`DROP INDEX ` + ix); err != nil {
			return 0, 0, 0, err
		}
	}
	if _, err := c.Exec(`VACUUM`); err != nil {
		return 0, 0, 0, err
	}
	c.Close()
	data = fileSize(tmp)
	return data, total - data, dirSize(dir) - total, nil
}
