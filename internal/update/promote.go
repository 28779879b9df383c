package update

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/edgegw/edgegw/sync/wire"
)

// promoteInstalled puts the executable src in the place of the installed
// binary while that binary runs, by the rename-the-running-exe method that
// Windows allows (it refuses to overwrite or delete a running .exe, but
// not to rename it): installed is renamed to installed+".old", then src is
// copied into its place (a temporary file renamed over the name). A
// failure after the first rename puts the old binary back. An .old left by an earlier promotion is
// removed first when it can be (it cannot while it still runs: then the
// new one gets a numbered name).
//
// The loader promotes on Windows only (promoteOnCommit): there the
// service's executable lives in a folder the service may write, and the
// committed version becomes what the Service Control Manager starts, so
// the loader itself is updated too. On Linux the installed binary belongs
// to the package manager (/usr/bin is read-only to the sandboxed service)
// and the loader runs the committed version from the update directory.
func promoteInstalled(installed, src string) (old string, err error) {
	if installed == "" || src == "" {
		return "", errors.New("promote: no installed binary or no source")
	}
	old = installed + ".old"
	if err := os.Remove(old); err != nil && !errors.Is(err, os.ErrNotExist) {
		for i := 1; ; i++ {
			old = fmt.Sprintf("%s.old%d", installed, i)
			if _, err := os.Stat(old); errors.Is(err, os.ErrNotExist) {
				break
			}
			if i == 9 {
				return "", fmt.Errorf("promote: %s and 9 more .old files are in the way", installed+".old")
			}
		}
	}
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("promote: %w", err)
	}
	defer in.Close()
	if err := os.Rename(installed, old); err != nil {
		return "", fmt.Errorf("promote: rename the running binary: %w", err)
	}
	if err := wire.WriteFileAtomicFrom(installed, io.LimitReader(in, wire.MaxArtifact+1), 0o755); err != nil {
		if rerr := os.Rename(old, installed); rerr != nil {
			return "", fmt.Errorf("promote: %w; and putting the old binary back failed: %w", err, rerr)
		}
		return "", fmt.Errorf("promote: %w (the old binary is back)", err)
	}
	dir := filepath.Dir(installed)
	syncDir(dir)
	return old, nil
}
