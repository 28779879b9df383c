package modbus

import (
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/internal/drivertest"
)

// TestReadmeSampleValidates parses every sample block as a whole config with
// the gateway's loader, builds its drivers as `edgegw validate` does, and
// checks what the modbus driver made of it.
func TestReadmeSampleValidates(t *testing.T) {
	var inputs, outputs int
	for _, b := range drivertest.ReadmeSamples(t) {
		if !b.Input {
			outputs++
			continue
		}
		d := b.Value.(edge.Driver)
		devs := d.Devices()
		if len(devs) != 3 || devs[2].ID != "b3-di" || devs[2].Location != "sunrise/b3/u2" || devs[0].Driver != "rs485-1" {
			t.Errorf("devices: %+v", devs)
		}
		md := d.(*Driver)
		if len(md.groups) != 2 || md.groups[1].interval.Seconds() != 30 || md.line.Parity != "none" || md.tx.Timeout.Milliseconds() != 300 {
			t.Errorf("groups/line: %+v %+v %+v", md.groups, md.line, md.tx)
		}
		inputs++
	}
	if inputs != 1 || outputs != 2 {
		t.Fatalf("checked %d inputs and %d outputs, want 1 and 2", inputs, outputs)
	}
}

// TestConfigErrorsNameLine: a mistake in the options, found by the driver,
// comes back from the loader with the file:line of the field.
func TestConfigErrorsNameLine(t *testing.T) {
	data := `gateway:
  id: t
inputs:
  - name: rs485-1
    driver: modbus
    options:
      port: /dev/ttyUSB0
      devices:
        - id: meter
          slave: 1
          points:
            - {name: v, table: holding, address: 0, type: int64}
`
	cfg, err := config.Parse("site.yaml", []byte(data))
	if err == nil {
		err = config.CheckDrivers(cfg)
	}
	if err == nil || !strings.Contains(err.Error(), "site.yaml:12") || !strings.Contains(err.Error(), "int64") {
		t.Fatalf("got %v, want an error at site.yaml:12 naming int64", err)
	}
	cfg, err = config.Parse("site.yaml", []byte(strings.Replace(data, "port:", "baudrate: 9600\n      port:", 1)))
	if err == nil {
		err = config.CheckDrivers(cfg)
	}
	if err == nil || !strings.Contains(err.Error(), "site.yaml:7") || !strings.Contains(err.Error(), "baudrate") {
		t.Fatalf("got %v, want an error at site.yaml:7 naming baudrate", err)
	}
}
