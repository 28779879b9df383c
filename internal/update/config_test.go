package update

import (
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/sync/wire"
)

func TestKeys(t *testing.T) {
	_, pub, err := wire.GenerateReleaseKey()
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := wire.GenerateReleaseKey()
	forged := "ed25519:" + other.ID + ":" + strings.SplitN(pub.String(), ":", 3)[2] // another key's id
	cfg, err := config.Parse("x.yaml", []byte("gateway:\n  id: gw1\nupdate:\n  keys:\n    - "+pub.String()+"\n    - "+forged+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Keys(cfg)
	if err == nil || !strings.Contains(err.Error(), "x.yaml:6:7: update.keys[1]: release public key: key id") {
		t.Fatalf("got %v, want the forged key's file:line", err)
	}
	cfg.Update.Keys = cfg.Update.Keys[:1]
	keys, err := Keys(cfg)
	if err != nil || len(keys) != 1 || keys[0].ID != pub.ID {
		t.Fatalf("got %v, %v", keys, err)
	}
}
