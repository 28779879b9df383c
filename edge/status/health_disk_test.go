package status

import (
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge"
)

func TestDiskProblems(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		name  string
		st    edge.StoreStats
		check Check
		text  string
	}{
		{"room", edge.StoreStats{DiskFree: 500 * mb, DiskTotal: 1000 * mb, DiskReserve: 64 * mb, DiskHeld: 12 * mb}, 0, ""},
		{"unknown filesystem", edge.StoreStats{}, 0, ""},
		{"under the reserve", edge.StoreStats{DiskFree: 40 * mb, DiskTotal: 1000 * mb, DiskReserve: 64 * mb, DiskHeld: 12 * mb, DiskEvicted: 7},
			CheckDiskLow, "disk low: 40.0 MiB free of 1000.0 MiB, reserve 64.0 MiB; the store evicts its oldest events to keep the reserve (7 so far)"},
		{"held part counts", edge.StoreStats{DiskFree: 53 * mb, DiskTotal: 1000 * mb, DiskReserve: 64 * mb, DiskHeld: 12 * mb}, 0, ""},
		{"full", edge.StoreStats{DiskFree: 2 * mb, DiskTotal: 1000 * mb, DiskReserve: 64 * mb, DiskFull: true, Refused: 12},
			CheckDiskFull, "disk full: appends refused until space returns (2.0 MiB free of 1000.0 MiB, reserve 64.0 MiB; 12 refused)"},
		{"read-only", edge.StoreStats{DiskTotal: 1000 * mb, DiskReserve: 64 * mb, DiskFull: true, ReadOnly: true},
			CheckDiskFull, "disk full: store open read-only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := diskProblems(&tc.st)
			if tc.check == 0 {
				if len(ps) != 0 {
					t.Fatalf("got %v, want none", ps)
				}
				return
			}
			if len(ps) != 1 || ps[0].Check != tc.check || !strings.HasPrefix(ps[0].Text, tc.text) {
				t.Fatalf("got %v, want check %d %q", ps, tc.check, tc.text)
			}
		})
	}
}
