package ledger

// EncodeBatchForBench runs the append path's encoding step (for benchmarks).
func EncodeBatchForBench(es []ExperienceEventEnvelope) error {
	l := &Ledger{opts: (&Options{}).withDefaults()}
	_, _, err := l.encodeBatch(es)
	return err
}
