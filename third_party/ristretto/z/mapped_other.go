//go:build !linux || js

package z

func dontNeed([]byte) error { return nil }
