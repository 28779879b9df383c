package config

import (
	_ "embed"
)

//go:embed example.yaml
var exampleYAML []byte

//go:embed example_windows.yaml
var exampleWindowsYAML []byte

//go:embed demo.yaml
var demoYAML []byte

// Example returns the commented example config that `edgegw init` writes:
// a real compound (serial camera, Modbus sensors and siren relay, GPIO and
// modem-line door contacts, voice module, LED sign, SMS modem, rules).
func Example() []byte { return append([]byte(nil), exampleYAML...) }

// ExampleWindows returns the smaller example `edgegw init --windows` writes
// and the Windows zip ships: COM ports, no GPIO, the store in %ProgramData%.
func ExampleWindows() []byte { return append([]byte(nil), exampleWindowsYAML...) }

// DemoYAML returns the config of the simulated compound `edgegw demo` runs
// (driver "sim" for every input and output).
func DemoYAML() []byte { return append([]byte(nil), demoYAML...) }

// Demo parses the demo config with its store in dataDir. The sim driver
// must be registered (import drivers/sim).
func Demo(dataDir string) (*Config, error) {
	cfg, err := Parse("demo.yaml", demoYAML)
	if err != nil {
		return nil, err
	}
	cfg.Store.Dir = dataDir
	return cfg, nil
}
