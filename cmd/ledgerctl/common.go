package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/exledger/exledger/ledger"
)

// checkLedgerDir rejects a DIR that is missing, not a directory, or holds
// no ledger manifest, without creating anything.
func checkLedgerDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s is not an exledger ledger (the directory does not exist): %w", dir, ledger.ErrNotLedger)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not an exledger ledger (not a directory): %w", dir, ledger.ErrNotLedger)
	}
	if _, err := os.Stat(filepath.Join(dir, "BACKUP-INCOMPLETE")); err == nil {
		return fmt.Errorf("%s is an unfinished backup (it holds BACKUP-INCOMPLETE); delete it and back up again: %w", dir, ledger.ErrIncompleteBackup)
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s is not an exledger ledger (it has no MANIFEST file): %w", dir, ledger.ErrNotLedger)
	} else if err != nil {
		return err
	}
	return nil
}

// openRead opens an existing ledger read-only: no lock is taken and no
// byte is written, so it works beside a writer in another process.
func openRead(dir string) (*ledger.Ledger, error) {
	if err := checkLedgerDir(dir); err != nil {
		return nil, err
	}
	return ledger.Open(dir, &ledger.Options{ReadOnly: true})
}

// openWrite opens a ledger for writing. With create, a missing or empty
// directory becomes a new ledger; otherwise the ledger must exist.
func openWrite(dir string, create bool) (*ledger.Ledger, error) {
	return openWriteOpts(dir, create, nil)
}

// openWriteOpts is openWrite with options.
func openWriteOpts(dir string, create bool, o *ledger.Options) (*ledger.Ledger, error) {
	if err := checkLedgerDir(dir); err != nil {
		// Only a missing or empty directory may become a new ledger.
		names, rerr := os.ReadDir(dir)
		if !create || (rerr == nil && len(names) > 0) || (rerr != nil && !errors.Is(rerr, fs.ErrNotExist)) {
			return nil, err
		}
	}
	l, err := ledger.Open(dir, o)
	if errors.Is(err, ledger.ErrLocked) {
		return nil, lockedError(dir)
	}
	return l, err
}

// queryFlags are the filters shared by query, export and tail.
type queryFlags struct {
	tenant, correlation, chain string
	from, to                   string
	kinds                      []string
	limit                      uint64
	order                      string
}

func (f *queryFlags) register(fs *pflag.FlagSet, limitAndOrder bool) {
	fs.StringVar(&f.tenant, "tenant", "", "only events of this tenant id")
	fs.StringArrayVar(&f.kinds, "kind", nil, "only events of this kind (repeatable: any of them)")
	fs.StringVar(&f.from, "from", "", "only events with occurred_at >= TS (byte-wise, inclusive)")
	fs.StringVar(&f.to, "to", "", "only events with occurred_at <= TS (byte-wise, inclusive)")
	fs.StringVar(&f.correlation, "correlation", "", "only events with this correlation id")
	fs.StringVar(&f.chain, "chain", "", "only events whose payload carries this chain id")
	if limitAndOrder {
		fs.Uint64Var(&f.limit, "limit", 0, "return at most N events (the first N in the chosen order)")
		fs.StringVar(&f.order, "order", "log", "result order: log (append order) or time (occurred_at)")
	}
}

// build turns the flags that were set into an EventQuery.
func (f *queryFlags) build(cmd *cobra.Command) (ledger.EventQuery, ledger.Order, error) {
	var q ledger.EventQuery
	fl := cmd.Flags()
	if fl.Changed("tenant") {
		t := ledger.TenantID(f.tenant)
		q.TenantID = &t
	}
	if fl.Changed("correlation") {
		c := ledger.CorrelationID(f.correlation)
		q.CorrelationID = &c
	}
	if fl.Changed("chain") {
		c := ledger.ChainID(f.chain)
		q.ChainID = &c
	}
	for _, k := range f.kinds {
		kind := ledger.ExperienceEventKind(k)
		if !slices.Contains(ledger.AllKinds, kind) {
			names := make([]string, len(ledger.AllKinds))
			for i, k := range ledger.AllKinds {
				names[i] = string(k)
			}
			return q, 0, usagef("unknown --kind %q (kinds: %s)", k, strings.Join(names, ", "))
		}
		q.Kinds = append(q.Kinds, kind)
	}
	if fl.Changed("from") || fl.Changed("to") {
		q.TimeRange = &ledger.TimeRange{}
		if fl.Changed("from") {
			s := ledger.Timestamp(f.from)
			q.TimeRange.Start = &s
		}
		if fl.Changed("to") {
			e := ledger.Timestamp(f.to)
			q.TimeRange.End = &e
		}
	}
	if fl.Lookup("limit") != nil && fl.Changed("limit") {
		n := f.limit
		q.Limit = &n
	}
	order := ledger.OrderLog
	switch f.order {
	case "", "log":
	case "time":
		order = ledger.OrderTime
	default:
		return q, 0, usagef("--order must be log or time, not %q", f.order)
	}
	if err := ledger.ValidateQuery(q); err != nil {
		return q, 0, &usageError{err}
	}
	return q, order, nil
}

