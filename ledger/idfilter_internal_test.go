package ledger

// IDFilterStateForTest reports whether the ledger-wide event-id filter's
// build was started, whether it is ready, and how many filters (of any
// prefix length) it holds.
func IDFilterStateForTest(l *Ledger) (started, ready bool, filters int) {
	l.ids.mu.RLock()
	defer l.ids.mu.RUnlock()
	return l.ids.started.Load(), l.ids.ready.Load(), len(l.ids.filters)
}

// SetIDFilterAfterSegForTest makes the filter's build call fn after each
// segment it adds (set before the first append of the handle).
func SetIDFilterAfterSegForTest(l *Ledger, fn func(done int)) { l.ids.afterSeg = fn }
