// Command mkzip writes a zip from name=path pairs, with fixed timestamps so
// the same inputs give the same zip (the Windows package).
//
// It is in the packaging module (packaging/go.mod). From the repository root:
//
//	go -C packaging build -o ../dist/.tools/mkzip ./cmd/mkzip
//	dist/.tools/mkzip -o dist/edgegw-1.2.3-windows-amd64.zip \
//	    edgegw/edgegw.exe=dist/edgegw-windows-amd64.exe edgegw/install.ps1=packaging/windows/install.ps1
package main

import (
	"archive/zip"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

func main() {
	out := flag.String("o", "", "output zip file")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: mkzip -o FILE name=path...")
		os.Exit(2)
	}
	if err := write(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "mkzip:", err)
		os.Remove(*out)
		os.Exit(1)
	}
}

func write(out string, pairs []string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range pairs {
		name, path, ok := strings.Cut(p, "=")
		if !ok || name == "" || path == "" {
			return fmt.Errorf("bad pair %q: want name=path", p)
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: mtime})
		if err == nil {
			_, err = io.Copy(w, src)
		}
		src.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}
