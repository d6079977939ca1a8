package ledger

// sealPacing makes background seals and compactions give way to the
// append path (see sealPace). Benchmarks turn it off to compare.
var sealPacing = true

// sealPace returns the segment writer's compression workers and whether it
// yields between blocks, for a seal run by the background sealer
// (background) or by Flush or Close (a caller waits for it).
//
// A background seal runs beside appends on the same few cores. Its
// goroutines (the sealer framing and hashing records, the compressors)
// are CPU-bound; on a machine with two cores they can hold both of the Go
// scheduler's processors until it preempts them (10 ms), while the WAL
// committer returning from fdatasync, and the appender it then wakes, wait
// for one. That wait, possibly at several steps of one append, is the
// tail append latency shows during a seal. Yielding after every block
// (segment.Options.Yield) bounds it to about one block's CPU time and
// costs about a microsecond per 64 KiB block; the seal keeps all its
// workers, so it is not slower when the appenders are idle, and appends
// do not run into backpressure (maxFrozen) sooner.
func (l *Ledger) sealPace(background bool) (workers int, yield bool) {
	return l.opts.SealWorkers, background && sealPacing
}
