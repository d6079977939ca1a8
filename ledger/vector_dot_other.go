//go:build !amd64 || purego

package ledger

// dot32 is the float32 dot product every search path uses (MemStore, the
// exact scan, the approximate index's build and re-ranking), so a query
// gives the same distances whichever path answers it.
func dot32(a, b []float32) float32 { return dot32Go(a, b) }
