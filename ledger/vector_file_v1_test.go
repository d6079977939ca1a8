package ledger

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// encodeVecFileV1 builds a layout-1 vector file (what this package wrote
// before layout 2; it still reads them): data holds len(ords)*dim floats,
// ann is the approximate index section (nil: none).
func encodeVecFileV1(dim int, count uint64, ords []uint32, data []float32, ann []byte) []byte {
	n := len(ords)
	b := make([]byte, 0, vecHeaderSize+4*n+4*n*dim+len(ann)+8)
	b = append(b, vecMagic...)
	b = binary.LittleEndian.AppendUint16(b, vecVersion)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(dim))
	b = binary.LittleEndian.AppendUint64(b, count)
	b = binary.LittleEndian.AppendUint64(b, uint64(n))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(ann)))
	for _, o := range ords {
		b = binary.LittleEndian.AppendUint32(b, o)
	}
	b = appendFloats(b, data)
	b = append(b, ann...)
	return binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b))
}
