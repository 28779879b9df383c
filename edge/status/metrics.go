package status

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/edgegw/edgegw/edge"
)

// collector reads one Provider snapshot per scrape, so the numbers of a
// scrape are consistent with each other and cost nothing between scrapes.
type collector struct {
	p       Provider
	version string

	ok, info, uptime                                  *prometheus.Desc
	ingested, failed                                  *prometheus.Desc
	backlogEvents, backlogBytes, oldestAge, reachable *prometheus.Desc
	syncOK, syncFail, quarantined                     *prometheus.Desc
	storeBytes, storeCap, storeEvents, evicted, gaps  *prometheus.Desc
	devOnline, devTotal, alerts, clockTrusted, skew   *prometheus.Desc
	devGarbage, devErrors                             *prometheus.Desc
	devErrorsByCause                                  *prometheus.Desc
	syncState, syncStateAge                           *prometheus.Desc
	devUp                                             *prometheus.Desc
	outCalls, outFailures, outDuration                *prometheus.Desc
	disk                                              diskMetrics
}

func newCollector(p Provider, version string) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("edgegw_"+name, help, labels, nil)
	}
	return &collector{
		p: p, version: version, disk: newDiskMetrics(d),
		ok:            d("snapshot_ok", "1 when the gateway answered the status snapshot of this scrape."),
		info:          d("build_info", "The gateway's version, always 1.", "version"),
		uptime:        d("uptime_seconds", "Seconds since the gateway started."),
		ingested:      d("events_ingested_total", "Events made durable by this process."),
		failed:        d("events_failed_total", "Events the store refused."),
		backlogEvents: d("sync_backlog_events", "Events not yet accepted by the central platform."),
		backlogBytes:  d("sync_backlog_bytes", "Bytes of events not yet accepted by the central platform."),
		oldestAge:     d("sync_oldest_unsynced_age_seconds", "Age of the oldest event not yet synced (0 when none)."),
		reachable:     d("sync_central_reachable", "1 when the central platform answered the last attempt."),
		syncOK:        d("sync_success_total", "Batches accepted by the central platform."),
		syncFail:      d("sync_failure_total", "Failed sync attempts."),
		quarantined:   d("sync_quarantined_total", "Batches rejected by the central platform and set aside."),
		storeBytes:    d("store_bytes", "Bytes the store uses on disk."),
		storeCap:      d("store_cap_bytes", "The store's configured byte cap, in bytes on disk."),
		storeEvents:   d("store_events", "Events held in the store."),
		evicted:       d("store_evicted_total", "Events evicted to keep the store under its cap or its disk reserve."),
		gaps:          d("store_gap_records_total", "Gap records written for evicted or lost events."),
		devOnline:     d("devices_online", "Devices online."),
		devTotal:      d("devices", "Devices known (online or not)."),
		alerts:        d("active_alerts", "Alerts firing or acknowledged and not yet resolved."),
		clockTrusted:  d("clock_trusted", "1 when the wall clock is trusted."),
		skew:          d("clock_skew_seconds", "Central platform's time minus ours, when known."),
		devGarbage:    d("device_garbage_total", "Bytes or frames from a device that did not decode.", "device"),
		devErrors:     d("device_errors_total", "Timeouts, CRC errors and write failures of a device.", "device"),
		devErrorsByCause: d("device_errors_by_cause_total",
			"A device's errors by cause (timeout, late, crc, mismatched, short_frame, exception_N, ...), for drivers that tell them apart.",
			"device", "cause"),
		syncState:    d("sync_state", "1 for the uplink's state now (connecting, ok, unreachable, rejecting, stalled, paused), 0 for the others.", "state"),
		syncStateAge: d("sync_state_seconds", "Seconds the uplink has been in its state."),
		devUp:        d("device_up", "1 when the device is online, 0 when offline (the same state as the status page's row).", "device", "type", "location"),
		outCalls:     d("output_actions_total", "Calls of an output (rule actions, pulse ends, tests), failed or not.", "output"),
		outFailures:  d("output_failures_total", "Calls of an output that failed.", "output"),
		outDuration:  d("output_action_duration_seconds", "How long an output took to take a command.", "output"),
	}
}

