package i18n

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Messages made with printf (validation errors, the CLI's lines) are
// translated by their FORMAT, not by a key: the English format is the key
// of formats.zh-CN.json and maps to a Chinese format with the same verbs in
// the same order; the arguments (field names, values, limits, the text of
// an OS error) are kept and printed as they are. So an error keeps its
// English format and arguments, and is rendered in the reader's language
// when it is printed. A test scans the source for every format passed to
// the validation error constructors and to the functions below, and fails
// on one with no zh-CN entry or with different verbs.

//go:embed formats.zh-CN.json
var zhFormatsJSON []byte

var (
	formatsOnce sync.Once
	zhFormats   map[string]string
	formatsErr  error
)

func loadFormats() {
	zhFormats = map[string]string{}
	if err := json.Unmarshal(zhFormatsJSON, &zhFormats); err != nil {
		formatsErr = fmt.Errorf("i18n: formats.zh-CN.json: %w", err)
	}
}

// Localizer is a message or error that renders itself in a language (a
// config problem keeps its English format and arguments for this).
type Localizer interface {
	Localize(lang Lang) string
}

// Formatted is a message or error kept as its English format and
// arguments (edge.Message): Sprintf prints it with its format translated.
type Formatted interface {
	MessageFormat() (format string, args []any)
}

// Format returns format translated to lang: the catalog's format, or
// format itself when lang is English or the catalog has no entry (the
// tests keep that from shipping).
func Format(lang Lang, format string) string {
	if lang != ZH {
		return format
	}
	formatsOnce.Do(loadFormats)
	if f, ok := zhFormats[format]; ok && f != "" {
		return f
	}
	return format
}

// Text is Format for a message with no arguments (a help line): it is
// not passed through fmt.
func Text(lang Lang, s string) string { return Format(lang, s) }

// Sprintf is fmt.Sprintf with format translated to lang. Arguments that
// are Localizers are rendered in lang too.
func Sprintf(lang Lang, format string, args ...any) string {
	if lang == ZH {
		args = localizeArgs(lang, args)
	}
	return fmt.Sprintf(Format(lang, format), args...)
}

// Fprintf is fmt.Fprintf with format translated to lang.
func Fprintf(w io.Writer, lang Lang, format string, args ...any) (int, error) {
	return io.WriteString(w, Sprintf(lang, format, args...))
}

// Fprintln writes Sprintf(lang, format, args...) and a newline.
func Fprintln(w io.Writer, lang Lang, format string, args ...any) (int, error) {
	return io.WriteString(w, Sprintf(lang, format, args...)+"\n")
}

// Errorf is fmt.Errorf (with %w) whose message is rendered in lang.
func Errorf(lang Lang, format string, args ...any) error {
	if lang == ZH {
		args = localizeArgs(lang, args)
	}
	return fmt.Errorf(Format(lang, format), args...)
}

func localizeArgs(lang Lang, args []any) []any {
	var out []any
	for i, a := range args {
		var text string
		switch x := a.(type) {
		case Localizer:
			text = x.Localize(lang)
		case Formatted:
			f, as := x.MessageFormat()
			text = Sprintf(lang, f, as...)
		case error:
			t, ok := chainText(lang, x)
			if !ok {
				continue
			}
			text = t
		default:
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		if err, isErr := a.(error); isErr {
			out[i] = localized{err, text} // %w still wraps it
		} else {
			out[i] = text
		}
	}
	if out == nil {
		return args
	}
	return out
}

// localized is an error printed in another language that still unwraps
// to the original.
type localized struct {
	err  error
	text string
}

func (l localized) Error() string { return l.text }
func (l localized) Unwrap() error { return l.err }

// ErrorText renders err in lang when it is a Localizer itself (a config
// error: every problem in lang) and err.Error() otherwise (an error that
// wraps a config error keeps its English text).
func ErrorText(lang Lang, err error) string {
	if err == nil {
		return ""
	}
	if l, ok := err.(Localizer); ok {
		return l.Localize(lang)
	}
	if f, ok := err.(Formatted); ok {
		format, args := f.MessageFormat()
		return Sprintf(lang, format, args...)
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok && lang != EN {
		// errors.Join of config errors (gateway.Check's): each in lang.
		// (fmt.Errorf with two %w unwraps to a list too: it is told
		// apart by its text, which is not the parts' joined by lines.)
		var en, parts []string
		for _, e := range j.Unwrap() {
			if e != nil {
				en = append(en, e.Error())
				parts = append(parts, ErrorText(lang, e))
			}
		}
		if strings.Join(en, "\n") == err.Error() {
			return strings.Join(parts, "\n")
		}
	}
	if lang != EN {
		if t, ok := chainText(lang, err); ok {
			return t
		}
	}
	return err.Error()
}

// chainText renders an error that wraps a translatable one (a Localizer
// or Formatted error: a serial port's "in use by" error under the driver's
// "open %s: %w") with the wrapped part in lang and the wrapper's own words
// as they are; false when nothing in the chain translates.
func chainText(lang Lang, err error) (string, bool) {
	switch x := err.(type) {
	case Localizer:
		return x.Localize(lang), true
	case Formatted:
		f, as := x.MessageFormat()
		return Sprintf(lang, f, as...), true
	}
	u := errors.Unwrap(err)
	if u == nil {
		return "", false
	}
	inner, ok := chainText(lang, u)
	s, us := err.Error(), u.Error()
	if !ok || !strings.HasSuffix(s, us) {
		return "", false
	}
	return s[:len(s)-len(us)] + inner, true
}

// Verbs lists the printf verbs of format in order ("%q", "%d", "%.1f";
// "%%" is not a verb), for the tests that compare a translation's verbs
// with the English ones.
func Verbs(format string) []string {
	var out []string
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		j := i + 1
		for j < len(format) && strings.IndexByte("+-# 0123456789.*[]", format[j]) >= 0 {
			j++
		}
		if j >= len(format) {
			out = append(out, format[i:])
			break
		}
		if format[j] == '%' && j == i+1 {
			i = j
			continue
		}
		out = append(out, format[i:j+1])
		i = j
	}
	return out
}

// Formats returns the zh-CN format catalog (English format -> Chinese
// format), for the tests.
func Formats() (map[string]string, error) {
	formatsOnce.Do(loadFormats)
	return zhFormats, formatsErr
}

// Paragraphs splits a help text (a command's --help) into the paragraphs
// the catalog translates one by one: its blank-line separated blocks. A
// paragraph is the unit because help texts are edited a paragraph at a
// time: a change leaves the other paragraphs' translations valid, a
// shared paragraph (the service commands' text) is translated once, and
// each entry stays small enough to review side by side with its English.
func Paragraphs(text string) []string {
	return strings.Split(text, "\n\n")
}

// Long renders a help text in lang paragraph by paragraph (Paragraphs);
// a paragraph with no entry stays English. In English the text comes
// back as it is.
func Long(lang Lang, text string) string {
	if lang != ZH {
		return text
	}
	ps := Paragraphs(text)
	for i, p := range ps {
		ps[i] = Text(lang, p)
	}
	return strings.Join(ps, "\n\n")
}
