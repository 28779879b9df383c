package edge

import "log/slog"

// Logger is the structured logger every component gets injected.
type Logger = *slog.Logger

// DiscardLogger returns a logger that drops everything, for tests and tools.
func DiscardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
