package jsstore

import (
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store's counters (Register exports them).
type metrics struct {
	batches, stored, dups, retries, conflicts, unavailable atomic.Uint64
	latency                                                prometheus.Histogram
}

func (m *metrics) init() {
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "edgecentral_batch_store_seconds",
		Help:    "Time to store one batch in JetStream (all its chunks, retries included).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})
}

func (m *metrics) observe(d time.Duration) { m.latency.Observe(d.Seconds()) }

// Register adds the store's metrics to reg: batches and events stored,
// duplicates refused, retries, compare-and-set conflicts, batches answered
// unavailable, batch latency, the NATS connection state.
func (s *Store) Register(reg prometheus.Registerer) error {
	c := func(name, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	for _, col := range []prometheus.Collector{
		c("edgecentral_batches_stored_total", "Batches stored (or found stored) in JetStream.", &s.m.batches),
		c("edgecentral_events_stored_total", "Events stored, each once.", &s.m.stored),
		c("edgecentral_events_duplicate_total", "Events refused as already stored (retries, concurrent twins).", &s.m.dups),
		c("edgecentral_store_retries_total", "Publish attempts retried (conflict, timeout, no leader).", &s.m.retries),
		c("edgecentral_store_conflicts_total", "Compare-and-set conflicts (10071, 10164) resolved by a re-read.", &s.m.conflicts),
		c("edgecentral_store_unavailable_total", "Batches answered 503: JetStream did not answer in time.", &s.m.unavailable),
		s.m.latency,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "edgecentral_nats_connected",
			Help: "1 while the connection to NATS is up."}, func() float64 {
			if s.nc.Status() == nats.CONNECTED {
				return 1
			}
			return 0
		}),
	} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}
