package ledger

import (
	"encoding/binary"
	"io"
	"math"
	"path/filepath"
	"sort"
	"sync"

	"github.com/cespare/xxhash/v2"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

// A segment's vector file, seg/<name>.vec, holds the vectors of the
// segment's events that have one (docs/format.md §10). Layout, all
// integers little-endian:
//
//	off  len  field
//	  0    8  magic "EXLVECS1"
//	  8    2  version (1)
//	 10    2  flags (0)
//	 12    4  dimension D (1..65536)
//	 16    8  events in the segment C
//	 24    8  vectors N (1..C)
//	 32    8  approximate-index section length A (0 = none)
//	 40   4N  ordinals (seq - first seq), strictly increasing, < C
//	  .  4ND  vectors, float32, in ordinal order, finite, nonzero norm
//	  .    A  approximate index (vector_ann.go)
//	  .    8  xxhash64 of every byte above
//
// The file size must be exactly 48 + 4N + 4ND + A. The vectors are not in
// the hash chain (the chain covers canonical events only); the checksum
// covers every byte and Verify recomputes it.
const (
	vecMagic      = "EXLVECS1"
	vecVersion    = 1
	vecHeaderSize = 40
	vecExt        = ".vec"
)

// vecSet is a decoded vector file.
type vecSet struct {
	dim      int
	count    uint64   // events in the segment
	ords     []uint32 // strictly increasing
	data     []float32
	norms    []float32
	ann      *annIndex // nil: exact scans only
	size     int64     // file bytes
	annBytes int64     // approximate-index section bytes
	layout   int       // the file's layout (1 or 2)
}

func (s *vecSet) vec(i int) []float32 { return s.data[i*s.dim : (i+1)*s.dim : (i+1)*s.dim] }

// find returns the position of ordinal o.
func (s *vecSet) find(o uint32) (int, bool) {
	i := sort.Search(len(s.ords), func(i int) bool { return s.ords[i] >= o })
	return i, i < len(s.ords) && s.ords[i] == o
}

// encodeVecFile builds a vector file (layout 2, without an index: rows in
// event order). data holds len(ords)*dim floats.
func encodeVecFile(dim int, count uint64, ords []uint32, data []float32) []byte {
	return ordinalRows(dim, count, ords, data).bytesOf()
}

// decodeVecFile checks and decodes a vector file (the set it returns may
// keep b: the caller must not modify b afterwards). wantDim, wantCount and
// wantN, when nonzero, are what the manifest says the file holds. It
// allocates only after the size and checksum are checked, and never more
// than the input's size justifies.
func decodeVecFile(path string, b []byte, wantDim int, wantCount, wantN uint64) (*vecSet, error) {
	if len(b) < vecHeaderSize+8 {
		return nil, corrupt.New(path, 0, "vector file too short (%d bytes)", len(b))
	}
	if string(b[:8]) != vecMagic {
		return nil, corrupt.New(path, 0, "bad vector file magic")
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != vecVersion {
		return nil, corrupt.New(path, 8, "vector file version %d", v)
	}
	if f := binary.LittleEndian.Uint16(b[10:]); f != 0 {
		return nil, corrupt.New(path, 10, "vector file flags %#x", f)
	}
	dim := uint64(binary.LittleEndian.Uint32(b[12:]))
	count := binary.LittleEndian.Uint64(b[16:])
	n := binary.LittleEndian.Uint64(b[24:])
	annLen := binary.LittleEndian.Uint64(b[32:])
	if dim == 0 || dim > maxEmbeddingDim {
		return nil, corrupt.New(path, 12, "vector dimension %d", dim)
	}
	size := uint64(len(b))
	if n == 0 || n > count || n > size/4 || annLen > size {
		return nil, corrupt.New(path, 24, "%d vectors for %d events in %d bytes", n, count, size)
	}
	if want := vecHeaderSize + 4*n + 4*n*dim + annLen + 8; n > size/(4*dim) || want != size {
		return nil, corrupt.New(path, 0, "vector file is %d bytes, its header describes %d", size, want)
	}
	if got, want := xxhash.Sum64(b[:size-8]), binary.LittleEndian.Uint64(b[size-8:]); got != want {
		return nil, corrupt.New(path, int64(size-8), "vector file checksum mismatch")
	}
	if (wantDim != 0 && uint64(wantDim) != dim) || (wantCount != 0 && wantCount != count) || (wantN != 0 && wantN != n) {
		return nil, corrupt.New(path, 12, "vector file holds %d vectors of dimension %d for %d events; the manifest says %d of dimension %d for %d",
			n, dim, count, wantN, wantDim, wantCount)
	}
	s := &vecSet{dim: int(dim), count: count, ords: make([]uint32, n), norms: make([]float32, n), size: int64(size)}
	off := uint64(vecHeaderSize)
	for i := range s.ords {
		o := binary.LittleEndian.Uint32(b[off:])
		if uint64(o) >= count || (i > 0 && o <= s.ords[i-1]) {
			return nil, corrupt.New(path, int64(off), "vector ordinal %d out of order or beyond %d events", o, count)
		}
		s.ords[i] = o
		off += 4
	}
	// The floats stay in b when they can (the set then keeps b: callers
	// never modify it afterwards), else they are copied.
	if d, ok := aliasFloats(b, int(off), int(n*dim)); ok {
		s.data = d
	} else {
		s.data = make([]float32, n*dim)
		copyFloats(s.data, b[off:off+4*n*dim])
	}
	for i := range s.norms {
		// A NaN or infinite value makes the norm NaN or +Inf (see
		// checkVector): only then are the values looked at one by one.
		v := s.vec(i)
		nn := norm32(v)
		if math.IsNaN(float64(nn)) || math.IsInf(float64(nn), 0) {
			for j, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					return nil, corrupt.New(path, int64(off)+4*int64(i*int(dim)+j), "vector value is NaN or infinite")
				}
			}
		}
		if nn == 0 || math.IsInf(float64(nn), 0) {
			return nil, corrupt.New(path, int64(off)+4*int64(i*int(dim)), "vector %d has a zero or overflowing norm", i)
		}
		s.norms[i] = nn
	}
	off += 4 * n * dim
	if annLen > 0 {
		ann, err := decodeANN(path, int64(off), b[off:off+annLen], s)
		if err != nil {
			return nil, err
		}
		s.ann = ann
		s.annBytes = int64(annLen)
	}
	return s, nil
}

