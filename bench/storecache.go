package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// The -store-cache directory keeps the query stores of a run with a single
// size (-sizes one value) for later runs: building SQLite at 10M takes the
// better part of an hour on this machine. Each engine's store is the
// directory bench-<engine>[-<seal layout>]-seed42-n<size>; the JSON file
// beside it, written once the store is complete, holds the query
// parameters and corpus facts a run would otherwise get from the stream.
// An engine whose store is complete is not rebuilt; when every engine's
// is, the corpus is not generated at all. Delete a store (or its .json) to
// rebuild it.

// storeMeta is the JSON beside a cached store.
type storeMeta struct {
	Size                     int
	SelTenant, SelKind       string
	SelWant                  int
	Sel1Tenant, Sel1Kind     string
	Sel1Want                 int
	TRTenant, TRStart, TREnd string
	TRWant                   int
	Traces                   []string
	JSONBytes, CanonBytes    int64
	BuildRate                float64 // events/s of the build that made it
}

func storeCacheDir(root, engine string, size int) string {
	name := "bench-" + engine
	if engine == "exledger" {
		// The layout the store was built with, not the flag: the default
		// changed from log to clustered, and a store cached by an older
		// binary under "default" must not be taken for a clustered one.
		name += "-" + sealLayout.Resolved().String()
	}
	return filepath.Join(root, fmt.Sprintf("%s-seed%d-n%d", name, corpusSeed, size))
}

// loadStoreMeta returns the metadata of the complete store in dir, or
// false.
func loadStoreMeta(dir string, size int) (storeMeta, bool) {
	var m storeMeta
	raw, err := os.ReadFile(dir + ".json")
	if err != nil || json.Unmarshal(raw, &m) != nil || m.Size != size {
		return m, false
	}
	if _, err := os.Stat(dir); err != nil {
		return m, false
	}
	return m, true
}

func writeStoreMeta(dir string, q queries, st *stream, rate float64) error {
	m := storeMeta{
		Size: q.size, SelTenant: q.selTenant, SelKind: q.selKind, SelWant: q.selWant,
		Sel1Tenant: q.sel1Tenant, Sel1Kind: q.sel1Kind, Sel1Want: q.sel1Want,
		TRTenant: q.trTenant, TRStart: q.trStart, TREnd: q.trEnd, TRWant: q.trWant,
		Traces: q.traces, JSONBytes: st.jsonBytes, CanonBytes: st.canonBytes, BuildRate: rate,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := dir + ".json.tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, dir+".json")
}

func (m *storeMeta) queries() queries {
	return queries{
		size: m.Size, selTenant: m.SelTenant, selKind: m.SelKind, selWant: m.SelWant,
		sel1Tenant: m.Sel1Tenant, sel1Kind: m.Sel1Kind, sel1Want: m.Sel1Want,
		trTenant: m.TRTenant, trStart: m.TRStart, trEnd: m.TREnd, trWant: m.TRWant,
		traces: m.Traces,
	}
}
