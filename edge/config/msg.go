package config

import (
	"fmt"

	"github.com/edgegw/edgegw/edge/i18n"
)

// msg is a piece of a message (or an error) kept as its English format and
// arguments, so that a Problem that prints it can print it in another
// language too (describe's "a list", an option's parse error).
type msg struct {
	format string
	args   []any
}

// phrase makes a msg; its format is in the zh-CN catalog like the
// Problems' (the catalog test finds it).
func phrase(format string, args ...any) msg { return msg{format, args} }

func (m msg) String() string                 { return fmt.Sprintf(m.format, m.args...) }
func (m msg) Error() string                  { return m.String() }
func (m msg) Localize(lang i18n.Lang) string { return i18n.Sprintf(lang, m.format, m.args...) }

func (m msg) ptr() *msg { return &m }