// segVectors is a sealed segment's vector file, loaded on first use and
// kept in memory.
type segVectors struct {
	fs    vfs.FS
	path  string
	dim   int
	count uint64
	n     uint64
	cache *vecCache
	mu    sync.Mutex
	// layout is the file's layout (0: not known yet); a layout-2 file's
	// directory is dir, its blocks are read on demand (vector_blocks.go),
	// and gen (bumped when the indexer replaces the file) keys them in
	// the cache. A layout-1 file is read whole into set.
	layout int
	dir    *vecDir
	gen    uint32
	set    *vecSet
	// ixState: what is known of the file's approximate index
	// (vector_indexer.go).
	ixState int
}

// segVectorsOf returns the vector file handle of a manifest segment (nil
// when it has no vectors).
func (l *Ledger) segVectorsOf(ms manifestSeg) *segVectors {
	if ms.Vectors == 0 {
		return nil
	}
	return &segVectors{fs: l.fs, path: l.segPath(ms.Name, vecExt), dim: l.man.Load().EmbeddingDim, count: ms.Count, n: ms.Vectors, cache: l.vecCacheOf()}
}

// load reads and checks the whole file and returns its vectors in event
// order. A layout-1 file's set is kept (the next call returns it); a
// layout-2 file is read again at each call (its users, the indexer,
// compaction and repair, read each file once; searches read blocks). A
// failure is not cached: the next call tries again.
func (v *segVectors) load() (*vecSet, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.set != nil {
		return v.set, nil
	}
	s, err := loadVecFile(v.fs, v.path, v.dim, v.count, v.n)
	if err != nil {
		return nil, err
	}
	if s.layout == 1 {
		v.set = s
	}
	return s, nil
}

// readWhole reads a file of any size (its size bounds the allocation).
func readWhole(fsys vfs.FS, path string) ([]byte, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	if size == 0 {
		return buf, nil
	}
	if n, err := f.ReadAt(buf, 0); err != nil && !(err == io.EOF && n == len(buf)) {
		return nil, err
	}
	return buf, nil
}

