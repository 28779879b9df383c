package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"strings"
	"time"

	"github.com/edgegw/edgegw/drivers/rf433"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/internal/cli"
)

// rtlFlag is --rtl433: alone it runs rtl_433 -F json; --rtl433="CMD ARGS"
// runs that command.
type rtlFlag struct {
	set bool
	cmd []string
}

func (f *rtlFlag) String() string   { return strings.Join(f.cmd, " ") }
func (f *rtlFlag) IsBoolFlag() bool { return true }
func (f *rtlFlag) Set(s string) error {
	switch s {
	case "true":
		f.set, f.cmd = true, nil
	case "false":
		f.set, f.cmd = false, nil
	default:
		f.set, f.cmd = true, strings.Fields(s)
	}
	return nil
}

func init() {
	var (
		o                  rf433.LearnOptions
		rtl                rtlFlag
		rtlFile            string
		header, footer     string
		before, after      int
		codeBytes, keyBits int
		duration           time.Duration
		out, name          string
	)
	app.Register(&cli.Command{
		Name:  "learn 433",
		Short: "learn the codes of 433 MHz wireless door contacts and write their config",
		Usage: `Listens to a 433 MHz receiver while the installer triggers each sensor
(opens and closes the door, opens the sensor's case for tamper) and prints
each new code as it arrives, one line each; repeats of a code are shown
once. At the end (Ctrl-C, --duration or --count) it writes the rf433 input
with one device per sensor, ready to paste into the config: set each id,
location and tags, and check the guessed states.

The receiver is a UART decoder board (--port, --format ev1527: FD + code +
DF at 9600 baud, the common boards; sonoff: the Sonoff RF Bridge at 19200;
custom: --header, --footer, --code-bytes), or an SDR dongle through
rtl_433 (--rtl433 runs "rtl_433 -F json"; --rtl433="rtl_433 -d 1 -F json"
runs that command; --rtl433-file reads a named pipe).

Stop the gateway's rf433 input first, or learn on another receiver: the
gateway never shares a port ("port /dev/ttyUSB0 is in use by edgegw").

Examples:
  edgegw learn 433 --port /dev/ttyUSB0
  edgegw learn 433 --port /dev/ttyUSB0 --count 6 --out /tmp/doors.yaml
  edgegw learn 433 --port COM4 --format sonoff
  edgegw learn 433 --rtl433 --duration 5m

Exit status: 0 when stopped (the YAML is written), 69 when the port is held
by another program, 64 for a usage error, 1 when the receiver failed.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&o.Options.Port, "port", "", "the decoder board's serial `device`: /dev/ttyUSB0, COM3")
			fs.StringVar(&o.Options.Format, "format", "ev1527", "frame format: ev1527, sonoff or custom")
			fs.IntVar(&o.Options.Baud, "baud", 0, "baud rate (default: the format's, 9600 or 19200)")
			fs.StringVar(&header, "header", "", "custom format: header `bytes` in hex, such as FD")
			fs.StringVar(&footer, "footer", "", "custom format: footer `bytes` in hex, such as DF")
			fs.IntVar(&before, "before", 0, "custom format: bytes between header and code")
			fs.IntVar(&after, "after", 0, "custom format: bytes between code and footer")
			fs.IntVar(&codeBytes, "code-bytes", 3, "custom format: code length in bytes")
			fs.IntVar(&keyBits, "key-bits", -1, "low bits of the code that are the key (EV1527: 4; 0 for whole codes)")
			fs.Var(&rtl, "rtl433", "read rtl_433's JSON output: alone runs \"rtl_433 -F json\"; --rtl433=\"`CMD` ARGS\" runs that")
			fs.StringVar(&rtlFile, "rtl433-file", "", "read rtl_433's JSON lines from this named pipe or `file`")
			fs.IntVar(&o.Count, "count", 0, "stop after this many distinct codes (0: until Ctrl-C or --duration)")
			fs.DurationVar(&duration, "duration", 0, "stop after this long (0: until Ctrl-C or --count)")
			fs.StringVar(&out, "out", "", "write the YAML to this `file` (default: stdout, after the codes)")
			fs.StringVar(&name, "name", "rf433", "the input's name in the YAML")
			fs.StringVar(&o.Prefix, "prefix", "door-", "the learned devices' id prefix")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return i18n.Errorf(lang(), "%w: no positional arguments are taken", cli.ErrUsage)
			}
			switch {
			case rtl.set || rtlFile != "":
				if o.Options.Port != "" {
					return i18n.Errorf(lang(), "%w: give --port or --rtl433, not both", cli.ErrUsage)
				}
				o.Options.Format = "rtl433"
				o.Options.RTL433 = &rf433.RTL433Options{Command: rtl.cmd, File: rtlFile}
			case o.Options.Port == "":
				return i18n.Errorf(lang(), "%w: --port (a decoder board) or --rtl433 is required", cli.ErrUsage)
			}
			if o.Options.Format == "custom" || header != "" || keyBits >= 0 {
				o.Options.Frame = &rf433.FrameOptions{Header: header, Footer: footer, Before: before, After: after, CodeBytes: codeBytes}
				if keyBits >= 0 {
					o.Options.Frame.KeyBits = &keyBits
				}
			}
			ctx, cancel := withSignals(ctx, os.Stderr)
			defer cancel()
			if duration > 0 {
				var c2 context.CancelFunc
				ctx, c2 = context.WithTimeout(ctx, duration)
				defer c2()
			}
			o.Lang = lang()
			learned, err := rf433.Learn(ctx, o, env.Stdout)
			if err != nil {
				if learned == nil {
					return i18n.Errorf(lang(), "%w: %v", cli.ErrUsage, err)
				}
				return err
			}
			var b bytes.Buffer
			if err := learned.WriteYAML(&b, name); err != nil {
				return err
			}
			if out != "" {
				if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
					return err
				}
				i18n.Fprintf(env.Stdout, lang(), "%d codes; the input is in %s\n", learned.Len(), out)
				return nil
			}
			i18n.Fprintf(env.Stdout, lang(), "\n%d codes; paste this into the config:\n\n", learned.Len())
			_, err = env.Stdout.Write(b.Bytes())
			return err
		},
	})
}