// filtered reports whether q selects a subset of the ledger.
func filtered(q ledger.EventQuery) bool {
	return q.TenantID != nil || q.CorrelationID != nil || q.ChainID != nil || len(q.Kinds) > 0 || q.TimeRange != nil || q.Limit != nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress is a progress display on stderr; it is a no-op when stderr is
// not a terminal.
type progress struct{ bar *progressbar.ProgressBar }

// newProgress starts a progress bar of total units (-1: unknown) on
// stderr, if stderr is a terminal.
func (a *app) newProgress(total int64, desc string, bytes bool) *progress {
	if !isTerminal(a.stderr) {
		return &progress{}
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	} else {
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionSetItsString("events"))
	}
	return &progress{bar: progressbar.NewOptions64(total, opts...)}
}

func (p *progress) set(n uint64) {
	if p.bar != nil {
		p.bar.Set64(int64(n))
	}
}

func (p *progress) add(n int) {
	if p.bar != nil {
		p.bar.Add64(int64(n))
	}
}

func (p *progress) done() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar.Clear()
	}
}

// printJSON writes v as indented JSON on stdout.
func (a *app) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = a.stdout.Write(b)
	return err
}

// eventWriter writes events as Converge JSON lines.
type eventWriter struct {
	w   *bufio.Writer
	buf []byte
	n   uint64
}

func newEventWriter(w io.Writer) *eventWriter {
	return &eventWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

func (e *eventWriter) write(env *ledger.ExperienceEventEnvelope) error {
	var err error
	e.buf, err = ledger.AppendEnvelopeJSON(e.buf[:0], env)
	if err != nil {
		return fmt.Errorf("event %s: %w", env.EventID, err)
	}
	e.buf = append(e.buf, '\n')
	_, err = e.w.Write(e.buf)
	e.n++
	return err
}

func (e *eventWriter) flush() error { return e.w.Flush() }

// count formats n with thousands separators.
func count[T ~int | ~int64 | ~uint64 | ~uint32 | ~int32](n T) string {
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-int64(n))
	}
	s := fmt.Sprint(u)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// size formats a byte count with binary units.
func size[T ~int | ~int64 | ~uint64](n T) string {
	f := float64(n)
	switch {
	case f >= 1<<30:
		return fmt.Sprintf("%.2f GiB", f/(1<<30))
	case f >= 1<<20:
		return fmt.Sprintf("%.1f MiB", f/(1<<20))
	case f >= 1<<10:
		return fmt.Sprintf("%.1f KiB", f/(1<<10))
	}
	return fmt.Sprintf("%d B", int64(n))
}

// dur formats a duration for humans with 3 significant digits.
func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
}

// diskUsage sums the sizes of the regular files under dir.
func diskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			total += fi.Size()
		}
		return nil
	})
	return total, err
}

// exactArgs is cobra.ExactArgs with a clearer message.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s needs %s (got %d argument(s))", cmd.Name(), names, len(args))
		}
		return nil
	}
}

func isLocked(err error) bool { return errors.Is(err, ledger.ErrLocked) }

// plural formats n with its noun: "1 segment", "2 segments".
func plural[T ~int | ~int64 | ~uint64](n T, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "ch") {
		return count(n) + " " + noun + "es"
	}
	return count(n) + " " + noun + "s"
}

// lockedError says that another process holds the ledger's lock.
func lockedError(dir string) error {
	return fmt.Errorf("ledger %s is in use by another process; stop it or wait until it is idle, then retry (%w)", dir, ledger.ErrLocked)
}
