//go:build linux

package modbus

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// TestLibmodbusLateReplies is the field fault of issue 11: a slave that
// sometimes answers just past the master's timeout. Four libmodbus slaves
// share the line; each holds a value in its holding 40 and 45 that names the
// slave and the register (slave 3's holding 45 is 305), and the driver reads
// the two registers in two requests of the same shape, so an answer taken
// for the wrong request would show as a wrong value. Every 15th answer comes
// 1.5 timeouts after its request. Every reading stored must be the value of
// its own slave and register, and the slaves stay online (offline_after
// at its default), their late answers counted.
//
// EDGEGW_MODBUS_LATE_READINGS sets how many readings to collect (default
// 300); scripts/modbus-late.sh runs it long.
func TestLibmodbusLateReplies(t *testing.T) {
	want := 300
	if s := os.Getenv("EDGEGW_MODBUS_LATE_READINGS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("EDGEGW_MODBUS_LATE_READINGS=%q: not a positive number", s)
		}
		want = n
	}
	const timeout = 50 * time.Millisecond
	s := startLibSlaves(t, "1-4")
	s.Mode(fmt.Sprintf("late 15 %d", (3 * timeout / 2).Milliseconds()))
	cfg := fmt.Sprintf(`
port: %s
baud: 115200
timeout: %v
retries: 1
groups: [{name: g, interval: 10ms, report_every: 1ms}]
devices:
`, s.Port, timeout)
	for a := 1; a <= 4; a++ {
		cfg += fmt.Sprintf("  - {id: s%d, slave: %d, points: [{name: r40, table: holding, address: 40}, {name: r45, table: holding, address: 45}]}\n", a, a)
	}
	d, err := New(edge.Env{Name: "rs485"}, opts(cfg))
	if err != nil {
		t.Fatal(err)
	}
	sink := newCollector()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- d.Run(ctx, sink) }()
	isReading := func(e edge.Event) bool { return e.Kind == edge.KindReading }
	for i, n := 0, 0; n < want; n++ {
		i = sink.WaitFor(t, i, 10*time.Second, fmt.Sprintf("reading %d of %d", n+1, want), isReading) + 1
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	elapsed := time.Since(start)

	wrong, total := 0, 0
	for _, e := range sink.Events() {
		if e.Kind == edge.KindStatus && !e.IsOnline() {
			t.Errorf("%s went offline for the odd late answer: %s", e.Device, e.Text)
		}
		if e.Kind != edge.KindReading {
			continue
		}
		total++
		var slave, reg int
		fmt.Sscanf(e.Device, "s%d", &slave)
		fmt.Sscanf(e.Point, "r%d", &reg)
		if w := float64(100*slave + reg - 40); e.Value != w {
			wrong++
			if wrong <= 5 {
				t.Errorf("%s %s: got %v, want %v (an answer to another request)", e.Device, e.Point, e.Value, w)
			}
		}
	}
	var frames, errs uint64
	causes := map[string]uint64{}
	lastErrs := 0
	for _, st := range d.Stats() {
		if strings.Contains(st.LastError, "answered after its timeout") {
			lastErrs++
		}
		frames += st.Frames
		errs += st.Errors
		for k, n := range st.ErrorsByCause {
			causes[k] += n
		}
	}
	t.Logf("late replies: %d readings in %v, %d wrong; %d good frames, %d errors by cause %v",
		total, elapsed.Round(time.Millisecond), wrong, frames, errs, causes)
	if wrong > 0 {
		t.Errorf("%d of %d readings held another request's value", wrong, total)
	}
	// Online all along, the slow slaves show it: counted by cause, and
	// named in the last error.
	if causes[CauseLate] == 0 || lastErrs == 0 {
		t.Errorf("late answers not shown: causes %v, %d last errors name them", causes, lastErrs)
	}
}
