//go:build windows

package update

import (
	"strings"

	"github.com/edgegw/edgegw/edge"
)

// On Windows a pointer is a small file holding the version, written to a
// temporary file and renamed over the old one (os.Rename is MoveFileEx
// with MOVEFILE_REPLACE_EXISTING).
func writePointer(path, v string) error {
	return writeFileAtomic(path, []byte(v+"\n"), 0o640)
}

func readPointer(path string) (string, error) {
	b, err := edge.ReadFileLimit(path, maxRecord)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func syncDir(string) {}
