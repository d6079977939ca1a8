package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

// maxSalvageBytes bounds the file size SalvageFile reads into memory when
// the footer is unusable.
const maxSalvageBytes = 4 << 30

// Salvaged is what SalvageFile recovered from a (possibly damaged) segment.
type Salvaged struct {
	// FooterOK reports that the trailer and footer verified; Info,
	// Checkpoints and every BadBlock's seq range then come from the footer.
	FooterOK  bool
	FooterErr error // why the footer was not usable (nil if FooterOK)
	Info      Info  // the footer's summary (zero unless FooterOK)
	// Records are the records of every block that verified (checksum,
	// header, decompression, framing and, with a footer, its entry and
	// the seq map), sorted by seq, each seq once; Data is a copy, Time
	// is empty.
	Records []Record
	// Checkpoints are the stored chain values a verified footer holds: the
	// value after each block's last record (ordered) or the writer's
	// checkpoints (unordered). Values of damaged blocks are included: the
	// footer's checksum covers them. Nil without a usable footer.
	Checkpoints []Checkpoint
	// GoodBlocks counts the blocks that verified.
	GoodBlocks int
	// BadBlocks lists what did not verify.
	BadBlocks []BadBlock
	// Dropped counts records dropped because two verifying blocks (found
	// without a footer) disagree about a seq.
	Dropped int
}

// BadBlock is a damaged block (with a footer) or a damaged byte range
// (without one).
type BadBlock struct {
	Offset, Length int64
	// Known is true when the footer says which seqs the block held: then
	// FirstSeq and Count are the footer entry's (an unordered block's seqs
	// are the map's entries equal to its index).
	Known    bool
	Index    int // block number (-1 without a footer)
	FirstSeq uint64
	Count    uint32
	Reason   string
}

// SalvageFile reads every verifying block of the segment at path, for
// repair. With a verifying trailer and footer it walks the footer's block
// entries, checking each block exactly as a Reader does; otherwise it scans
// the file for block magic and keeps each block whose header is sane and
// whose xxhash64, decompression and record framing verify. It returns an
// error only for I/O failures; damage is described in the result.
func SalvageFile(fsys vfs.FS, path string) (*Salvaged, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, fmt.Errorf("segment: salvage %s: %w", path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("segment: salvage: size of %s: %w", path, err)
	}
	s := &Salvaged{}
	r, oerr := openReaderAt(path, nopCloser{f}, size, nil)
	if oerr == nil {
		s.FooterOK = true
		s.Info = r.info
		s.Checkpoints = r.Checkpoints()
		ft := r.foot.Load() // parsed by openReaderAt
		for i := range ft.blocks {
			b, err := r.loadBlockInto(ft, i, nil)
			if err != nil {
				if !errors.Is(err, corrupt.ErrCorrupt) {
					return nil, err
				}
				bi := ft.blocks[i]
				s.BadBlocks = append(s.BadBlocks, BadBlock{Offset: bi.Offset, Length: int64(bi.Length), Known: true,
					Index: i, FirstSeq: bi.FirstSeq, Count: bi.Count, Reason: err.Error()})
				continue
			}
			s.GoodBlocks++
			s.addBlock(b)
		}
		s.sortRecords()
		return s, nil
	}
	if !errors.Is(oerr, corrupt.ErrCorrupt) {
		return nil, oerr
	}
	s.FooterErr = oerr
	if size > maxSalvageBytes {
		return nil, fmt.Errorf("segment: salvage %s: %d bytes is more than the %d a footerless scan reads", path, size, int64(maxSalvageBytes))
	}
	buf := make([]byte, size)
	if err := readFull(f, buf, 0); err != nil {
		return nil, fmt.Errorf("segment: salvage: read %s: %w", path, err)
	}
	s.scan(path, buf)
	s.sortRecords()
	return s, nil
}

type nopCloser struct{ readerAtCloser }

func (nopCloser) Close() error { return nil }

// scan finds verifying blocks in a segment file without its footer.
func (s *Salvaged) scan(path string, buf []byte) {
	var badFrom int64 = -1
	pos := 0
	endBad := func(at int) {
		if badFrom >= 0 {
			s.BadBlocks = append(s.BadBlocks, BadBlock{Offset: badFrom, Length: int64(at) - badFrom, Index: -1,
				Reason: "bytes holding no verifying block"})
			badFrom = -1
		}
	}
	for pos+minBlockLen <= len(buf) {
		if b, n := tryBlock(path, buf, pos); b != nil {
			endBad(pos)
			s.GoodBlocks++
			s.addBlock(b)
			pos += n
			continue
		}
		if badFrom < 0 {
			badFrom = int64(pos)
		}
		next := bytes.Index(buf[pos+1:], []byte(blockMagic))
		if next < 0 {
			break
		}
		pos += 1 + next
	}
	// The tail (footer and trailer, or garbage) holds no block; it is
	// reported only if it does not start right after the last good block
	// with a footer magic.
	if badFrom >= 0 {
		endBad(len(buf))
	}
}

// tryBlock decodes the block starting at buf[pos] if it verifies; it
// returns the block and its length, or nil.
func tryBlock(path string, buf []byte, pos int) (*Block, int) {
	rest := buf[pos:]
	if len(rest) < minBlockLen || string(rest[:4]) != blockMagic {
		return nil, 0
	}
	slen := int(binary.LittleEndian.Uint32(rest[16:]))
	m := int(rest[32])
	if 33+m >= len(rest) || slen > MaxBlockBytes {
		return nil, 0
	}
	n := int(rest[33+m])
	total := blockFixedHeader + m + n + slen + blockChecksumLen
	if total > len(rest) || total > maxBlockLen {
		return nil, 0
	}
	c := blockCheck{file: path, off: int64(pos), index: -1, unordered: rest[5]&flagUnordered != 0}
	b, err := decodeBlock(rest[:total], &c)
	if err != nil {
		return nil, 0
	}
	return b, total
}

func (s *Salvaged) addBlock(b *Block) {
	for j := 0; j < b.Len(); j++ {
		rec := b.Record(j)
		s.Records = append(s.Records, Record{Seq: rec.Seq, Data: bytes.Clone(rec.Data)})
	}
}

// sortRecords sorts by seq and removes duplicates: identical copies are
// merged, disagreeing ones dropped (counted in Dropped).
func (s *Salvaged) sortRecords() {
	slices.SortStableFunc(s.Records, func(a, b Record) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	out := s.Records[:0]
	for i := 0; i < len(s.Records); {
		j := i + 1
		same := true
		for j < len(s.Records) && s.Records[j].Seq == s.Records[i].Seq {
			same = same && bytes.Equal(s.Records[j].Data, s.Records[i].Data)
			j++
		}
		if same {
			out = append(out, s.Records[i])
		} else {
			s.Dropped += j - i
		}
		i = j
	}
	s.Records = out
}
