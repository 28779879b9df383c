package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"strconv"
	"time"

	"github.com/edgegw/edgegw/drivers/voice"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/internal/cli"
)

func init() {
	var (
		po     voice.ProbeOptions
		volume optInt
	)
	app.Register(&cli.Command{
		Name:  "probe voice",
		Short: "send one command to a voice broadcast module (play a track, say a text, set the volume)",
		Usage: `Opens a serial port and sends one command to a voice broadcast module,
exactly the module's frame and nothing else, printed in hex as it goes.
Use it while wiring a site: it tells whether the module hears the box at
this port, baud rate and protocol.

Protocols: dy (DY-SV17F, DY-SV5W), jq8400 (JQ8400-FL, JQ8900), syn6288
and xfs5152 (XFS5152CE). MP3 modules (dy, jq8400) play tracks and never
answer a control command: the probe succeeds once the frame is written,
and you listen to the speaker. TTS modules (syn6288, xfs5152) say GBK
text and answer each frame: the probe succeeds on their 0x41 (received).

--volume is 0..30 on dy and jq8400 (alone it sets the volume; with --play
or --tracks it goes first), 0..16 on syn6288, 0..10 on xfs5152 (with --say,
as a [vN] mark in the text). --tracks plays /ZH/01.mp3, /ZH/05.mp3 ...
one after the other. --query asks for the play state (MP3) or busy/idle
(TTS).

A port another program holds (the running gateway, often) is refused at
once, naming it; test the gateway's voice output with "edgegw output
test" or the status page's Test button instead.

Examples:
  edgegw probe voice --port /dev/ttyUSB2 --protocol dy --play 1
  edgegw probe voice --port /dev/ttyUSB2 --protocol dy --volume 20 --tracks 1,5,9
  edgegw probe voice --port /dev/ttyUSB5 --protocol syn6288 --say "请按时分类投放垃圾"
  edgegw probe voice --port COM6 --protocol xfs5152 --baud 115200 --query

Exit status: 0 when the module took the command (TTS: it answered 0x41;
MP3: the frame was written), 1 with the reason when it did not (no
answer, 0x45 refused), 64 for a usage error, 69 when another program
holds the port.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&po.Port.Port, "port", "", "serial `device`: /dev/ttyUSB0, COM3 (see edgegw ports)")
			fs.IntVar(&po.Port.Baud, "baud", 9600, "baud rate")
			fs.StringVar(&po.Protocol, "protocol", "", "module protocol: dy, jq8400, syn6288 or xfs5152")
			fs.IntVar(&po.Play, "play", 0, "MP3: play track `N` (1..65535)")
			fs.StringVar(&po.Tracks, "tracks", "", "MP3: play a combination of `tracks` 1..99, such as 1,5,9 (files /ZH/01.mp3 ...)")
			fs.StringVar(&po.Say, "say", "", "TTS: say `text` (UTF-8; sent as GBK)")
			fs.Var(&volume, "volume", "volume `V`: 0..30 (MP3), 0..16 (syn6288), 0..10 (xfs5152)")
			fs.BoolVar(&po.Stop, "stop", false, "stop what the module is playing or saying")
			fs.BoolVar(&po.Query, "query", false, "ask the module for its state")
			fs.DurationVar(&po.Timeout, "timeout", 2*time.Second, "how long a TTS module may take to answer")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return i18n.Errorf(lang(), "%w: no positional arguments are taken (quote the --say text)", cli.ErrUsage)
			}
			po.Volume = volume.p
			if _, _, err := po.Check(); err != nil {
				return i18n.Errorf(lang(), "%w: %v", cli.ErrUsage, err)
			}
			ctx, cancel := withSignals(ctx, os.Stderr)
			defer cancel()
			po.Lang = lang()
			err := voice.Probe(ctx, po, env.Stdout)
			if err != nil && errors.Is(err, context.Canceled) {
				return i18n.Errorf(lang(), "interrupted: %w", err)
			}
			return err
		},
	})
}

// optInt is an int flag that may be left out (no default shown).
type optInt struct{ p *int }

func (o *optInt) String() string {
	if o == nil || o.p == nil {
		return ""
	}
	return strconv.Itoa(*o.p)
}

func (o *optInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return i18n.Errorf(lang(), "%q is not a number", s)
	}
	o.p = &n
	return nil
}
