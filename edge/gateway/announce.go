package gateway

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/status"
)

// Announce implements edge.Announcer: the announcement is appended to the
// log through the rule engine, which applies it before this returns.
func (g *Gateway) Announce(ctx context.Context, device string, d time.Duration, by, note string) error {
	gen := g.current()
	if gen == nil {
		return errors.New("gateway not running")
	}
	if _, ok := g.reg.meta(device); !ok {
		return fmt.Errorf("%w: no device %q in the config", status.ErrNotFound, device)
	}
	if err := gen.engine.Announce(ctx, device, d, by, note); err != nil {
		return err
	}
	g.opts.Logger.Info("opening announced", "device", device, "for", d, "by", by, "note", note)
	return nil
}

// Announcements implements edge.Announcer.
func (g *Gateway) Announcements() []edge.Announced {
	gen := g.current()
	if gen == nil {
		return nil
	}
	now := g.opts.Clock.Now()
	var out []edge.Announced
	for _, a := range gen.engine.Announcements() {
		if now.Before(a.Until) {
			out = append(out, edge.Announced{Device: a.Device, Until: a.Until, By: a.By, Note: a.Note})
		}
	}
	return out
}

var _ edge.Announcer = (*Gateway)(nil)

// AnnounceRemote sends an announcement to the gateway running with cfg,
// through its status API (authenticated with the local token in the data
// directory, or the password), for `edgegw announce`. It returns the
// address it used. There is no offline path: the running gateway holds the
// store.
func AnnounceRemote(ctx context.Context, cfg *config.Config, req status.AnnounceRequest, password string) (string, error) {
	if cfg.Status.Disabled() {
		return "", errors.New("status.listen is off: the running gateway takes announcements only through its status API")
	}
	base := status.URLFromListen(cfg.Status.Listen)
	c := &status.Client{BaseURL: base, Password: password}
	if tok, err := status.ReadLocalToken(filepath.Join(cfg.Store.Dir, status.LocalTokenFile)); err == nil {
		c.LocalToken = tok
	}
	return base, c.Announce(ctx, req)
}

// AnnounceOutput is the output name the central platform's existing
// commands reach announcements by, until the protocol has a command of its
// own: set_output {output: announce, value: "DEVICE 2h doctor's visit"}
// or play_voice {output: announce, device: DEVICE, for: 2h, note: ...}.
// A configured output of that name wins.
const AnnounceOutput = "announce"

// announceOp applies a central command addressed to AnnounceOutput.
func (g *Gateway) announceOp(ctx context.Context, op edge.Op) error {
	dev, win, note := op.Vars["device"], op.Vars["for"], op.Vars["note"]
	if dev == "" {
		f := strings.Fields(op.Text)
		if len(f) < 2 {
			return fmt.Errorf("announce: want \"DEVICE DURATION [NOTE]\", got %q", op.Text)
		}
		dev, win, note = f[0], f[1], strings.Join(f[2:], " ")
	}
	d, err := time.ParseDuration(win)
	if err != nil {
		return fmt.Errorf("announce %s: window %q: want a duration such as 2h (0 withdraws)", dev, win)
	}
	by := "central"
	if b := op.Vars["by"]; b != "" {
		by = "central:" + b
	}
	return g.Announce(ctx, dev, d, by, note)
}
