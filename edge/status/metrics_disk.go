package status

import "github.com/prometheus/client_golang/prometheus"

// diskMetrics are the store's disk figures (issue 11, point 3): free
// space, the reserve the store keeps, evictions for it, and whether appends
// are refused for a full disk.
type diskMetrics struct {
	free, total, reserve, held, full, readOnly, diskEvicted, refused *prometheus.Desc
}

func newDiskMetrics(d func(name, help string, labels ...string) *prometheus.Desc) diskMetrics {
	return diskMetrics{
		free:        d("disk_free_bytes", "Bytes free on the store's filesystem."),
		total:       d("disk_total_bytes", "Size of the store's filesystem."),
		reserve:     d("store_disk_reserve_bytes", "Free space the store keeps on its filesystem: under it, it evicts."),
		held:        d("store_disk_reserve_held_bytes", "Part of the reserve held in a file, given back when the disk fills."),
		full:        d("store_disk_full", "1 while the store refuses appends because its disk is full."),
		readOnly:    d("store_read_only", "1 while the store is open read-only (the disk was full at start)."),
		diskEvicted: d("store_disk_evicted_total", "Events evicted to keep the disk reserve (part of store_evicted_total)."),
		refused:     d("store_refused_total", "Appends refused for a full disk by this process."),
	}
}

func (m diskMetrics) descs() []*prometheus.Desc {
	return []*prometheus.Desc{m.free, m.total, m.reserve, m.held, m.full, m.readOnly, m.diskEvicted, m.refused}
}

func (m diskMetrics) collect(ch chan<- prometheus.Metric, s *Snapshot) {
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	n := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	st := s.Store
	if st.DiskTotal > 0 {
		g(m.free, float64(st.DiskFree))
		g(m.total, float64(st.DiskTotal))
	}
	g(m.reserve, float64(st.DiskReserve))
	g(m.held, float64(st.DiskHeld))
	g(m.full, b2f(st.DiskFull))
	g(m.readOnly, b2f(st.ReadOnly))
	n(m.diskEvicted, float64(st.DiskEvicted))
	n(m.refused, float64(st.Refused))
}
