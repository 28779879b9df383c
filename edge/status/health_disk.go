package status

import (
	"fmt"

	"github.com/edgegw/edgegw/edge"
)

// diskProblems is what the store's disk figures say is wrong.
func diskProblems(st *edge.StoreStats) []Problem {
	free := fmt.Sprintf("%s free of %s, reserve %s", mib(st.DiskFree), mib(st.DiskTotal), mib(st.DiskReserve))
	switch {
	case st.ReadOnly:
		return []Problem{{CheckDiskFull, fmt.Sprintf("disk full: store open read-only, appends refused until space returns (%s; %d refused)", free, st.Refused)}}
	case st.DiskFull:
		return []Problem{{CheckDiskFull, fmt.Sprintf("disk full: appends refused until space returns (%s; %d refused)", free, st.Refused)}}
	case st.DiskTotal > 0 && st.DiskReserve > 0 && st.DiskFree+st.DiskHeld < st.DiskReserve:
		return []Problem{{CheckDiskLow, fmt.Sprintf("disk low: %s; the store evicts its oldest events to keep the reserve (%d so far)", free, st.DiskEvicted)}}
	}
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
