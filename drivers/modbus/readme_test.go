package modbus

import (
	"fmt"
	"strings"
	"testing"
	"time"

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
		switch b.Name {
		case "pump-room-meter":
			md := b.Value.(*Driver)
			if md.line.Transport != TransportTCP || md.line.Address != "192.168.10.21:502" || md.line.ConnectTimeout != 5*time.Second {
				t.Errorf("tcp line: %+v", md.line)
			}
			var blocks []string
			for _, bl := range md.groups[0].blocks {
				blocks = append(blocks, fmt.Sprintf("%d+%d", bl.addr, bl.qty))
			}
			if got := strings.Join(blocks, " "); got != "8192+8 16384+2 16400+4 16416+6" {
				t.Errorf("meter blocks: %s", got)
			}
			inputs++
			continue
		case "gate-rs485":
			if l := b.Value.(*Driver).line; l.Transport != TransportRTUOverTCP || l.Baud != 9600 || l.Parity != "none" {
				t.Errorf("rtu_over_tcp line: %+v", l)
			}
			inputs++
			continue
		}
		d := b.Value.(edge.Driver)
		devs := d.Devices()
		if len(devs) != 3 || devs[2].ID != "b3-di" || devs[2].Location != "sunrise/b3/u2" || devs[0].Driver != "rs485-1" {
			t.Errorf("devices: %+v", devs)
		}
		md := d.(*Driver)
		if len(md.groups) != 2 || md.groups[1].interval.Seconds() != 30 || md.line.Parity != "none" {
			t.Errorf("groups/line: %+v %+v", md.groups, md.line)
		}
		// The bus's transaction settings, and one device's overrides.
		bus := Tx{Timeout: time.Second, Retries: 1, Gap: 20 * time.Millisecond, BusyRetries: 3, BusyDelay: 100 * time.Millisecond}
		water := bus
		water.Timeout, water.Retries = 2*time.Second, 2
		if got := md.devs[0].tx; got != bus {
			t.Errorf("b3-temp tx: got %+v, want %+v", got, bus)
		}
		if got := md.devs[1].tx; got != water {
			t.Errorf("b3-water tx: got %+v, want %+v", got, water)
		}
		if md.devs[0].offlineAfter != 3 || md.devs[1].offlineAfter != 5 {
			t.Errorf("offline_after: got %d, %d; want 3, 5", md.devs[0].offlineAfter, md.devs[1].offlineAfter)
		}
		inputs++
	}
	if inputs != 3 || outputs != 2 {
		t.Fatalf("checked %d inputs and %d outputs, want 3 and 2", inputs, outputs)
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
            - {name: v, table: holding, address: 0, type: int128}
`
	cfg, err := config.Parse("site.yaml", []byte(data))
	if err == nil {
		err = config.CheckDrivers(cfg)
	}
	if err == nil || !strings.Contains(err.Error(), "site.yaml:12") || !strings.Contains(err.Error(), "int128") {
		t.Fatalf("got %v, want an error at site.yaml:12 naming int128", err)
	}
	cfg, err = config.Parse("site.yaml", []byte(strings.Replace(data, "port:", "baudrate: 9600\n      port:", 1)))
	if err == nil {
		err = config.CheckDrivers(cfg)
	}
	if err == nil || !strings.Contains(err.Error(), "site.yaml:7") || !strings.Contains(err.Error(), "baudrate") {
		t.Fatalf("got %v, want an error at site.yaml:7 naming baudrate", err)
	}
	// A device's own transaction settings are checked where they are.
	cfg, err = config.Parse("site.yaml", []byte(strings.Replace(data, "          slave: 1\n", "          slave: 1\n          busy_retry:\n            times: 99\n", 1)))
	if err == nil {
		err = config.CheckDrivers(cfg)
	}
	if err == nil || !strings.Contains(err.Error(), "site.yaml:12") || !strings.Contains(err.Error(), "busy_retry times 99") {
		t.Fatalf("got %v, want an error at site.yaml:12 naming busy_retry times 99", err)
	}
}
