package config_test

import (
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge/config"
)

// The store's disk reserve and memory budget: defaults, and what is refused.
func TestStoreReserveAndBudget(t *testing.T) {
	cfg := parse(t, "gateway:\n  id: gw1\n")
	if cfg.Store.DiskReserve != 0 || cfg.Store.MemoryBudget != config.DefaultMemoryBudget {
		t.Errorf("defaults: disk_reserve %v, memory_budget %v; want 0 (automatic) and %v",
			cfg.Store.DiskReserve, cfg.Store.MemoryBudget, config.DefaultMemoryBudget)
	}
	cfg = parse(t, "gateway: {id: gw1}\nstore: {disk_reserve: 100MiB, memory_budget: 48MiB}\n")
	if cfg.Store.DiskReserve != 100<<20 || cfg.Store.MemoryBudget != 48<<20 {
		t.Errorf("got disk_reserve %v, memory_budget %v", cfg.Store.DiskReserve, cfg.Store.MemoryBudget)
	}
	for _, tc := range []struct{ src, want string }{
		{"store: {disk_reserve: 8MiB}", "gw.yaml:3:9: store.disk_reserve: disk_reserve 8MiB is too small: at least 24MiB"},
		{"store: {memory_budget: 16MiB}", "gw.yaml:3:9: store.memory_budget: memory_budget 16MiB is too small: at least 32MiB"},
	} {
		_, err := config.Parse("gw.yaml", []byte("gateway:\n  id: gw1\n"+tc.src+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.src, err, tc.want)
		}
	}
}
