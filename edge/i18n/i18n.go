// Package i18n holds the gateway's messages in English and Simplified
// Chinese (zh-CN): the status page, `edgegw status` and its findings, and
// the CLI's framing of errors. The catalogs are JSON files embedded here
// (en.json, zh-CN.json), one key per message, read by go-i18n; the status
// page gets its part of a catalog from /api/i18n. A test fails on a key
// that one language lacks, or that the code or the page uses and no
// catalog has.
//
// A message is a Go template ({{.Name}}); plain strings need no data.
//
// Validation errors and the CLI's lines are printf formats instead
// (format.go): formats.zh-CN.json maps each English format to its Chinese
// one, with the same verbs in the same order, and a test scans the source
// for every format passed to the validation error constructors and to
// Sprintf/Fprintf/Errorf here. The CLI's language comes from LC_ALL,
// LC_MESSAGES or LANG (FromEnv, Match).
package i18n

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed en.json
var enJSON []byte

//go:embed zh-CN.json
var zhJSON []byte

// The languages, the first the default.
var (
	English = language.English
	Chinese = language.MustParse("zh-CN")
	tags    = []language.Tag{English, Chinese}
	matcher = language.NewMatcher(tags)
)

var (
	once    sync.Once
	bundle  *goi18n.Bundle
	flat    map[string]map[string]string // lang -> key -> template
	loadErr error
)

func load() {
	bundle = goi18n.NewBundle(English)
	bundle.RegisterUnmarshalFunc("json", json.Unmarshal)
	flat = map[string]map[string]string{}
	for name, data := range map[string][]byte{"en.json": enJSON, "zh-CN.json": zhJSON} {
		if _, err := bundle.ParseMessageFileBytes(data, name); err != nil {
			loadErr = fmt.Errorf("i18n: %s: %w", name, err)
			return
		}
		m := map[string]string{}
		if err := json.Unmarshal(data, &m); err != nil {
			loadErr = fmt.Errorf("i18n: %s: %w", name, err)
			return
		}
		flat[strings.TrimSuffix(name, ".json")] = m
	}
}

// Lang is a supported language: "en" or "zh-CN".
type Lang string

// The supported languages.
const (
	EN Lang = "en"
	ZH Lang = "zh-CN"
)

// Match picks the supported language closest to the preferences given
// (an Accept-Language header, a config value, "zh_CN.UTF-8"); English when
// none matches.
func Match(prefs ...string) Lang {
	for _, p := range prefs {
		p = strings.TrimSpace(p)
		if p == "" || p == "C" || p == "POSIX" {
			continue
		}
		p, _, _ = strings.Cut(p, ".") // zh_CN.UTF-8
		p, _, _ = strings.Cut(p, "@")
		p = strings.ReplaceAll(p, "_", "-")
		want, _, err := language.ParseAcceptLanguage(p)
		if err != nil || len(want) == 0 {
			continue
		}
		_, i, conf := matcher.Match(want...)
		if conf >= language.High || (conf > language.No && i != 0) {
			return [...]Lang{EN, ZH}[i]
		}
		if conf > language.No {
			return EN
		}
	}
	return EN
}

// Explicit is the language that an environment value (zh_CN.UTF-8,
// en_US.UTF-8) names; false for "", C, POSIX and any language other than
// Chinese and English, where the CLI falls back on the config's
// gateway.language.
func Explicit(env string) (Lang, bool) {
	env, _, _ = strings.Cut(env, ".")
	env, _, _ = strings.Cut(env, "@")
	tag, err := language.Parse(strings.ReplaceAll(strings.TrimSpace(env), "_", "-"))
	if err != nil {
		return "", false
	}
	switch base, _ := tag.Base(); base.String() {
	case "zh":
		return ZH, true
	case "en":
		return EN, true
	}
	return "", false
}

// FromEnv is the language of the environment: LC_ALL, LC_MESSAGES, LANG
// (the first set), as the CLI follows it; "" when none is set.
func FromEnv() string {
	for _, k := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return ""
}

// T renders message key in lang with data (a map or struct for the
// template, or nil). A key no catalog has comes back as the key itself,
// so a slip is visible and never fatal; the tests keep that from shipping.
func T(lang Lang, key string, data any) string {
	once.Do(load)
	if loadErr != nil {
		return key
	}
	loc := goi18n.NewLocalizer(bundle, string(lang), "en")
	s, err := loc.Localize(&goi18n.LocalizeConfig{MessageID: key, TemplateData: data})
	if err != nil || s == "" {
		return key
	}
	return s
}

// Catalog returns lang's messages whose keys start with prefix, for the
// status page (which renders its own templates).
func Catalog(lang Lang, prefix string) map[string]string {
	once.Do(load)
	out := map[string]string{}
	for k, v := range flat[string(lang)] {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}

// Keys lists every key of lang's catalog, sorted (for the tests).
func Keys(lang Lang) []string {
	once.Do(load)
	keys := make([]string, 0, len(flat[string(lang)]))
	for k := range flat[string(lang)] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Err reports whether the catalogs loaded.
func Err() error {
	once.Do(load)
	return loadErr
}
