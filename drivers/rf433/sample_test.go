package rf433

import (
	"os"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/internal/drivertest"
)

// TestSampleConfig loads sample.yaml as a whole config with the gateway's
// loader (strict, as `edgegw validate` does) and builds the input.
func TestSampleConfig(t *testing.T) {
	b, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("sample.yaml", append([]byte("gateway: {id: t}\n"), b...))
	if err == nil {
		err = config.CheckDrivers(cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(edge.Env{Name: cfg.Inputs[0].Name}, cfg.InputOptions(0))
	if err != nil {
		t.Fatal(err)
	}
	drv := d.(*Driver)
	i, st := drv.mapper.lookup(FrameSignal(Code{Value: 0x5A3C1B, Bytes: 3, KeyBits: 4}))
	if i != 0 || st[0] != StateTamper || drv.opts.Supervision.D().Hours() != 2 {
		t.Fatalf("sample: got device %d %v, options %+v", i, st, drv.opts)
	}
}

// TestReadmeSamples builds every config block of the README.
func TestReadmeSamples(t *testing.T) {
	if n := len(drivertest.ReadmeSamples(t)); n < 3 {
		t.Fatalf("README: %d inputs built, want the board, the bridge and rtl_433", n)
	}
}

func TestValidateErrors(t *testing.T) {
	for _, tc := range []struct{ yml, want string }{
		{"devices: [{id: a, codes: {A1: open}}]", "port: required"},
		{"port: /dev/x\nformat: nope\ndevices: [{id: a, codes: {A1: open}}]", "unknown format"},
		{"port: /dev/x\ndevices: []", "at least one device"},
		{"port: /dev/x\ndevices: [{id: a}]", "neither codes nor address"},
		{"port: /dev/x\ndevices: [{id: a, codes: {A1: open}}, {id: b, codes: {a1: close}}]", "already a"},
		{"port: /dev/x\ndevices: [{id: a, address: 5A3C1, keys: {E: Open!}}]", "state"},
		{"port: /dev/x\ndevices: [{id: a, address: xyz}]", "address"},
		{"port: /dev/x\nformat: custom\nframe: {header: FD}\ndevices: [{id: a, address: 1}]", "footer"},
		{"port: /dev/x\nsupervision: 10s\ndevices: [{id: a, address: 1}]", "supervision"},
		{"format: rtl433\nport: /dev/x\ndevices: [{id: a, address: \"M:1\"}]", "remove port"},
	} {
		_, err := New(edge.Env{}, drivertest.Options(tc.yml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: got %v, want an error with %q", tc.yml, err, tc.want)
		}
	}
}
