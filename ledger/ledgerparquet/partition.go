package ledgerparquet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/exledger/exledger/ledger"
)

// Partition selects how ExportPartitioned splits an export into a
// Hive-style directory of files.
type Partition int

const (
	// ByTenant writes tenant_id=<tenant>/part-N.parquet; events without a
	// tenant go to tenant_id=__HIVE_DEFAULT_PARTITION__ (engines read that
	// as NULL).
	ByTenant Partition = iota + 1
	// ByDate writes date=YYYY-MM-DD/part-N.parquet by the UTC date of
	// occurred_at; events whose occurred_at is not RFC 3339 go to
	// date=__HIVE_DEFAULT_PARTITION__.
	ByDate
)

// ParsePartition returns the Partition named "tenant" or "date".
func ParsePartition(s string) (Partition, error) {
	switch s {
	case "tenant":
		return ByTenant, nil
	case "date":
		return ByDate, nil
	}
	return 0, fmt.Errorf("%w: partition %q (want tenant or date)", ErrPartition, s)
}

// ErrPartition is returned for an unknown partitioning or a partition
// value that cannot be a directory name.
var ErrPartition = errors.New("parquet export: bad partition")

// HiveDefaultPartition is the directory value of events that have no
// value for the partition key (Hive's and Spark's name; DuckDB, Polars and
// Spark read it as NULL).
const HiveDefaultPartition = "__HIVE_DEFAULT_PARTITION__"

// maxDirName is the longest directory name written (NAME_MAX on common
// file systems).
const maxDirName = 255

// ExportPartitioned writes the events matching q as a Hive-style
// directory of Parquet files, one directory per value of the partition
// key: <key>=<value>/part-N.parquet, with the same schema and encoding as
// Export (the partition column stays in the files too, so each file is
// complete on its own). Values are percent-encoded outside
// [A-Za-z0-9._-], as engines decode them. Within a file the rows are in
// log order; every event is in exactly one file.
//
// create is called for each file with its slash-separated path relative
// to the export's root (e.g. "tenant_id=acme/part-0.parquet"); ExportPartitioned
// writes the file and closes it when complete. On error, files already
// created are closed and the output must be discarded.
//
// It makes one pass over the ledger. Memory stays bounded: at most
// Options.MaxOpenPartitions files are open at once (each buffering up to
// a row group); when a new partition value arrives and that many are
// open, the least recently written file is finished, and a later event of
// its partition starts the next part file (part-1, part-2, ...). Events
// whose partitions interleave finely (tenants, in a ledger of many
// tenants) therefore give more, smaller files than MaxOpenPartitions
// allows; dates, which follow log order, give one file each. The row
// groups are encoded on the calling goroutine (the decoding and the JSON
// are spread over the scan's goroutines as in Export). The output is
// deterministic for a given ledger, query and options.
func ExportPartitioned(ctx context.Context, l *ledger.Ledger, q ledger.EventQuery, by Partition, create func(path string) (io.WriteCloser, error), o Options) (n uint64, err error) {
	key := ""
	switch by {
	case ByTenant:
		key = "tenant_id"
	case ByDate:
		key = "date"
	default:
		return 0, fmt.Errorf("%w: %d", ErrPartition, by)
	}
	if o.RowGroupRows <= 0 {
		o.RowGroupRows = defaultRowGroupRows
	}
	if o.MaxOpenPartitions <= 0 {
		o.MaxOpenPartitions = defaultMaxOpenPartitions
	}
	if o.Compression == nil {
		o.Compression = defaultCodec
	}
	if o.RowGroupBytes <= 0 {
		o.RowGroupBytes = groupBytes(o.Compression, defaultPartitionRowGroupBytes)
	}
	p := &partitioner{key: key, create: create, o: o, parts: map[string]int{}, open: map[string]*partFile{}}
	defer func() {
		if cerr := p.closeAll(err == nil); err == nil && cerr != nil {
			err = fmt.Errorf("parquet export: %w", cerr)
		}
	}()
	for r, serr := range ledger.ScanMap(ctx, l, q, 1, mapRow) {
		if serr != nil {
			return n, serr
		}
		it := &r.V
		if it.err != nil {
			return n, fmt.Errorf("parquet export: event %s: %w", it.row.EventID, it.err)
		}
		var v string
		if by == ByTenant {
			v = tenantValue(it.row.TenantID)
		} else {
			v = dateValue(&it.sc)
		}
		f, err := p.file(v)
		if err != nil {
			return n, err
		}
		i := len(f.rows)
		f.rows = append(f.rows, it.row)
		f.scratch[i] = it.sc
		pointRow(&f.rows[i], &f.scratch[i], r.Seq)
		f.pendingBytes += rowOverhead + len(it.row.EventID) + 2*len(it.row.OccurredAtRaw) + len(it.row.EventJSON)
		if len(f.rows) == cap(f.rows) || f.pendingBytes >= partBatchBytes {
			if err := p.flushRows(f); err != nil {
				return n, err
			}
		}
		n++
		if o.Progress != nil && n%batchRows == 0 {
			o.Progress(n)
		}
	}
	if err := ctx.Err(); err != nil {
		return n, err
	}
	if o.Progress != nil {
		o.Progress(n)
	}
	return n, nil
}

