package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/edge/rules"
	"github.com/edgegw/edgegw/internal/cli"
)

func init() {
	var cfgPath, eventsPath string
	var after time.Duration
	app.Register(&cli.Command{
		Name:  "rules test",
		Short: "replay recorded events through the rules; print the alert trace",
		Usage: `Replays recorded events through the rules of a config on a virtual
clock, and prints what would have happened: one line per alert change
(time, state, rule, device, severity, message, alert id, actions), then a
summary with the active alerts and any expression errors. Nothing is
started and no output is driven. Use it to check a rule before deploying it.

The events file has one JSON event per line, as the gateway records them:
  {"ts":"2026-03-02T21:00:00+08:00","kind":"state","dev":"door-101","pt":"door","text":"open","v":1}
  {"ts":"2026-03-02T21:03:00+08:00","kind":"reading","dev":"temp-b2","pt":"temp","v":65.5}
  {"ts":"2026-03-02T21:05:30+08:00","kind":"status","dev":"cam-3","online":false,"text":"port closed"}
  {"ts":"2026-03-02T21:06:00+08:00","kind":"alert","alert":{"id":"fire/temp-b2/2","state":"acknowledged","by":"local:guard"}}
Events run in seq order (lines without "seq" in file order). "ts" drives
the virtual clock: timers (for, debounce, cooldown, stale, count windows)
fire at their virtual time; a ts that goes back counts as no time passing.
An "acknowledged" alert line acknowledges that alert id.

Example:
  edgegw rules test --config /etc/edgegw/edgegw.yaml --events door.jsonl --after 15m

Exit status: 0 when the replay ran, 78 when the config is invalid, 65 when
the events file is, 64 for a usage error.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&cfgPath, "config", "", "gateway config `file` with the rules (required)")
			fs.StringVar(&eventsPath, "events", "", "recorded events, JSON lines (required)")
			fs.DurationVar(&after, "after", 0, "keep the virtual clock running this long after the last event, so timers still fire")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if cfgPath == "" || eventsPath == "" || len(args) != 0 {
				return i18n.Errorf(lang(), "%w: want --config FILE --events FILE.jsonl", cli.ErrUsage)
			}
			cfg, err := config.Load(cfgPath)
			if err != nil {
				fmt.Fprintln(env.Stderr, i18n.ErrorText(lang(), err))
				return &cli.ExitError{Code: cli.ExitBadConfig, Err: i18n.Errorf(lang(), "%s is not valid", cfgPath)}
			}
			set, err := rules.CompileRules(cfg)
			if err != nil {
				fmt.Fprintln(env.Stderr, i18n.ErrorText(lang(), err))
				return &cli.ExitError{Code: cli.ExitBadConfig, Err: i18n.Errorf(lang(), "rules of %s are not valid", cfgPath)}
			}
			devs, err := configDevices(cfg)
			if err != nil {
				fmt.Fprintln(env.Stderr, i18n.ErrorText(lang(), err))
				return &cli.ExitError{Code: cli.ExitBadConfig, Err: i18n.Errorf(lang(), "inputs of %s are not valid", cfgPath)}
			}
			f, err := os.Open(eventsPath)
			if err != nil {
				return &cli.ExitError{Code: cli.ExitDataErr, Err: err}
			}
			defer f.Close()
			evs, err := rules.ReadEvents(f)
			if err != nil {
				return &cli.ExitError{Code: cli.ExitDataErr, Err: i18n.Errorf(lang(), "%s: %w", eventsPath, err)}
			}
			return rules.Replay(set, devs, evs, env.Stdout, rules.ReplayOptions{After: after})
		},
	})
}

// configDevices builds each input's driver (nothing is started) to learn
// the devices it declares, with their locations and tags.
func configDevices(cfg *config.Config) ([]edge.Device, error) {
	var devs []edge.Device
	var errs []error
	for i, in := range cfg.Inputs {
		f, err := edge.LookupDriver(in.Driver)
		if err != nil {
			errs = append(errs, cfg.Errorf(fmt.Sprintf("inputs[%d].driver", i), "%v", err))
			continue
		}
		d, err := f(edge.Env{Name: in.Name, Logger: edge.DiscardLogger(), Clock: edge.SystemClock{}}, cfg.InputOptions(i))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		devs = append(devs, d.Devices()...)
		if c, ok := d.(edge.Closer); ok {
			_ = c.Close()
		}
	}
	return devs, errors.Join(errs...)
}
