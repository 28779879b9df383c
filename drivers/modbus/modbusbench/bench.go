// Package modbusbench measures one Modbus poll cycle of the gateway's RTU
// master against the time the same frames take on a real line. It backs
// `edgebench modbus`.
package modbusbench

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/edgegw/edgegw/drivers/modbus"
	"github.com/edgegw/edgegw/drivers/modbus/modbustest"
	"github.com/edgegw/edgegw/edge"
)

// Config is one benchmark run.
type Config struct {
	Slaves    int // default 8
	Registers int // holding registers per slave, default 4
	Baud      int // default 9600
	Cycles    int // measured poll cycles, default 20
	// Paced makes the test slave take as long as a real line would to
	// receive the request and send its answer, so the cycle's measured time
	// is line time plus whatever the master adds.
	Paced bool
}

// Result is what the benchmark measured and what it compares against.
type Result struct {
	Bench     string `json:"bench"`
	Mode      string `json:"mode"` // "instant" (pty moves bytes at once) or "paced" (slave emulates the line)
	Slaves    int    `json:"slaves"`
	Registers int    `json:"registers"`
	Baud      int    `json:"baud"`
	CharBits  int    `json:"char_bits"`
	Cycles    int    `json:"cycles"`
	// RequestBytes and ResponseBytes are one transaction's frames.
	RequestBytes  int `json:"request_bytes"`
	ResponseBytes int `json:"response_bytes"`
	// TheoreticalMs is the cycle's time on a real line: per slave the
	// request and response characters plus a t3.5 silence after each frame.
	TheoreticalMs float64 `json:"theoretical_ms"`
	Arithmetic    string  `json:"arithmetic"`
	MedianMs      float64 `json:"median_ms"`
	MeanMs        float64 `json:"mean_ms"`
	MaxMs         float64 `json:"max_ms"`
	Ratio         float64 `json:"ratio"` // median / theoretical
	Target        float64 `json:"target"`
	Pass          bool    `json:"pass"`
}

type discard struct{ n int }

func (d *discard) Emit(edge.Event) error { d.n++; return nil }

// Run runs the benchmark over a pty pair.
func Run(ctx context.Context, c Config) (Result, error) {
	if c.Slaves == 0 {
		c.Slaves = 8
	}
	if c.Registers == 0 {
		c.Registers = 4
	}
	if c.Baud == 0 {
		c.Baud = 9600
	}
	if c.Cycles == 0 {
		c.Cycles = 20
	}
	line := modbus.Line{Baud: c.Baud, DataBits: 8, Parity: "even", StopBits: 1} // 8E1: 11 bits, as the spec counts
	far, path, closePTY, err := modbustest.OpenPTY()
	if err != nil {
		return Result{}, err
	}
	defer closePTY()
	line.Port = path

	banks := map[byte]*modbustest.Bank{}
	o := modbus.Options{LineOptions: modbus.LineOptions{Port: path, Baud: line.Baud, Parity: line.Parity}}
	for s := 1; s <= c.Slaves; s++ {
		b := &modbustest.Bank{Holding: make([]uint16, c.Registers)}
		for i := range b.Holding {
			b.Holding[i] = uint16(100*s + i)
		}
		banks[byte(s)] = b
		dev := modbus.DeviceOptions{ID: fmt.Sprintf("slave%d", s), Slave: s}
		for i := range c.Registers {
			dev.Points = append(dev.Points, modbus.PointOptions{Name: fmt.Sprintf("r%d", i), Table: "holding", Address: i})
		}
		o.Devices = append(o.Devices, dev)
	}
	slave := modbustest.New(banks)
	if c.Paced {
		slave.CharTime = line.CharTime()
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go slave.Serve(sctx, far)

	d, err := modbus.NewWithOptions(edge.Env{Name: "bench"}, o)
	if err != nil {
		return Result{}, err
	}
	m, err := modbus.NewMaster(line)
	if err != nil {
		return Result{}, err
	}
	defer m.Close()
	if err := m.Connect(ctx); err != nil {
		return Result{}, err
	}
	sink := &discard{}
	for range 2 { // warm up: first values, page faults
		if err := d.PollOnce(ctx, m, sink); err != nil {
			return Result{}, err
		}
	}
	clock := edge.SystemClock{}
	times := make([]time.Duration, 0, c.Cycles)
	for range c.Cycles {
		// Start each cycle from an idle bus, as a poll interval would.
		if err := edge.Sleep(ctx, clock, line.Silence()); err != nil {
			return Result{}, err
		}
		start := clock.Now()
		if err := d.PollOnce(ctx, m, sink); err != nil {
			return Result{}, err
		}
		times = append(times, clock.Now().Sub(start))
	}
	for _, st := range d.Stats() {
		if st.Errors > 0 || st.Garbage > 0 {
			return Result{}, fmt.Errorf("%s: errors during the benchmark: %+v", st.Device, st)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	var sum time.Duration
	for _, t := range times {
		sum += t
	}
	req, resp := 8, 5+2*c.Registers
	bits := line.CharBits()
	// Characters per transaction: request + response + a 3.5-character
	// silence after each of the two frames.
	chars := float64(req+resp) + 2*3.5
	theo := float64(c.Slaves) * chars * float64(bits) / float64(line.Baud) * 1000
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	r := Result{
		Bench: "modbus", Mode: "instant", Slaves: c.Slaves, Registers: c.Registers, Baud: line.Baud,
		CharBits: bits, Cycles: c.Cycles, RequestBytes: req, ResponseBytes: resp,
		TheoreticalMs: theo,
		Arithmetic: fmt.Sprintf("%d slaves x (%d request + %d response + 2 x 3.5 silence = %.1f chars) x %d bits / %d baud = %.2f ms",
			c.Slaves, req, resp, chars, bits, line.Baud, theo),
		MedianMs: ms(times[len(times)/2]), MeanMs: ms(sum / time.Duration(len(times))), MaxMs: ms(times[len(times)-1]),
		Target: 1.1,
	}
	if c.Paced {
		r.Mode = "paced"
	}
	r.Ratio = r.MedianMs / theo
	r.Pass = r.Ratio <= r.Target
	return r, nil
}
