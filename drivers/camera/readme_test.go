package camera_test

import (
	"os"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/drivers/camera"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/internal/drivertest"
)

// TestReadmeSample: the README's config block validates and builds.
func TestReadmeSample(t *testing.T) {
	built := drivertest.ReadmeSamples(t)
	if len(built) != 1 || len(built[0].Value.(*camera.Driver).Devices()) != 4 {
		t.Fatalf("README built %+v", built)
	}
}

// TestSampleYAML: sample.yaml is a whole config that `edgegw validate`
// accepts, and its input builds.
func TestSampleYAML(t *testing.T) {
	b, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("sample.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	if err := config.CheckDrivers(cfg); err != nil {
		t.Fatal(err)
	}
	f, err := edge.LookupDriver("camera")
	if err != nil {
		t.Fatal(err)
	}
	d, err := f(edge.Env{Name: cfg.Inputs[0].Name}, cfg.InputOptions(0))
	if err != nil {
		t.Fatal(err)
	}
	devs := d.Devices()
	if len(devs) != 4 || devs[0].ID != "cam-b5-roof" || devs[0].Type != "camera" {
		t.Errorf("got devices %+v", devs)
	}
}

// TestBadOptions: mistakes are refused naming the field.
func TestBadOptions(t *testing.T) {
	for _, tc := range []struct{ yaml, field string }{
		{`cameras: []`, "cameras"},
		{`{cameras: [{id: a, address: 10.0.0.1, devices: [{id: d, events: [{type: x}]}]}]}`, "listen"},
		{`{listen: ":1", cameras: [{id: a, devices: [{id: d, events: [{type: x}]}]}]}`, "cameras[0].address"},
		{`{listen: ":1", cameras: [{id: a, address: cam.local, devices: [{id: d, events: [{type: x}]}]}]}`, "cameras[0].address"},
		{`{cameras: [{id: a, pull: onvif, address: h, devices: [{id: d, events: [{type: x}]}]}]}`, "cameras[0].pull"},
		{`{cameras: [{id: a, pull: isapi, devices: [{id: d, events: [{type: x}]}]}]}`, "cameras[0].address"},
		{`{cameras: [{id: a, pull: dahua, url: "ftp://x", devices: [{id: d, events: [{type: x}]}]}]}`, "cameras[0].url"},
		{`{cameras: [{id: a, pull: isapi, address: h, user: u, devices: [{id: d, events: [{type: x}]}]}]}`, "cameras[0].password"},
		{`{cameras: [{id: a, pull: isapi, address: h, devices: [{id: d, events: []}]}]}`, "cameras[0].devices[0].events"},
		{`{cameras: [{id: a, pull: isapi, address: h, devices: [{id: d, channel: -1, events: [{type: x}]}]}]}`, "cameras[0].devices[0].channel"},
		{`{cameras: [{id: a, pull: isapi, address: h, devices: [{id: d, events: [{type: x}]}, {id: d, events: [{type: y}]}]}]}`, "cameras[0].devices[1].id"},
		{`{cameras: [{id: a, pull: isapi, address: h, devices: [{id: d, events: [{type: x}]}, {id: e, events: [{type: X}]}]}]}`, "cameras[0].devices[1].events[0].type"},
		{`{max_body: 10GiB, cameras: [{id: a, pull: isapi, address: h, devices: [{id: d, events: [{type: x}]}]}]}`, "max_body"},
		{`{hold: 1ms, cameras: [{id: a, pull: isapi, address: h, devices: [{id: d, events: [{type: x}]}]}]}`, "hold"},
		{`{pictures: {max_files: -1}, cameras: [{id: a, pull: isapi, address: h, devices: [{id: d, events: [{type: x}]}]}]}`, "pictures.max_files"},
	} {
		_, err := camera.New(edge.Env{}, drivertest.Options(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), "options."+tc.field+":") {
			t.Errorf("%s: got %v, want an error naming %s", tc.yaml, err, tc.field)
		}
	}
}
