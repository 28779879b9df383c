package store

import "os"

// writeZeros writes size zero bytes to f, where the filesystem cannot
// allocate a file's blocks without writing them.
func writeZeros(f *os.File, size int64) error {
	buf := make([]byte, 1<<20)
	for size > 0 {
		n := min(size, int64(len(buf)))
		if _, err := f.Write(buf[:n]); err != nil {
			return err
		}
		size -= n
	}
	return nil
}
