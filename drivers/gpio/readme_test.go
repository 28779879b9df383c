package gpio

import (
	"testing"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/drivertest"
)

// TestReadmeSampleValidates parses every sample block as a whole config with
// the gateway's loader (config.Parse, strict, file:line errors) and builds
// its inputs and outputs as `edgegw validate` does (config.CheckDrivers).
func TestReadmeSampleValidates(t *testing.T) {
	seen := map[string]int{}
	for _, b := range drivertest.ReadmeSamples(t) {
		if !b.Input {
			seen["out:"+b.Driver]++
			continue
		}
		if devs := b.Value.(edge.Driver).Devices(); len(devs) != 2 || devs[0].Driver != b.Name || devs[0].Location == "" {
			t.Errorf("input %q devices: %+v", b.Name, devs)
		}
		seen["in:"+b.Driver]++
	}
	for _, k := range []string{"in:gpio", "out:gpio", "in:modemlines", "out:modemlines"} {
		if seen[k] != 1 {
			t.Errorf("README: %d samples of %s, want 1", seen[k], k)
		}
	}
}
