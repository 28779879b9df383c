package jsstore

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// LagCollector exports, on each scrape, the lag of every durable consumer
// of the events stream (exporters, the district platform's own):
// messages not yet delivered and delivered but not acknowledged.
type LagCollector struct {
	s                   *Store
	pending, ackPending *prometheus.Desc
}

// NewLagCollector returns the collector of s's consumers.
func NewLagCollector(s *Store) *LagCollector {
	return &LagCollector{s: s,
		pending: prometheus.NewDesc("edgecentral_consumer_pending_messages",
			"Messages of the events stream not yet delivered to the consumer.", []string{"consumer"}, nil),
		ackPending: prometheus.NewDesc("edgecentral_consumer_ack_pending_messages",
			"Messages delivered to the consumer and not acknowledged yet.", []string{"consumer"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *LagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.pending; ch <- c.ackPending }

// Collect implements prometheus.Collector.
func (c *LagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(c.s.ctx, 2*time.Second)
	defer cancel()
	l := c.s.ev.ListConsumers(ctx)
	for ci := range l.Info() {
		if ci.Config.Durable == "" {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(ci.NumPending), ci.Name)
		ch <- prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(ci.NumAckPending), ci.Name)
	}
}
