package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/exledger/exledger/ledger"
)

type segmentJSON struct {
	Name         string           `json:"name"`
	FirstSeq     uint64           `json:"first_seq"`
	LastSeq      uint64           `json:"last_seq"`
	Events       uint64           `json:"events"`
	MinTime      string           `json:"min_time"`
	MaxTime      string           `json:"max_time"`
	Blocks       int              `json:"blocks"`
	FileBytes    int64            `json:"file_bytes"`
	RawBytes     int64            `json:"raw_bytes"`
	IndexBytes   int64            `json:"index_bytes"`
	Clustered    bool             `json:"clustered"`
	IndexByField map[string]int64 `json:"index_bytes_by_field"`
	Vectors      uint64           `json:"vectors,omitempty"`
	VectorBytes  int64            `json:"vector_bytes,omitempty"`
}

type countJSON struct {
	Name   string `json:"name"`
	Events uint64 `json:"events"`
}

type statJSON struct {
	Dir              string           `json:"dir"`
	LedgerID         string           `json:"ledger_id"`
	FormatVersion    int              `json:"format_version"`
	Events           uint64           `json:"events"`
	FirstSeq         uint64           `json:"first_seq"`
	LastSeq          uint64           `json:"last_seq"`
	SealedEvents     uint64           `json:"sealed_events"`
	TailEvents       uint64           `json:"tail_events"`
	Segments         int              `json:"segments"`
	DataBytes        int64            `json:"data_bytes"`
	RawBytes         int64            `json:"raw_bytes"`
	CompressionRatio float64          `json:"compression_ratio"`
	IndexBytes       int64            `json:"index_bytes"`
	IndexByField     map[string]int64 `json:"index_bytes_by_field"`
	TailBytes        int64            `json:"tail_bytes"`
	DiskBytes        int64            `json:"disk_bytes"`
	MinTime          string           `json:"min_time"`
	MaxTime          string           `json:"max_time"`
	DroppedEvents    uint64           `json:"dropped_events"`
	LostEvents       uint64           `json:"lost_events"`
	Gaps             []gapJSON        `json:"gaps"`
	EmbeddingDim     int              `json:"embedding_dim"`
	Vectors          uint64           `json:"vectors"`
	VectorBytes      int64            `json:"vector_bytes"`
	VectorIndexBytes int64            `json:"vector_index_bytes"`
	ProofsFrom       uint64           `json:"proofs_from_seq"`
	TreeBytes        int64            `json:"tree_bytes"`
	TreeLeavesBytes  int64            `json:"tree_leaves_bytes"`
	Tenants          []countJSON      `json:"tenants,omitempty"`
	Kinds            []countJSON      `json:"kinds,omitempty"`
	SegmentList      []segmentJSON    `json:"segment_list"`
	gaps             []ledger.Gap
}

func newStatCmd(a *app) *cobra.Command {
	var noCounts bool
	cmd := &cobra.Command{
		Use:   "stat DIR",
		Short: "Describe a ledger: segments, events, bytes, compression, indexes, ranges, tenants and kinds",
		Long: `stat describes a ledger: its segments, events, bytes on disk, compression
ratio, index sizes, sequence and time ranges, and the number of events per
tenant and per kind (a full read of the event headers; --no-counts skips it).
It opens the ledger read-only and never changes a byte.`,
		Args: exactArgs(1, "DIR"),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			l, err := openRead(args[0])
			if err != nil {
				return err
			}
			defer l.Close()
			st, err := l.Stat(cmd.Context(), !noCounts)
			if err != nil {
				return err
			}
			disk, err := diskUsage(args[0])
			if err != nil {
				return err
			}
			sj := toStatJSON(args[0], st, disk)
			if a.json() {
				return a.printJSON(sj)
			}
			return printStat(a.stdout, &sj, !noCounts)
		}),
	}
	cmd.Flags().BoolVar(&noCounts, "no-counts", false, "skip the per-tenant and per-kind counts (no full read)")
	return cmd
}

func sortedCounts(m map[string]uint64, none string) []countJSON {
	out := make([]countJSON, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		name := k
		if name == "" {
			name = none
		}
		out = append(out, countJSON{Name: name, Events: m[k]})
	}
	slices.SortStableFunc(out, func(a, b countJSON) int { return cmp.Compare(b.Events, a.Events) })
	return out
}

