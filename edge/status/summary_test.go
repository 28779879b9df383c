package status

import (
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/i18n"
)

func TestWriteSummary(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	s := &Snapshot{GatewayID: "gw-1", Version: "v1", Now: now}
	d := Device{Device: edge.Device{ID: "meter-1"}, Online: true, Since: now.Add(-time.Hour)}
	d.Stats.Errors = 4
	d.Stats.ErrorsByCause = map[string]uint64{"timeout": 3, "crc": 1}
	s.Devices = []Device{d, {Device: edge.Device{ID: "door-2"}, Reason: "no answer"}}
	s.Store = edge.StoreStats{DiskTotal: 100 << 20, DiskFree: 0, DiskReserve: 64 << 20, DiskFull: true}
	var b strings.Builder
	if err := WriteSummary(&b, s, []Problem{{Check: CheckDiskFull, Text: "disk full"}}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"health: DEGRADED (1)\n  !  disk full",
		"devices: 1 of 2 online",
		"errors 4 garbage 0 (crc 1, timeout 3)",
		"door-2               OFFLINE (no answer)",
		"disk: FULL (appends refused), 0 B free of 100.0 MiB, reserve 64.0 MiB",
		"since 1h0m0s ago",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

func TestWriteSummaryInChinese(t *testing.T) {
	s := &Snapshot{GatewayID: "gw-1", Ready: true, Now: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
	s.Devices = []Device{{Device: edge.Device{ID: "door-2"}, Reason: "no answer", Since: s.Now.Add(-5 * time.Minute)}}
	s.Clock.Trusted = true
	var b strings.Builder
	if err := WriteSummaryIn(&b, s, Evaluate(s, Thresholds{}), time.Time{}, i18n.ZH); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "健康状态：降级 (1)\n  !  设备 door-2 离线已 5m0s（no answer）") {
		t.Errorf("summary in Chinese:\n%s", b.String())
	}
}

// Every check has what-to-check text in both languages.
func TestEveryCheckHasAHint(t *testing.T) {
	for c := range checkNames {
		for _, lang := range []i18n.Lang{i18n.EN, i18n.ZH} {
			if h := c.Hint(lang); h == "" || h == "hint."+c.String() {
				t.Errorf("%s: no hint in %s", c, lang)
			}
		}
	}
}

// TestWriteSummaryClockBeforeFloor: `edgegw status` says why the clock is
// not trusted when it reads before the last known good time.
func TestWriteSummaryClockBeforeFloor(t *testing.T) {
	floor := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	s := &Snapshot{GatewayID: "gw-1", Now: time.Unix(600, 0), Clock: Clock{Floor: floor, BeforeFloor: true}}
	var b strings.Builder
	if err := WriteSummary(&b, s, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if want := "clock: NOT trusted, before the last known good time 2026-11-30T06:00:00Z"; !strings.Contains(b.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, b.String())
	}
	s.Clock = Clock{Trusted: true, Floor: floor}
	b.Reset()
	if err := WriteSummary(&b, s, nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "last known good") {
		t.Errorf("a clock after the floor is reported before it:\n%s", b.String())
	}
}
