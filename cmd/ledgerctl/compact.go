package main

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
	"github.com/spf13/cobra"

	"github.com/exledger/exledger/ledger"
)

type compactJSON struct {
	SegmentsBefore    int     `json:"segments_before"`
	SegmentsAfter     int     `json:"segments_after"`
	BytesBefore       int64   `json:"bytes_before"`
	BytesAfter        int64   `json:"bytes_after"`
	EventsRewritten   uint64  `json:"events_rewritten"`
	DroppedSegments   int     `json:"dropped_segments"`
	DroppedEvents     uint64  `json:"dropped_events"`
	DroppedThroughSeq uint64  `json:"dropped_through_seq"`
	TookSeconds       float64 `json:"took_seconds"`
}

var compactLevels = map[string]zstd.EncoderLevel{
	"fastest": zstd.SpeedFastest,
	"default": zstd.SpeedDefault,
	"better":  zstd.SpeedBetterCompression,
	"best":    zstd.SpeedBestCompression,
}

func newCompactCmd(a *app) *cobra.Command {
	var (
		retainAfter string
		level       string
		noCluster   bool
		targetMiB   int64
	)
	cmd := &cobra.Command{
		Use:   "compact DIR [--retain-after TS] [--level fastest|default|better|best] [--no-cluster]",
		Short: "Merge and recompress sealed segments; optionally drop old ones",
		Long: `compact merges adjacent small sealed segments, recompresses them at --level
and re-clusters their events by (tenant, kind, occurred_at) so selective
queries read fewer blocks (--no-cluster keeps log order). Query results and
the hash chain, so every saved digest, are unchanged.

--retain-after TS drops whole leading segments whose newest event is older
than TS (byte-wise occurred_at) and records the drop in the manifest.

compact needs the ledger's lock: if another process has the ledger open it
exits 4 without changing anything. It is crash-safe.`,
		Args: exactArgs(1, "DIR"),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			lv, ok := compactLevels[level]
			if !ok {
				return usagef("--level must be fastest, default, better or best, not %q", level)
			}
			if targetMiB < 0 {
				return usagef("--target-mib must not be negative")
			}
			o := ledger.CompactOptions{Level: lv, NoCluster: noCluster, TargetBytes: targetMiB << 20}
			if cmd.Flags().Changed("retain-after") {
				if retainAfter == "" {
					return usagef("--retain-after needs a timestamp")
				}
				ts := ledger.Timestamp(retainAfter)
				o.RetainAfter = &ts
			}
			l, err := openWrite(args[0], false)
			if err != nil {
				return err
			}
			defer l.Close()
			var bar *progress
			o.Progress = func(done, total uint64) {
				if bar == nil {
					bar = a.newProgress(int64(total), "compacting", false)
				}
				bar.set(done)
			}
			rep, err := l.Compact(cmd.Context(), o)
			if bar != nil {
				bar.done()
			}
			if err != nil {
				return err
			}
			if err := l.Close(); err != nil {
				return err
			}
			out := compactJSON{
				SegmentsBefore: rep.SegmentsBefore, SegmentsAfter: rep.SegmentsAfter,
				BytesBefore: rep.BytesBefore, BytesAfter: rep.BytesAfter, EventsRewritten: rep.EventsRewritten,
				DroppedSegments: rep.DroppedSegments, DroppedEvents: rep.DroppedEvents,
				DroppedThroughSeq: rep.DroppedThroughSeq, TookSeconds: rep.Took.Seconds(),
			}
			if a.json() {
				return a.printJSON(out)
			}
			fmt.Fprintf(a.stdout, "compacted %s in %s\n", args[0], dur(rep.Took))
			fmt.Fprintf(a.stdout, "segments: %d (%s) -> %d (%s); %s events rewritten\n",
				rep.SegmentsBefore, size(rep.BytesBefore), rep.SegmentsAfter, size(rep.BytesAfter), count(rep.EventsRewritten))
			if o.RetainAfter != nil {
				if rep.DroppedSegments > 0 {
					fmt.Fprintf(a.stdout, "retention: dropped %s, %s (seq 1-%d) older than %s\n",
						plural(rep.DroppedSegments, "segment"), plural(rep.DroppedEvents, "event"), rep.DroppedThroughSeq, *o.RetainAfter)
				} else {
					fmt.Fprintf(a.stdout, "retention: no whole segment is older than %s; nothing dropped\n", *o.RetainAfter)
				}
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&retainAfter, "retain-after", "", "drop whole leading segments whose events are all older than TS")
	f.StringVar(&level, "level", "better", "zstd level of the new segments: fastest, default, better or best")
	f.BoolVar(&noCluster, "no-cluster", false, "keep events in log order inside the new segments")
	f.Int64Var(&targetMiB, "target-mib", 0, "largest merged segment in MiB of canonical events (0 = 128)")
	return cmd
}
