package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/sync/wire"
)

func TestReleaseKeyFile(t *testing.T) {
	_, pub, err := wire.GenerateReleaseKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "keys")
	os.WriteFile(good, []byte("# release keys\n\n"+pub.String()+"\n"), 0o644)
	keys, err := releaseKeys(good)
	if err != nil || len(keys) != 1 || keys[0].ID != pub.ID {
		t.Fatalf("keys %+v, %v", keys, err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte(pub.String()+"\ned25519:0011:AAAA\n"), 0o644)
	if _, err := releaseKeys(bad); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("bad key file: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("# none\n"), 0o644)
	if _, err := releaseKeys(empty); err == nil {
		t.Error("a key file without keys is accepted")
	}
	if keys, err := releaseKeys(""); err != nil || keys != nil {
		t.Errorf("no file: %v %v", keys, err)
	}
}