// writeVecFile writes a vector file atomically (temp, fsync, rename,
// directory fsync).
func writeVecFile(fsys vfs.FS, path string, data []byte) error {
	return writeFileAtomic(fsys, filepath.Dir(path), filepath.Base(path), data)
}

// vecFileOf collects the vectors of a run of events into a vector file
// (without an approximate index: the background indexer adds it later,
// vector_indexer.go):
// vecs[i] is the vector of ordinal i (nil for none). It returns nil when
// no event has one.
func vecFileOf(dim int, count uint64, vecs [][]float32) (data []byte, n uint64) {
	w := memtableRows(dim, count, vecs)
	if w == nil {
		return nil, 0
	}
	return w.bytesOf(), uint64(len(w.rowOrd))
}

// memtableRows is the vecRows of a run of events (vecs[i]: the vector of
// ordinal i, nil for none), in event order; nil when none has a vector.
func memtableRows(dim int, count uint64, vecs [][]float32) *vecRows {
	var ords []uint32
	for i, v := range vecs {
		if v != nil {
			ords = append(ords, uint32(i))
		}
	}
	if len(ords) == 0 {
		return nil
	}
	return &vecRows{dim: dim, count: count, rowOrd: ords, row: func(r int) []float32 { return vecs[ords[r]] }}
}

// loadVecFile reads and decodes a vector file.
func loadVecFile(fsys vfs.FS, path string, dim int, count, n uint64) (*vecSet, error) {
	b, err := readWhole(fsys, path)
	if err != nil {
		if isNotExist(err) {
			return nil, corrupt.New(path, 0, "vector file is missing (the manifest lists %d vectors)", n)
		}
		return nil, err
	}
	if isVec2(b) {
		s, err := decodeVec2(path, b, dim, count, n)
		if s != nil {
			s.layout = 2
		}
		return s, err
	}
	s, err := decodeVecFile(path, b, dim, count, n)
	if s != nil {
		s.layout = 1
	}
	return s, err
}

// salvageVectors writes the vector file of a segment Repair rewrote from
// the first count events (from ordinal skip on) of a damaged segment whose
// vectors vs were sound (nil: none kept). It returns how many it wrote.
func salvageVectors(fsys vfs.FS, path string, dim int, vs *vecSet, skip, count uint64) (uint64, error) {
	if vs == nil {
		return 0, nil
	}
	var ords []uint32
	var flat []float32
	for i, o := range vs.ords {
		if uint64(o) < skip || uint64(o)-skip >= count {
			continue
		}
		ords = append(ords, uint32(uint64(o)-skip))
		flat = append(flat, vs.vec(i)...)
	}
	if len(ords) == 0 {
		return 0, nil
	}
	if err := writeVecFile(fsys, path, encodeVecFile(dim, count, ords, flat)); err != nil {
		return 0, err
	}
	return uint64(len(ords)), nil
}

// sizes returns the file's size and its approximate-index section's,
// from the loaded set or else from the file's header (without loading
// it). Errors give zeros: Stat reports, Verify checks.
func (v *segVectors) sizes() (file, ann int64) {
	v.mu.Lock()
	set, dir := v.set, v.dir
	v.mu.Unlock()
	if set != nil {
		return set.size, set.annBytes
	}
	if dir != nil {
		return dir.size, dir.annBytes
	}
	file, ann, _ = v.header()
	return file, ann
}

// header reads the file's size and the approximate-index bytes its
// header declares (ok false: the file or its header cannot be read), and
// whether it is a layout-2 file with an index.
func (v *segVectors) header() (file, ann int64, ok bool) {
	file, ann, _, ok = v.headerInfo()
	return file, ann, ok
}

func (v *segVectors) headerInfo() (file, ann int64, layout int, ok bool) {
	f, err := v.fs.Open(v.path)
	if err != nil {
		return 0, 0, 0, false
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return 0, 0, 0, false
	}
	var h [vec2HeaderSize]byte
	if n, err := f.ReadAt(h[:], 0); n != len(h) && err != nil {
		return size, 0, 0, false
	}
	if isVec2(h[:]) {
		d, _, err := decodeVecHeader2(v.path, h[:], size, 0, 0, 0)
		if err != nil {
			return size, 0, 2, false
		}
		return size, d.annBytes, 2, true
	}
	return size, int64(min(binary.LittleEndian.Uint64(h[32:]), uint64(size))), 1, true
}
