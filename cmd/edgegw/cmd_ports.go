package main

import (
	"context"
	"encoding/json"
	"flag"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/internal/cli"
)

func init() {
	var asJSON bool
	app.Register(&cli.Command{
		Name:  "ports",
		Short: "list the serial ports of this machine with their USB ids",
		Usage: `Lists the serial ports of this machine: the name to put under port: in
the config, and for USB-serial adapters the USB vendor:product id
(VID:PID), the adapter's serial number and its product name, so you can
tell two identical-looking adapters apart. IN USE BY names the program
holding a port, from its lock file (/run/lock/LCK..ttyUSB0): "edgegw (pid
123)" is the running gateway. The ports are not opened.

Plug the adapters in one at a time and run it after each to see which
name each one got. ttyUSB numbers change with the order adapters are found
at boot and when one is replugged, so name a port in the config by what
stays the same: on Linux its stable /dev/serial/by-id/... link (printed
under the port as by-id:), or on any OS its USB ids (printed as usb:), as
port: usb:VID:PID:SERIAL, which the gateway looks up again at every
reconnect. Two adapters with the same VID:PID and no serial number
(cheap CH340s) can only be told apart by their by-id or by-path link.

Examples:
  edgegw ports
  edgegw ports --json

Exit status: 0, also when there are no ports (it says so); 1 when the
ports could not be listed.`,
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return i18n.Errorf(lang(), "%w: unexpected argument %q", cli.ErrUsage, args[0])
			}
			ports, err := serialport.List()
			if err != nil {
				return err
			}
			if asJSON {
				if ports == nil {
					ports = []serialport.PortInfo{}
				}
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(ports)
			}
			serialport.WritePortsIn(env.Stdout, ports, lang())
			return nil
		},
	})
}
