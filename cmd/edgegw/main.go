// Command edgegw is the edge gateway: run it as a service, or use its
// subcommands to set up and check a site.
package main

import (
	"context"
	"os"
	"sync/atomic"

	"github.com/edgegw/edgegw/edge/config"

	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/internal/cli"
)

var app = &cli.App{Name: "edgegw", Summary: "offline-first edge gateway for residential compounds",
	Groups: map[string]string{
		"probe":   "talk to one device now, before it goes into the config",
		"output":  "drive a configured output (siren, voice module, sign, SMS)",
		"rules":   "check the alert rules against recorded events",
		"service": "the OS service (systemd, SysV init or Windows SCM)",
		"learn":   "learn the codes of wireless sensors and write their config",
		"update":  "self-update: check a signed release, see the loader's state",
	},
	Lang: lang,
}

// lang is the language of the CLI's messages: the one LC_ALL,
// LC_MESSAGES or LANG (the first set) names when it is Chinese or English
// (zh_CN.UTF-8, en_US.UTF-8); else the gateway.language of the config the
// command reads (validate, run, output test, status); else English. Help,
// messages and config problems follow it.
func lang() i18n.Lang {
	if l, ok := i18n.Explicit(i18n.FromEnv()); ok {
		return l
	}
	if configLang.Load() != nil {
		return *configLang.Load()
	}
	return i18n.EN
}

// configLang is the gateway.language of the config the command reads.
var configLang atomic.Pointer[i18n.Lang]

// useConfigLanguage makes the config file at path choose the CLI's
// language when the environment does not (lang).
func useConfigLanguage(path string) {
	if l := i18n.Lang(config.Language(path)); l == i18n.EN || l == i18n.ZH {
		configLang.Store(&l)
	}
}

func main() {
	os.Exit(app.Main(context.Background(), os.Args[1:], nil))
}
