package main

import (
	"context"
	"flag"
	"os"
	"time"

	"github.com/edgegw/edgegw/drivers/camera"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/internal/cli"
)

func init() {
	var (
		po       camera.ProbeOptions
		duration time.Duration
	)
	app.Register(&cli.Command{
		Name:  "probe camera",
		Short: "print a camera's alarms as they arrive: listen for its posts, or subscribe to its stream",
		Usage: `Shows a camera's or NVR's alarms live, one line each: time, camera
address, channel, event type and state (active or inactive), so that the
event types and channels can be copied into the config's devices.

With --listen, it binds that address and answers every post 200 (any path,
no credential check): set the gateway's IP and this port as the alarm
host ("HTTP listening" / "alarm server") in the camera's web page, then
trigger a line crossing or walk through the field. Stop the running gateway
first if it listens on the same port (exit 69 when the port is taken).

With --url, it subscribes to the camera's event stream with the user and
password (HTTP digest): a Hikvision .../ISAPI/Event/notification/alertStream
or a Dahua .../cgi-bin/eventManager.cgi?action=attach&codes=[All] (Dahua
is recognised by its path, or forced with --dahua). A lost stream is
reopened. Keep-alives (heartBeat, videoloss inactive) are printed marked
"(keep-alive)": they prove the link, they are not alarms.

Examples:
  edgegw probe camera --listen :8090
  edgegw probe camera --url http://192.168.1.64/ISAPI/Event/notification/alertStream --user admin --password 'secret'
  edgegw probe camera --url 'http://192.168.1.108/cgi-bin/eventManager.cgi?action=attach&codes=[All]' --user admin --password 'secret'

Exit status: 0 when stopped (Ctrl-C or --duration), 1 when the camera
cannot be reached or refuses the user and password, 64 for a usage error,
69 when the --listen port is taken.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&po.Listen, "listen", "", "listen on this `address` for posts, such as :8090")
			fs.StringVar(&po.URL, "url", "", "subscribe to this stream `URL`")
			fs.StringVar(&po.User, "user", "", "the camera's user, for --url")
			fs.StringVar(&po.Password, "password", "", "the camera's password, for --url")
			fs.BoolVar(&po.Dahua, "dahua", false, "--url is a Dahua attach stream (default: guessed from the URL)")
			fs.DurationVar(&duration, "duration", 0, "stop after this long (0: until Ctrl-C)")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 || (po.Listen == "") == (po.URL == "") {
				return i18n.Errorf(lang(), "%w: give exactly one of --listen or --url, and no positional arguments", cli.ErrUsage)
			}
			ctx, cancel := withSignals(ctx, os.Stderr)
			defer cancel()
			if duration > 0 {
				var c2 context.CancelFunc
				ctx, c2 = context.WithTimeout(ctx, duration)
				defer c2()
			}
			po.Lang = lang()
			return camera.Probe(ctx, po, env.Stdout, edge.SystemClock{})
		},
	})
}
