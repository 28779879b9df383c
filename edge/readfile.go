package edge

import (
	"fmt"
	"io"
	"os"
)

// ReadFileLimit reads the whole file at path when it holds at most limit
// bytes. A bigger file is an error naming it, never a partial read: the
// small files the gateway keeps (tokens, pointers, trial records, pushed
// configs) are read whole or not at all, and a file that grew by mistake
// or by malice costs at most limit+1 bytes of memory. (sync/wire, which
// imports nothing of this project, has its own.)
func ReadFileLimit(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}
