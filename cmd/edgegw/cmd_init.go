package main

import (
	"context"
	"flag"
	"os"

	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/internal/cli"
)

func init() {
	var force, windows bool
	app.Register(&cli.Command{
		Name:  "init",
		Short: "write a commented example config for a real compound",
		Usage: `Writes a commented example config for a real compound: a falling-object
camera on RS-232, temperature/smoke/water-level sensors on an RS-485
Modbus bus, door contacts on GPIO and on a serial port's modem lines, a
voice module, a siren relay, an LED sign, a GSM modem, and the compound's
alert rules. Edit the ports, addresses and phone numbers, then check it
with 'edgegw validate FILE'.

With --windows it writes a smaller example for a Windows PC instead: COM
ports, door contacts on modem lines (no GPIO), the store in %ProgramData%.

Examples:
  edgegw init /etc/edgegw/edgegw.yaml
  edgegw init > edgegw.yaml          (no FILE: the example goes to stdout)
  edgegw init --windows edgegw.yaml

It refuses to overwrite an existing file unless --force is given.`,
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&force, "force", false, "overwrite an existing file")
			fs.BoolVar(&windows, "windows", false, "write the Windows example (COM ports, %ProgramData% paths)")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			data := config.Example()
			if windows {
				data = config.ExampleWindows()
			}
			switch len(args) {
			case 0:
				_, err := env.Stdout.Write(data)
				return err
			case 1:
			default:
				return i18n.Errorf(lang(), "%w: at most one file", cli.ErrUsage)
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(args[0], flags, 0o640)
			if os.IsExist(err) {
				return i18n.Errorf(lang(), "%s exists; use --force to overwrite it", args[0])
			}
			if err != nil {
				return err
			}
			if _, err := f.Write(data); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			i18n.Fprintf(env.Stderr, lang(), "wrote %s; edit it, then run: edgegw validate %s\n", args[0], args[0])
			return nil
		},
	})
}
