package ledgerprom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/exledger/exledger/ledger"
)

// Source is what the collector reads: a *ledger.Ledger, or anything that
// returns a ledger's Metrics (a server that reopens its ledger passes a
// function returning the current one's).
type Source interface {
	Metrics() ledger.Metrics
}

// SourceFunc adapts a function to Source.
type SourceFunc func() ledger.Metrics

// Metrics calls f.
func (f SourceFunc) Metrics() ledger.Metrics { return f() }

// Collector is a prometheus.Collector over a ledger's Metrics.
type Collector struct {
	src   Source
	descs descs
}

type descs struct {
	appends, events, appendErrors, frames, fsyncs, walBytes           *prometheus.Desc
	appendDur, appendBatch, groupCommits, fsyncDur                    *prometheus.Desc
	seals, sealStalls, sealDur, compactions, compactDur               *prometheus.Desc
	segments, sealedEvents, unsealedEvents, lastSeq, diskBytes        *prometheus.Desc
	cacheHits, cacheMisses, queryDur, segsSkipped, segsRead           *prometheus.Desc
	recoveryDur, recoveryReplayed, recoveryTorn, recoveryIndexRebuilt *prometheus.Desc
	poisoned, backgroundErr, walDirect                                *prometheus.Desc
}

// NewCollector returns a collector for the ledger src (usually a
// *ledger.Ledger). constLabels, if not nil, are added to every metric
// (e.g. {"ledger": "orders"} when one process serves several ledgers).
func NewCollector(src Source, constLabels ...prometheus.Labels) *Collector {
	var cl prometheus.Labels
	if len(constLabels) > 0 {
		cl = constLabels[0]
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("exledger_"+name, help, labels, cl)
	}
	return &Collector{src: src, descs: descs{
		appends:      d("appends_total", "AppendEvent/AppendEvents calls that succeeded."),
		events:       d("events_committed_total", "Events committed."),
		appendErrors: d("append_errors_total", "AppendEvent/AppendEvents calls that failed (invalid input, storage errors, cancellation)."),
		frames:       d("wal_frames_total", "WAL frames written (one per committed batch)."),
		fsyncs:       d("wal_fsyncs_total", "fdatasync calls on WAL files."),
		walBytes:     d("wal_written_bytes_total", "Bytes of WAL frames written."),
		appendDur:    d("append_duration_seconds", "Latency of successful AppendEvent/AppendEvents calls, validation to acknowledgement."),
		appendBatch:  d("append_batch_events", "Events per successful AppendEvents call."),
		groupCommits: d("wal_group_commit_appends", "Appends merged into one WAL write and fdatasync (group commit size)."),
		fsyncDur:     d("wal_fsync_duration_seconds", "Duration of WAL fdatasync calls."),
		seals:        d("seals_total", "Segments sealed by this process."),
		sealStalls:   d("seal_stalls_total", "Appends that waited for the background sealer (memory bound)."),
		sealDur:      d("seal_duration_seconds", "Time to seal one segment (write, index, manifest switch)."),
		compactions:  d("compactions_total", "Successful Compact calls."),
		compactDur:   d("compaction_duration_seconds", "Duration of successful Compact calls."),
		segments:     d("segments", "Sealed segments."),
		sealedEvents: d("sealed_events", "Events in sealed segments."),
		unsealedEvents: d("unsealed_events",
			"Committed events not yet sealed (held in memory and in the WAL)."),
		lastSeq:              d("last_sequence", "Highest committed sequence number (0: empty)."),
		diskBytes:            d("disk_bytes", "On-disk size by kind of file.", "kind"),
		cacheHits:            d("block_cache_hits_total", "Decompressed-block cache hits."),
		cacheMisses:          d("block_cache_misses_total", "Decompressed-block cache misses."),
		queryDur:             d("query_duration_seconds", "Query latency by plan (index, time, scan, empty, event_id, trace_link); scans include the consumer's time.", "plan"),
		segsSkipped:          d("query_segments_skipped_total", "Segments queries excluded by their summary without reading their index."),
		segsRead:             d("query_segments_read_total", "Segments whose index queries evaluated."),
		recoveryDur:          d("recovery_duration_seconds", "Duration of the last Open."),
		recoveryReplayed:     d("recovery_replayed_events", "Events replayed from the WAL by the last Open."),
		recoveryTorn:         d("recovery_torn_bytes", "Bytes of torn WAL tail truncated by the last Open."),
		recoveryIndexRebuilt: d("recovery_index_rebuilds", "Missing or damaged segment indexes rebuilt by the last Open."),
		poisoned:             d("poisoned", "1 once a WAL write or fdatasync failed: appends fail until the ledger is reopened."),
		walDirect:            d("wal_direct_writes", "1 while the WAL is written with direct I/O (O_DIRECT), 0 when it writes through the page cache (Options.BufferedWAL, or the file system refused O_DIRECT: see the log)."),
		backgroundErr:        d("background_error", "1 while the last background sealing attempt failed."),
	}}
}

