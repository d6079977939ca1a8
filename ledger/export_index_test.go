package ledger

import (
	"path/filepath"
	"strings"

	"github.com/exledger/exledger/index"
	"github.com/exledger/exledger/segment"
	"github.com/exledger/exledger/vfs"
)

// RewriteIndexesV1 rewrites the index file of every segment of a closed
// ledger in index format version 1, as a writer before version 2 left
// them (for tests). It returns how many it rewrote.
func RewriteIndexesV1(dir string) (int, error) {
	segs, err := filepath.Glob(filepath.Join(dir, segDirName, "*.seg"))
	if err != nil {
		return 0, err
	}
	for _, p := range segs {
		r, err := segment.Open(vfs.OS, p, nil)
		if err != nil {
			return 0, err
		}
		data, err := buildIndexVersion(r, 1)
		r.Close()
		if err != nil {
			return 0, err
		}
		if err := index.WriteFile(vfs.OS, strings.TrimSuffix(p, ".seg")+".idx", data); err != nil {
			return 0, err
		}
	}
	return len(segs), nil
}
