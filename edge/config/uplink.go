package config

// Uplink configures sync with the central platform. (Owned by the sync work.)
type Uplink struct {
	// URL of the central platform. Empty: no uplink, the gateway runs alone.
	URL string `yaml:"url"`
}
