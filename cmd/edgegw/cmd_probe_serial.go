package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"time"

	"github.com/edgegw/edgegw/drivers/serial"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/internal/cli"
)

func init() {
	var (
		po                       serial.ProbeOptions
		delim, start, end, syncB string
		stripCR                  bool
		duration                 time.Duration
	)
	app.Register(&cli.Command{
		Name:  "probe serial",
		Short: "show the raw bytes and decoded frames of a serial device, live",
		Usage: `Opens a serial port and shows, until Ctrl-C, every chunk of bytes the
device sends (hex and printable characters) and the frames the chosen
framing cuts from them. With --regexp, each frame is matched and the
named groups are printed: the same pattern goes into the config's
decode.regexp.pattern.

Use it while wiring a site: garbage such as "ÿþ" or random bytes means a
wrong baud rate or parity; nothing at all means wrong wiring (swap TX/RX
on RS-232, A/B on RS-485) or a device that only talks on an event.

A port held by another program (the running gateway, often) is refused at
once, naming it: "port /dev/ttyUSB0 is in use by edgegw (pid 123)". Stop
that program first; the gateway never shares a port. A port that vanishes
(adapter unplugged) is reopened every second.

Bytes in --delimiter, --start, --end, --sync are control names or hex:
LF, "CR LF", STX, ETX, 0x7E, "7E 03".

Examples:
  edgegw probe serial --port /dev/ttyUSB0 --baud 9600
  edgegw probe serial --port /dev/ttyUSB0 --regexp '^ALARM,(?P<cam>\w+),(?P<state>\w+)'
  edgegw probe serial --port COM3 --baud 19200 --framing delimited --start STX --end ETX
  edgegw probe serial --port /dev/ttyS1 --framing fixed --length 8 --sync 0xAA --duration 30s

Exit status: 0 when stopped (Ctrl-C or --duration), 69 when the port is
held by another program, 64 for a usage error.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&po.Port.Port, "port", "", "serial `device`: /dev/ttyUSB0, COM3 (see edgegw ports)")
			fs.IntVar(&po.Port.Baud, "baud", 9600, "baud rate")
			fs.IntVar(&po.Port.DataBits, "data-bits", 8, "data bits: 5..8")
			fs.StringVar(&po.Port.Parity, "parity", "none", "parity: none, odd, even, mark, space")
			fs.Float64Var(&po.Port.StopBits, "stop-bits", 1, "stop bits: 1, 1.5 or 2")
			fs.StringVar(&po.Framing.Mode, "framing", "line", "framing: line, delimited (start/end bytes) or fixed (length)")
			fs.StringVar(&delim, "delimiter", "LF", "line framing: the `bytes` ending a line")
			fs.BoolVar(&stripCR, "strip-cr", true, "line framing: drop a CR before the delimiter")
			fs.StringVar(&start, "start", "STX", "delimited framing: start `bytes`")
			fs.StringVar(&end, "end", "ETX", "delimited framing: end `bytes`")
			fs.IntVar(&po.Framing.Length, "length", 0, "fixed framing: frame length in bytes")
			fs.StringVar(&syncB, "sync", "", "fixed framing: the first `bytes` of every frame")
			fs.IntVar(&po.Framing.MaxLength, "max-length", 1024, "frames longer than this are dropped as overlong")
			fs.StringVar(&po.Regexp, "regexp", "", "match each frame and print the named groups (?P<name>...)")
			fs.DurationVar(&duration, "duration", 0, "stop after this long (0: until Ctrl-C)")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if po.Port.Port == "" || len(args) > 0 {
				return i18n.Errorf(lang(), "%w: --port is required and no positional arguments are taken", cli.ErrUsage)
			}
			var err error
			for _, b := range []struct {
				name string
				s    string
				dst  *serial.Bytes
			}{{"--delimiter", delim, &po.Framing.Delimiter}, {"--start", start, &po.Framing.Start},
				{"--end", end, &po.Framing.End}, {"--sync", syncB, &po.Framing.Sync}} {
				if *b.dst, err = serial.ParseBytes(b.s); err != nil {
					return i18n.Errorf(lang(), "%w: %s: %v", cli.ErrUsage, b.name, err)
				}
			}
			po.Framing.StripCR = &stripCR
			ctx, cancel := withSignals(ctx, os.Stderr)
			defer cancel()
			if duration > 0 {
				var c2 context.CancelFunc
				ctx, c2 = context.WithTimeout(ctx, duration)
				defer c2()
			}
			po.Lang = lang()
			if err := serial.Probe(ctx, po, env.Stdout); err != nil {
				if errors.Is(err, edge.ErrPortInUse) {
					return err
				}
				return i18n.Errorf(lang(), "%w: %v", cli.ErrUsage, err)
			}
			return nil
		},
	})
}
