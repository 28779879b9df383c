//go:build !unix

package store

import "io/fs"

// fileBytes is the length of a file (allocated size is not portable).
func fileBytes(fi fs.FileInfo) int64 { return fi.Size() }
