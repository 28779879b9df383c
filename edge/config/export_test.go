package config

// SetRecoverPanics switches Parse's panic safety net (off in fuzzing).
func SetRecoverPanics(on bool) { recoverPanics = on }