const (
	// defaultMaxOpenPartitions bounds the files open at once.
	defaultMaxOpenPartitions = 32
	// defaultPartitionRowGroupBytes is a partitioned export's default row
	// group cap: every open file buffers a row group (compressed) and a
	// page per column (uncompressed).
	defaultPartitionRowGroupBytes = 16 << 20
	// partBatchRows and partBatchBytes bound the rows a file collects
	// before handing them to its writer.
	partBatchRows  = 256
	partBatchBytes = 1 << 20
)

// partitioner holds the open files of a partitioned export.
type partitioner struct {
	key    string
	create func(string) (io.WriteCloser, error)
	o      Options
	parts  map[string]int // value -> part files started so far
	open   map[string]*partFile
	clock  uint64 // last use, for evicting the least recently used file
}

// partFile is one open part file.
type partFile struct {
	out          io.WriteCloser
	w            *parquet.GenericWriter[Row]
	rows         []Row        // collected, not yet written; cap partBatchRows
	scratch      []rowScratch // scratch[i] for rows[i]
	pendingBytes int          // of rows
	groupRows    int          // written to the current row group
	groupBytes   int
	used         uint64
}

// file returns the open file of partition value v, starting one (and
// finishing the least recently used file if too many are open).
func (p *partitioner) file(v string) (*partFile, error) {
	p.clock++
	if f := p.open[v]; f != nil {
		f.used = p.clock
		return f, nil
	}
	if len(p.open) >= p.o.MaxOpenPartitions {
		lru := ""
		for k, f := range p.open {
			if lru == "" || f.used < p.open[lru].used {
				lru = k
			}
		}
		f := p.open[lru]
		delete(p.open, lru)
		if err := p.finish(f); err != nil {
			return nil, err
		}
	}
	dir := p.key + "=" + v
	if len(dir) > maxDirName {
		return nil, fmt.Errorf("%w: %.40s... is longer than a directory name can be", ErrPartition, dir)
	}
	path := dir + "/part-" + strconv.Itoa(p.parts[v]) + ".parquet"
	out, err := p.create(path)
	if err != nil {
		return nil, fmt.Errorf("parquet export: %w", err)
	}
	p.parts[v]++
	f := &partFile{out: out, w: newWriter(out, p.o, partitionPageBytes), rows: make([]Row, 0, partBatchRows), scratch: make([]rowScratch, partBatchRows), used: p.clock}
	p.open[v] = f
	return f, nil
}

// flushRows hands f's collected rows to its writer, ending the row group
// when it is full.
func (p *partitioner) flushRows(f *partFile) error {
	if len(f.rows) == 0 {
		return nil
	}
	if _, err := f.w.Write(f.rows); err != nil {
		return fmt.Errorf("parquet export: %w", err)
	}
	f.groupRows += len(f.rows)
	f.groupBytes += f.pendingBytes
	clear(f.rows)
	f.rows, f.pendingBytes = f.rows[:0], 0
	if f.groupRows >= p.o.RowGroupRows || f.groupBytes >= p.o.RowGroupBytes {
		f.groupRows, f.groupBytes = 0, 0
		if err := f.w.Flush(); err != nil {
			return fmt.Errorf("parquet export: %w", err)
		}
	}
	return nil
}

// finish writes f's last rows and footer and closes it.
func (p *partitioner) finish(f *partFile) error {
	err := p.flushRows(f)
	if err == nil {
		if err = f.w.Close(); err != nil {
			err = fmt.Errorf("parquet export: %w", err)
		}
	}
	if cerr := f.out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("parquet export: %w", cerr)
	}
	return err
}

// closeAll finishes every open file (ok) or only closes them (after an
// error), in a fixed order.
func (p *partitioner) closeAll(ok bool) error {
	var first error
	for len(p.open) > 0 {
		v := ""
		for k := range p.open {
			if v == "" || k < v {
				v = k
			}
		}
		f := p.open[v]
		delete(p.open, v)
		var err error
		if ok {
			err = p.finish(f)
		} else {
			err = f.out.Close()
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// tenantValue is a tenant's directory value.
func tenantValue(t *string) string {
	if t == nil {
		return HiveDefaultPartition
	}
	return escapeValue(*t)
}

// dateValue is the directory value of an event's UTC date.
func dateValue(sc *rowScratch) string {
	if sc.set&hasOccurredAt == 0 {
		return HiveDefaultPartition
	}
	return time.UnixMicro(sc.occurredAt).UTC().Format(time.DateOnly)
}

// escapeValue percent-encodes the bytes of v outside [A-Za-z0-9._-], and
// the first byte of a value that would read as the default partition, so
// that engines decode the directory name back to v.
func escapeValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' && !(i == 0 && v == HiveDefaultPartition) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// String is the partition's name ("tenant" is written tenant_id=).
func (p Partition) String() string {
	switch p {
	case ByTenant:
		return "tenant_id"
	case ByDate:
		return "date"
	}
	return "Partition(" + strconv.Itoa(int(p)) + ")"
}
