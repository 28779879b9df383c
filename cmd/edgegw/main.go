// Command edgegw is the edge gateway: run it as a service, or use its
// subcommands to set up and check a site.
package main

import (
	"context"
	"os"

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
	},
	Lang: lang,
}

// lang is the language of the CLI's messages: zh-CN when LC_ALL,
// LC_MESSAGES or LANG (the first set) is Chinese (zh_CN.UTF-8), else
// English. Help, messages and config problems follow it.
func lang() i18n.Lang { return i18n.Match(i18n.FromEnv()) }

func main() {
	os.Exit(app.Main(context.Background(), os.Args[1:], nil))
}
