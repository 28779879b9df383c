package status

import (
	"fmt"

	"github.com/edgegw/edgegw/edge"
)

// diskProblems is what the store's disk figures say is wrong.
func diskProblems(st *edge.StoreStats) []Problem {
	data := map[string]any{"Free": mib(st.DiskFree), "Total": mib(st.DiskTotal), "Reserve": mib(st.DiskReserve),
		"Refused": st.Refused, "Evicted": st.DiskEvicted}
	switch {
	case st.ReadOnly:
		return []Problem{finding(CheckDiskFull, "finding.disk_read_only", data)}
	case st.DiskFull:
		return []Problem{finding(CheckDiskFull, "finding.disk_full", data)}
	case st.DiskTotal > 0 && st.DiskReserve > 0 && st.DiskFree+st.DiskHeld < st.DiskReserve:
		return []Problem{finding(CheckDiskLow, "finding.disk_low", data)}
	}
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
