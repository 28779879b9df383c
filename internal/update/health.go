package update

import (
	"context"
	"log/slog"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// HealthCheck runs inside a version on trial (a gateway component): once
// the store is open, the drivers run (Ready) and one exchange with the
// central platform succeeded (Synced), it writes health.json, which the
// loader takes as the signal to commit.
type HealthCheck struct {
	Dir     Dir
	Version string
	// Ready is closed once the store is open and the drivers run.
	Ready <-chan struct{}
	// Synced reports whether the uplink has had an accepted heartbeat or
	// batch. Nil: no uplink, Ready is enough.
	Synced func() bool
	Clock  edge.Clock
	Logger *slog.Logger
	// Poll is how often Synced is asked. Default: 250ms.
	Poll time.Duration
}

// Synced reads an uplink's status: one exchange accepted.
func Synced(st func() edge.SyncStatus) func() bool {
	return func() bool {
		s := st()
		return !s.Enabled || s.Successes > 0 || !s.LastSuccess.IsZero()
	}
}

// Run waits for health, records it, then waits for ctx.
func (h *HealthCheck) Run(ctx context.Context) error {
	poll := h.Poll
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	clk := h.Clock
	if clk == nil {
		clk = edge.SystemClock{}
	}
	select {
	case <-h.Ready:
	case <-ctx.Done():
		return nil
	}
	for h.Synced != nil && !h.Synced() {
		if err := edge.Sleep(ctx, clk, poll); err != nil {
			return nil
		}
	}
	if err := h.Dir.SetHealth(Health{Version: h.Version, OKAt: clk.Now().UTC()}); err != nil {
		return err // the gateway's supervisor retries the component
	}
	if h.Logger != nil {
		h.Logger.Info("new version is healthy", "version", h.Version)
	}
	<-ctx.Done()
	return nil
}
