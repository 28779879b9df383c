package config

// Status configures the technician's status server. (Owned by the operations work.)
type Status struct {
	// Listen is the address of the status page. Default: 127.0.0.1:8780.
	Listen string `yaml:"listen"`
}
