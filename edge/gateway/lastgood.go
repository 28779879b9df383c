package gateway

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
)

const (
	lastGoodFile = "central-config.yaml"
	lastGoodMeta = "central-config.json"
)

type lastGoodInfo struct {
	Version string    `json:"version"`
	Applied time.Time `json:"applied"`
}

// saveLastGood keeps a config that was applied, atomically (write, fsync,
// rename), so that a restart comes back to it.
func saveLastGood(dir string, data []byte, version string, now time.Time) error {
	if err := writeAtomic(filepath.Join(dir, lastGoodFile), data); err != nil {
		return fmt.Errorf("keep last good config: %w", err)
	}
	meta, _ := json.Marshal(lastGoodInfo{Version: version, Applied: now.UTC()})
	return writeAtomic(filepath.Join(dir, lastGoodMeta), meta)
}

// LoadLastGood returns the config last pushed by the central platform and
// applied, if the data directory of local holds one and it still checks.
// The local file names the data directory, so it is read first.
func LoadLastGood(local *config.Config) (*config.Config, string, error) {
	path := filepath.Join(local.Store.Dir, lastGoodFile)
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return nil, "", nil
	}
	data, err := config.ReadFile(path) // bounded like every config file
	if err != nil {
		return nil, "", err
	}
	var info lastGoodInfo
	if b, err := edge.ReadFileLimit(filepath.Join(local.Store.Dir, lastGoodMeta), 1<<20); err == nil {
		_ = json.Unmarshal(b, &info)
	}
	cfg, err := config.Parse(path, data)
	if err != nil {
		return nil, "", err
	}
	if err := compatible(local, cfg); err != nil {
		return nil, "", err
	}
	if err := Check(cfg); err != nil {
		return nil, "", err
	}
	return cfg, info.Version, nil
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