// Describe sends the descriptors of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	d := &c.descs
	for _, x := range []*prometheus.Desc{
		d.appends, d.events, d.appendErrors, d.frames, d.fsyncs, d.walBytes,
		d.appendDur, d.appendBatch, d.groupCommits, d.fsyncDur,
		d.seals, d.sealStalls, d.sealDur, d.compactions, d.compactDur,
		d.segments, d.sealedEvents, d.unsealedEvents, d.lastSeq, d.diskBytes,
		d.cacheHits, d.cacheMisses, d.queryDur, d.segsSkipped, d.segsRead,
		d.recoveryDur, d.recoveryReplayed, d.recoveryTorn, d.recoveryIndexRebuilt,
		d.poisoned, d.backgroundErr, d.walDirect,
	} {
		ch <- x
	}
}

// Collect takes one Metrics snapshot and sends every metric.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	m := c.src.Metrics()
	d := &c.descs
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	histogram := func(desc *prometheus.Desc, h ledger.Histogram, labels ...string) {
		buckets := make(map[float64]uint64, len(h.Bounds))
		var cum uint64
		for i, b := range h.Bounds {
			cum += h.Counts[i]
			buckets[b] = cum
		}
		ch <- prometheus.MustNewConstHistogram(desc, h.Count, h.Sum, buckets, labels...)
	}
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}

	counter(d.appends, m.Appends)
	counter(d.events, m.Events)
	counter(d.appendErrors, m.AppendErrors)
	counter(d.frames, m.Batches)
	counter(d.fsyncs, m.Fsyncs)
	counter(d.walBytes, m.BytesWritten)
	histogram(d.appendDur, m.AppendLatency)
	histogram(d.appendBatch, m.AppendBatch)
	histogram(d.groupCommits, m.GroupCommits)
	histogram(d.fsyncDur, m.FsyncLatency)
	counter(d.seals, m.Seals)
	counter(d.sealStalls, m.SealStalls)
	histogram(d.sealDur, m.SealDuration)
	counter(d.compactions, m.Compactions)
	histogram(d.compactDur, m.CompactDuration)
	gauge(d.segments, float64(m.Segments))
	gauge(d.sealedEvents, float64(m.SealedEvents))
	gauge(d.unsealedEvents, float64(m.MemEvents))
	gauge(d.lastSeq, float64(m.LastSeq))
	gauge(d.diskBytes, float64(m.DiskBytes.Segments), "segments")
	gauge(d.diskBytes, float64(m.DiskBytes.Indexes), "indexes")
	gauge(d.diskBytes, float64(m.DiskBytes.WAL), "wal")
	gauge(d.diskBytes, float64(m.DiskBytes.Manifest), "manifest")
	counter(d.cacheHits, m.CacheHits)
	counter(d.cacheMisses, m.CacheMisses)
	for _, p := range ledger.QueryPlans {
		if h, ok := m.QueryLatency[p]; ok {
			histogram(d.queryDur, h, p)
		}
	}
	counter(d.segsSkipped, m.SegmentsSkipped)
	counter(d.segsRead, m.SegmentsRead)
	gauge(d.recoveryDur, m.LastRecovery.Seconds())
	gauge(d.recoveryReplayed, float64(m.RecoveredWAL))
	gauge(d.recoveryTorn, float64(m.RecoveryTornBytes))
	gauge(d.recoveryIndexRebuilt, float64(m.RecoveryIndexRebuilds))
	gauge(d.poisoned, b2f(m.Poisoned))
	gauge(d.walDirect, b2f(m.WALDirect))
	gauge(d.backgroundErr, b2f(m.BackgroundErr != ""))
}
