package config

// ParseLoose exposes parseLoose to the tests.
var ParseLoose = parseLoose

// SetRecoverPanics switches Parse's panic safety net (off in fuzzing).
func SetRecoverPanics(on bool) { recoverPanics = on }
