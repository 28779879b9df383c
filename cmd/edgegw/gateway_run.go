package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/gateway"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/edge/status"
	"github.com/edgegw/edgegw/internal/version"
	"github.com/edgegw/edgegw/sync/uplink"

	// The device families, registered by name.
	"github.com/edgegw/edgegw/drivers/camera"
	_ "github.com/edgegw/edgegw/drivers/gpio"
	_ "github.com/edgegw/edgegw/drivers/gsm"
	_ "github.com/edgegw/edgegw/drivers/modbus"
	_ "github.com/edgegw/edgegw/drivers/rf433"
	_ "github.com/edgegw/edgegw/drivers/serial"
	_ "github.com/edgegw/edgegw/drivers/sim"
	_ "github.com/edgegw/edgegw/drivers/voice"
)

type runOptions struct {
	Config        *config.Config
	ConfigPath    string
	IgnoreCentral bool
	Stderr        io.Writer
	// Started, when set, is called once everything is built and about to
	// run (the demo's summary and network switch hook in here).
	Started func(g *gateway.Gateway, up *uplink.Uplink, st *status.Server)
}

// runGateway wires a gateway, its status server and its uplink, and runs
// them until ctx ends.
func runGateway(ctx context.Context, o runOptions) error {
	cfg := o.Config
	ring := status.NewLogRing(500, slog.LevelInfo)
	logger := newLogger(cfg.Log, o.Stderr, ring.Wrap(slog.DiscardHandler))

	if !o.IgnoreCentral {
		pushed, ver, err := gateway.LoadLastGood(cfg)
		switch {
		case err != nil:
			logger.Warn("ignoring the config last pushed by the central platform", "err", err)
		case pushed != nil:
			logger.Info("running the config last pushed by the central platform", "version", ver, "local", o.ConfigPath)
			cfg = pushed
		}
	}

	var up atomic.Pointer[uplink.Uplink]
	g, err := gateway.New(gateway.Options{
		Config:     cfg,
		ConfigPath: o.ConfigPath,
		Logger:     logger,
		Version:    version.Version,
		Logs:       ring,
		UplinkUp: func() bool {
			u := up.Load()
			return u != nil && u.Up()
		},
	})
	if err != nil {
		return err
	}

	st, err := status.New(status.Options{
		Config:         cfg.Status,
		Provider:       g,
		Logger:         logger.With("component", "status"),
		Version:        version.Version,
		Logs:           ring,
		Now:            g.Clock().Now,
		LocalTokenPath: filepath.Join(cfg.Store.Dir, status.LocalTokenFile),
		Language:       i18n.Lang(cfg.Gateway.Language),
	})
	if err != nil {
		g.Store().Close()
		return err
	}
	g.Add(st)

	var u *uplink.Uplink
	if cfg.Uplink.URL != "" {
		u, err = uplink.New(uplink.Options{
			Config:     cfg.Uplink,
			GatewayID:  cfg.Gateway.ID,
			Log:        g.Store(),
			State:      g.Store(),
			Controller: g,
			Judge:      g.Judge(),
			Clock:      g.Clock(),
			Logger:     logger.With("component", "uplink"),
			Version:    version.Version,
			Summary:    func() uplink.Summary { return summary(ctx, g) },
			FilesDirs:  pictureDirs(cfg),
		})
		if err != nil {
			g.Store().Close()
			return fmt.Errorf("uplink: %w", err)
		}
		up.Store(u)
		g.Add(u)
		g.SetSyncStatus(u.Status)
	} else {
		g.SetSyncStatus(func() edge.SyncStatus { return edge.SyncStatus{Enabled: false} })
	}
	if o.Started != nil {
		o.Started(g, u, st)
	}
	return g.Run(ctx)
}

// pictureDirs are the picture folders of the camera inputs: the uplink
// uploads the pictures their events name.
func pictureDirs(cfg *config.Config) []string {
	var dirs []string
	for i, in := range cfg.Inputs {
		if in.Driver != "camera" {
			continue
		}
		if d := camera.PictureDir(cfg.NodeOptions(fmt.Sprintf("inputs[%d].options", i), in.Options)); d != "" {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

func summary(ctx context.Context, g *gateway.Gateway) uplink.Summary {
	s, err := g.Snapshot(ctx)
	if err != nil {
		return uplink.Summary{}
	}
	return uplink.Summary{
		DevicesOnline: s.OnlineCount(),
		DevicesTotal:  len(s.Devices),
		ActiveAlerts:  len(s.Alerts),
		StoreBytes:    s.Store.Bytes,
		StoreCap:      s.Store.CapBytes,
	}
}
