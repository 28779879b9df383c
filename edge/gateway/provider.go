package gateway

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/actions"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/rules"
	"github.com/edgegw/edgegw/edge/status"
)

// Thresholds for the gateway's own health findings.
const (
	storeNearCap    = 0.90
	rulesLagProblem = 10000
)

// Snapshot implements status.Provider. It reads only in-memory state.
func (g *Gateway) Snapshot(ctx context.Context) (status.Snapshot, error) {
	g.mu.Lock()
	cfg, gen, ready, started := g.cfg, g.gen, g.ready, g.started
	g.mu.Unlock()
	now := g.opts.Clock.Now()
	snap := status.Snapshot{
		GatewayID:      cfg.Gateway.ID,
		Site:           cfg.Gateway.Site,
		Version:        g.opts.Version,
		Started:        started.Round(0),
		Now:            now.Round(0),
		Ready:          ready,
		EventsIngested: g.reg.ingested.Load(),
		EventsFailed:   g.reg.failed.Load(),
		Store:          g.store.Stats(),
	}
	if !started.IsZero() {
		snap.Uptime = status.Dur(now.Sub(started))
	}
	if g.syncFn != nil {
		snap.Sync = g.syncFn()
	}
	clockNow, trusted := g.judge.Stamp()
	skew, known := g.judge.Skew()
	snap.Clock = status.Clock{Trusted: trusted, Skew: status.Dur(skew), SkewKnown: known, Jumps: g.judge.Jumps()}
	if g.judge.Floor != nil {
		snap.Clock.Floor = g.judge.Floor.Time()
		snap.Clock.BeforeFloor = clockNow.Before(snap.Clock.Floor)
	}
	snap.Clock.Boot, _ = g.judge.Anchor()

	stats := map[string]edge.DeviceStats{}
	if gen != nil {
		for _, in := range gen.parts.inputs {
			if r, ok := in.driver.(edge.StatsReporter); ok {
				for _, s := range r.Stats() {
					stats[s.Device] = s
				}
			}
		}
		for name := range gen.parts.outputs {
			snap.Outputs = append(snap.Outputs, name)
		}
		sort.Strings(snap.Outputs)
	}
	snap.OutputStats = g.meter.Stats()
	for _, d := range g.reg.snapshot() {
		sd := status.Device{
			Device: d.Device, Online: d.Online, Since: d.Since, Reason: d.Reason,
			LastPoint: d.LastPoint, LastValue: d.LastValue, LastText: d.LastText, LastUnit: d.LastUnit,
			LastSeen: d.LastSeen, Events: d.Events, Stats: stats[d.ID],
		}
		sd.Stats.Device = d.ID
		snap.Devices = append(snap.Devices, sd)
	}
	if gen != nil {
		for _, a := range gen.engine.Active() {
			dev, _ := g.reg.meta(a.Device)
			snap.Alerts = append(snap.Alerts, status.Alert{Alert: a.Alert, Device: a.Device, Location: dev.Location, Since: a.Since})
		}
		silenced(&snap, gen.parts.rules)
	}
	snap.Announcements = g.Announcements()
	snap.Problems = g.problems(&snap, gen)
	return snap, nil
}

// silenced makes a device whose silence alert is active read offline in
// its row too: one state everywhere (the driver may still count it online
// when it only polls, or never heard of it going away).
func silenced(s *status.Snapshot, set interface{ Silence(string) bool }) {
	by := map[string]status.Alert{}
	for _, a := range s.Alerts {
		if a.State != edge.AlertResolved && set.Silence(a.Rule) {
			by[a.Device] = a
		}
	}
	for i := range s.Devices {
		d := &s.Devices[i]
		if a, ok := by[d.ID]; ok && d.Online {
			d.Online, d.Since = false, a.Since
			d.Reason = "silent: alert " + a.Rule
		}
	}
}

func (g *Gateway) problems(s *status.Snapshot, gen *generation) []string {
	var out []string
	if !s.Ready {
		out = append(out, "gateway: not ready (store or drivers not started)")
	}
	if s.Store.CapBytes > 0 && float64(s.Store.Bytes) >= storeNearCap*float64(s.Store.CapBytes) {
		out = append(out, fmt.Sprintf("store: %d%% of cap", 100*s.Store.Bytes/s.Store.CapBytes))
	}
	if gen != nil {
		if st := gen.engine.Stats(); st.Lag > rulesLagProblem {
			out = append(out, fmt.Sprintf("rules: %d events behind", st.Lag))
		}
	}
	if n := g.reg.failed.Load(); n > 0 && !s.Store.DiskFull { // a full disk is its own finding (status.CheckDiskFull)
		msg := "store: events refused"
		if p := g.reg.lastErr.Load(); p != nil {
			msg += ": " + *p
		}
		out = append(out, fmt.Sprintf("%s (%d)", msg, n))
	}
	return out
}

// AckAlert implements status.Provider and edge.Controller.
func (g *Gateway) AckAlert(id, by string) error {
	gen := g.current()
	if gen == nil {
		return errors.New("gateway not running")
	}
	err := gen.engine.Ack(id, by)
	if errors.Is(err, rules.ErrUnknownAlert) {
		return fmt.Errorf("%w: %w", status.ErrNotFound, err)
	}
	return err
}

// TestOutput implements status.Provider.
func (g *Gateway) TestOutput(ctx context.Context, name string) error {
	gen := g.current()
	if gen == nil {
		return errors.New("gateway not running")
	}
	err := gen.runner.Test(ctx, name)
	if errors.Is(err, actions.ErrUnknownOutput) {
		return fmt.Errorf("%w: %w", status.ErrNotFound, err)
	}
	return err
}

// ApplyOutput implements edge.Controller.
func (g *Gateway) ApplyOutput(ctx context.Context, output string, op edge.Op) error {
	gen := g.current()
	if gen == nil {
		return errors.New("gateway not running")
	}
	if _, ok := gen.parts.outputs[output]; !ok && output == AnnounceOutput {
		return g.announceOp(ctx, op)
	}
	return gen.runner.Apply(ctx, output, op)
}

// ApplyConfig implements edge.Controller: a config bundle from the central
// platform is parsed, checked in full, applied, and kept on disk as the last
// good config so that a restart comes back to it.
func (g *Gateway) ApplyConfig(ctx context.Context, data []byte, version string) error {
	name := "central config"
	if version != "" {
		name += " " + version
	}
	cfg, err := config.Parse(name, data)
	if err != nil {
		return err
	}
	if err := g.Reload(ctx, cfg); err != nil {
		return err
	}
	return saveLastGood(g.Config().Store.Dir, data, version, g.opts.Clock.Now())
}

var (
	_ status.Provider = (*Gateway)(nil)
	_ edge.Controller = (*Gateway)(nil)
)

// Events reads the durable log for /api/events and `edgegw tail`.
func (g *Gateway) Events(ctx context.Context, from uint64, max int) ([]edge.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return g.store.Read(from, max)
}
