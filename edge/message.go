package edge

import "fmt"

// Message is an error kept as its English printf format and arguments, so
// that whoever prints it can print it in the reader's language (edge/i18n
// translates the format and keeps the arguments). The option checks of
// drivers and config types return one where their error ends up in a
// config problem: "unknown table %q (want coil, ...)".
type Message struct {
	Format string
	Args   []any
}

// Msgf is a *Message; its format belongs in edge/i18n's zh-CN catalog (a
// test scans the source for calls of Msgf).
func Msgf(format string, args ...any) error { return &Message{Format: format, Args: args} }

func (m *Message) Error() string { return fmt.Sprintf(m.Format, m.Args...) }

// MessageFormat returns the format and arguments (edge/i18n's Formatted).
func (m *Message) MessageFormat() (string, []any) { return m.Format, m.Args }
