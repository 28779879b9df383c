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
	"github.com/edgegw/edgegw/edge/store"
	"github.com/edgegw/edgegw/internal/update"
	"github.com/edgegw/edgegw/internal/version"
	"github.com/edgegw/edgegw/sync/uplink"
	"github.com/edgegw/edgegw/sync/wire"

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
	// Updates runs the self-update manager (under the loader of
	// `edgegw service run` only): runGateway then returns update.ErrRestart
	// once a new version is staged.
	Updates bool
	// Started, when set, is called once everything is built and about to
	// run (the demo's summary and network switch hook in here).
	Started func(g *gateway.Gateway, up *uplink.Uplink, st *status.Server)
}

// runGateway wires a gateway, its status server and its uplink, and runs
// them until ctx ends.
func runGateway(ctx context.Context, o runOptions) error {
	cfg := o.Config
	// Self-update follows the local file alone, never a config the central
	// pushed: the release keys are what a central cannot change
	// (PROTOCOL.md §6a).
	local := o.Config
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
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

	var mgr *update.Manager
	if o.Updates && local.Update.Enabled() && cfg.Uplink.Enabled() {
		if mgr, err = newUpdateManager(local, g, func() { stop(update.ErrRestart) }, logger); err != nil {
			// `edgegw validate` reports it; the gateway runs without updates.
			logger.Error("self-update is off: a release key is invalid", "err", err)
		}
	}
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
			Updater:    updater(mgr),
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
	if mgr != nil {
		if t, ok := any(u).(update.Transport); ok {
			mgr.SetTransport(t)
		}
		g.Add(mgr)
	}
	if v := update.TrialVersion(); v != "" && o.Updates {
		hc := &update.HealthCheck{Dir: update.Dir(local.Update.Dir), Version: v, Ready: g.Ready(), Clock: g.Clock(),
			Logger: logger.With("component", "update")}
		if u != nil {
			hc.Synced = update.Synced(u.Status)
		}
		g.Add(hc)
	}
	if o.Started != nil {
		o.Started(g, u, st)
	}
	if err := g.Run(ctx); err != nil {
		return err
	}
	if context.Cause(ctx) == update.ErrRestart {
		return update.ErrRestart
	}
	return nil
}

// newUpdateManager builds the self-update manager of a gateway.
func newUpdateManager(cfg *config.Config, g *gateway.Gateway, restart func(), logger *slog.Logger) (*update.Manager, error) {
	keys, err := update.Keys(cfg)
	if err != nil {
		return nil, err
	}
	return update.NewManager(update.ManagerOptions{
		Dir:         update.Dir(cfg.Update.Dir),
		Keys:        keys,
		MaxSize:     int64(cfg.Update.MaxSize),
		MaxAttempts: cfg.Update.MaxAttempts,
		Version:     version.Version,
		Restart:     restart,
		Trial:       update.TrialVersion(),
		StoreSchema: g.Store().Schema,
		ReadsStore:  store.ReadsSchema,
		Room:        g.Store().RoomFor,
		Clock:       g.Clock(),
		Logger:      logger.With("component", "update"),
	}), nil
}

// updater is mgr as the uplink's hook (nil stays a nil interface).
func updater(mgr *update.Manager) interface {
	Status() wire.UpdateStatus
	Offer(*wire.ReleaseOffer)
} {
	if mgr == nil {
		return nil
	}
	return mgr
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