func toStatJSON(dir string, st ledger.Stat, disk int64) statJSON {
	sj := statJSON{
		Dir: dir, LedgerID: st.LedgerID, FormatVersion: st.FormatVersion,
		Events: st.Events, FirstSeq: st.FirstSeq, LastSeq: st.LastSeq,
		SealedEvents: st.SealedEvents, TailEvents: st.MemEvents, Segments: len(st.Segments),
		DataBytes: st.DataBytes, RawBytes: st.RawBytes, IndexBytes: st.IndexBytes,
		IndexByField: map[string]int64{}, TailBytes: st.MemBytes, DiskBytes: disk,
		MinTime: st.MinTime, MaxTime: st.MaxTime, DroppedEvents: st.DroppedEvents,
		SegmentList: []segmentJSON{}, LostEvents: st.LostEvents, Gaps: toGapsJSON(st.Gaps),
		EmbeddingDim: st.EmbeddingDim, Vectors: st.Vectors, VectorBytes: st.VectorBytes, VectorIndexBytes: st.VectorIndexBytes,
		ProofsFrom: st.ProofsFrom, TreeBytes: st.TreeBytes, TreeLeavesBytes: st.TreeLeavesBytes,
	}
	sj.gaps = st.Gaps
	if st.DataBytes > 0 {
		sj.CompressionRatio = float64(st.RawBytes) / float64(st.DataBytes)
	}
	for _, s := range st.Segments {
		for f, n := range s.IndexBytesPerField {
			sj.IndexByField[f] += n
		}
		sj.SegmentList = append(sj.SegmentList, segmentJSON{
			Name: s.Name, FirstSeq: s.FirstSeq, LastSeq: s.LastSeq, Events: s.Events,
			MinTime: s.MinTime, MaxTime: s.MaxTime, Blocks: s.Blocks, FileBytes: s.FileBytes,
			RawBytes: s.RawBytes, IndexBytes: s.IndexBytes, Clustered: s.Clustered,
			IndexByField: s.IndexBytesPerField, Vectors: s.Vectors, VectorBytes: s.VectorBytes,
		})
	}
	if st.Tenants != nil {
		sj.Tenants = sortedCounts(st.Tenants, "(none)")
		sj.Kinds = sortedCounts(st.Kinds, "(none)")
	}
	return sj
}

func printStat(w io.Writer, s *statJSON, counts bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(k, f string, a ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(f, a...)) }
	p("ledger", "%s (format %d)", s.LedgerID, s.FormatVersion)
	p("directory", "%s", s.Dir)
	if s.Events == 0 {
		p("events", "0")
	} else {
		p("events", "%s (seq %s – %s)", count(s.Events), count(s.FirstSeq), count(s.LastSeq))
	}
	p("sealed", "%s in %s; %s in the WAL tail", plural(s.SealedEvents, "event"), plural(s.Segments, "segment"), plural(s.TailEvents, "event"))
	ratio := "n/a"
	if s.CompressionRatio > 0 {
		ratio = fmt.Sprintf("%.2fx", s.CompressionRatio)
	}
	p("segments", "%s on disk for %s of canonical events: compression %s", size(s.DataBytes), size(s.RawBytes), ratio)
	var fields []string
	for _, f := range slices.Sorted(maps.Keys(s.IndexByField)) {
		fields = append(fields, fmt.Sprintf("%s %s", f, size(s.IndexByField[f])))
	}
	idx := size(s.IndexBytes)
	if len(fields) > 0 {
		idx += " (" + strings.Join(fields, ", ") + ")"
	}
	p("indexes", "%s", idx)
	p("WAL tail", "%s of canonical events", size(s.TailBytes))
	perEvent := ""
	if s.Events > 0 {
		perEvent = fmt.Sprintf(" (%.0f B/event)", float64(s.DiskBytes)/float64(s.Events))
	}
	p("disk", "%s in all files%s", size(s.DiskBytes), perEvent)
	if s.MinTime != "" {
		p("time range", "%s – %s", s.MinTime, s.MaxTime)
	}
	if s.DroppedEvents > 0 {
		p("retention", "%s events dropped", count(s.DroppedEvents))
	}
	if s.LostEvents > 0 || len(s.gaps) > 0 {
		p("repair gaps", "%s lost in %s (seqs never reused)", plural(s.LostEvents, "event"), plural(len(s.gaps), "gap"))
	}
	if s.EmbeddingDim > 0 {
		p("vectors", "%s of dimension %d; %s in vector files (raw float32: %s), approximate indexes %s",
			count(s.Vectors), s.EmbeddingDim, size(s.VectorBytes), size(int64(s.Vectors)*int64(4*s.EmbeddingDim)), size(s.VectorIndexBytes))
	}
	if s.ProofsFrom > 0 {
		p("Merkle tree", "%s in TREE; inclusion proofs from seq %s (index %s) on", size(s.TreeBytes), count(s.ProofsFrom), count(s.ProofsFrom-1))
		if s.TreeLeavesBytes > 0 {
			p("", "%s of dropped events' leaf hashes in TREELEAVES (consistency from older tree sizes)", size(s.TreeLeavesBytes))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printGaps(w, "  ", s.gaps)
	if counts {
		for _, g := range []struct {
			title string
			list  []countJSON
		}{{"tenants", s.Tenants}, {"kinds", s.Kinds}} {
			fmt.Fprintf(w, "\n%s (%d):\n", g.title, len(g.list))
			for _, c := range g.list {
				fmt.Fprintf(tw, "  %s\t%s\n", c.Name, count(c.Events))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	if len(s.SegmentList) > 0 {
		fmt.Fprintf(w, "\nsegments (%d):\n", len(s.SegmentList))
		fmt.Fprintf(tw, "  name\tseq\tevents\tblocks\tfile\traw\tindex\tclustered\n")
		for _, g := range s.SegmentList {
			fmt.Fprintf(tw, "  %s\t%d-%d\t%s\t%d\t%s\t%s\t%s\t%v\n", g.Name, g.FirstSeq, g.LastSeq, count(g.Events),
				g.Blocks, size(g.FileBytes), size(g.RawBytes), size(g.IndexBytes), g.Clustered)
		}
	}
	return tw.Flush()
}
