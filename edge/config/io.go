package config

// Input is one driver instance: a serial port, a Modbus bus, a GPIO chip,
// a simulated compound.
type Input struct {
	// Name is unique among inputs. Required.
	Name string `yaml:"name"`
	// Driver is a registered driver name: sim, serial, modbus, gpio, modemlines.
	Driver string `yaml:"driver"`
	// Options are the driver's own settings; see drivers/<name>/README.md.
	Options RawNode `yaml:"options"`
}

// Output is one named output: a voice module, a relay, an LED sign, an SMS modem.
type Output struct {
	// Name is unique among outputs; rules and commands use it. Required.
	Name string `yaml:"name"`
	// Driver is a registered output driver name.
	Driver string `yaml:"driver"`
	// Options are the output driver's own settings.
	Options RawNode `yaml:"options"`
}