func (c *collector) descs() []*prometheus.Desc {
	return []*prometheus.Desc{c.ok, c.info, c.uptime, c.ingested, c.failed, c.backlogEvents, c.backlogBytes,
		c.oldestAge, c.reachable, c.syncOK, c.syncFail, c.quarantined, c.storeBytes, c.storeCap, c.storeEvents,
		c.evicted, c.gaps, c.devOnline, c.devTotal, c.alerts, c.clockTrusted, c.skew, c.devGarbage, c.devErrors,
		c.syncState, c.syncStateAge, c.devUp, c.outCalls, c.outFailures, c.outDuration}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
	ch <- c.devErrorsByCause
	for _, d := range c.disk.descs() {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s, err := c.p.Snapshot(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.ok, prometheus.GaugeValue, 0)
		return
	}
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	n := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	v := s.Version
	if v == "" {
		v = c.version
	}
	g(c.ok, 1)
	g(c.info, 1, v)
	g(c.uptime, float64(s.Uptime))
	n(c.ingested, float64(s.EventsIngested))
	n(c.failed, float64(s.EventsFailed))
	g(c.backlogEvents, float64(s.Sync.BacklogEvents))
	g(c.backlogBytes, float64(s.Sync.BacklogBytes))
	age := 0.0
	if !s.Sync.OldestUnsynced.IsZero() && !s.Now.IsZero() {
		age = max(0, s.Now.Sub(s.Sync.OldestUnsynced).Seconds())
	}
	g(c.oldestAge, age)
	g(c.reachable, b2f(s.Sync.Reachable))
	n(c.syncOK, float64(s.Sync.Successes))
	n(c.syncFail, float64(s.Sync.Failures))
	n(c.quarantined, float64(s.Sync.Quarantined))
	if s.Sync.Enabled && s.Sync.State != "" {
		for _, st := range edge.SyncStates {
			g(c.syncState, b2f(st == s.Sync.State), st)
		}
		if !s.Sync.StateSince.IsZero() && !s.Now.IsZero() {
			g(c.syncStateAge, max(0, s.Now.Sub(s.Sync.StateSince).Seconds()))
		}
	}
	g(c.storeBytes, float64(s.Store.Bytes))
	g(c.storeCap, float64(s.Store.CapBytes))
	g(c.storeEvents, float64(s.Store.Events))
	n(c.evicted, float64(s.Store.Evicted))
	n(c.gaps, float64(s.Store.GapRecords))
	c.disk.collect(ch, &s)
	g(c.devOnline, float64(s.OnlineCount()))
	g(c.devTotal, float64(len(s.Devices)))
	g(c.alerts, float64(len(s.Alerts)))
	g(c.clockTrusted, b2f(s.Clock.Trusted))
	if s.Clock.SkewKnown {
		g(c.skew, float64(s.Clock.Skew))
	}
	seen := map[string]bool{}
	for _, d := range s.Devices {
		if d.ID == "" || seen[d.ID] {
			continue // a duplicate label set would fail the whole scrape
		}
		seen[d.ID] = true
		g(c.devUp, b2f(d.Online), d.ID, d.Type, d.Location)
		n(c.devGarbage, float64(d.Stats.Garbage), d.ID)
		n(c.devErrors, float64(d.Stats.Errors), d.ID)
		for _, cause := range slices.Sorted(maps.Keys(d.Stats.ErrorsByCause)) {
			n(c.devErrorsByCause, float64(d.Stats.ErrorsByCause[cause]), d.ID, cause)
		}
	}
	for _, o := range s.OutputStats {
		n(c.outCalls, float64(o.OK+o.Failed), o.Name)
		n(c.outFailures, float64(o.Failed), o.Name)
		if len(o.Buckets) == len(edge.LatencyBuckets) {
			b := make(map[float64]uint64, len(o.Buckets))
			for i, ub := range edge.LatencyBuckets {
				b[ub] = o.Buckets[i]
			}
			if m, err := prometheus.NewConstHistogram(c.outDuration, o.Count, o.SumSeconds, b, o.Name); err == nil {
				ch <- m
			}
		}
	}
}

// MetricsText is /metrics of provider p, without a server: the gateway's
// collector and the Go and process collectors, in the Prometheus text
// format (for the support bundle).
func MetricsText(p Provider, version string) ([]byte, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := reg.Register(newCollector(p, version)); err != nil {
		return nil, fmt.Errorf("status: register metrics: %w", err)
	}
	mfs, err := reg.Gather()
	var buf bytes.Buffer
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	enc := expfmt.NewEncoder(&buf, format)
	for _, mf := range mfs {
		if eerr := enc.Encode(mf); eerr != nil {
			return buf.Bytes(), fmt.Errorf("status: encode metrics: %w", eerr)
		}
	}
	if err != nil {
		return buf.Bytes(), fmt.Errorf("status: gather metrics: %w", err)
	}
	return buf.Bytes(), nil
}
