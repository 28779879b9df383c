package sim

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/edgegw/edgegw/edge"
)

// Device types of the simulated compound.
const (
	TypeDoor        = "door_contact"
	TypeGarbage     = "garbage_station"
	TypeTemperature = "temperature"
	TypeSmoke       = "smoke"
	TypeWaterLevel  = "water_level"
	TypeCamera      = "camera"
)

// simDevice is one simulated device and its current state.
type simDevice struct {
	edge.Device
	building int // 1-based
	open     bool
	value    float64 // temperature, smoke, fill, water level
	base     float64
}

// generator makes the compound's events. It is a pure function of its seed
// and the calls made on it (no clock, no goroutine), so a seed gives the
// same sequence every time.
type generator struct {
	rng      *rand.Rand
	devs     []*simDevice
	byID     map[string]*simDevice
	doors    []*simDevice
	observed []*simDevice
	lids     []*simDevice // garbage stations
	temps    []*simDevice
	smokes   []*simDevice
	waters   []*simDevice
	cams     []*simDevice
	fire     map[int]bool // buildings on fire
}

func newGenerator(o *Options) *generator {
	g := &generator{rng: rand.New(rand.NewPCG(uint64(o.Seed), 0x9e3779b97f4a7c15)), byID: map[string]*simDevice{}, fire: map[int]bool{}}
	add := func(d *simDevice) *simDevice {
		g.devs = append(g.devs, d)
		g.byID[d.ID] = d
		return d
	}
	c := o.Compound
	for b := 1; b <= o.Buildings; b++ {
		bl := fmt.Sprintf("%s/b%d", c, b)
		g.lids = append(g.lids, add(&simDevice{Device: edge.Device{ID: fmt.Sprintf("garbage-b%d", b), Location: bl, Type: TypeGarbage, Tags: []string{"garbage"}}, building: b, value: 20, base: 20}))
		g.waters = append(g.waters, add(&simDevice{Device: edge.Device{ID: fmt.Sprintf("water-b%d", b), Location: bl, Type: TypeWaterLevel, Tags: []string{"water", "basement"}}, building: b, value: 30, base: 30}))
		g.cams = append(g.cams, add(&simDevice{Device: edge.Device{ID: fmt.Sprintf("cam-b%d", b), Location: bl, Type: TypeCamera, Tags: []string{"camera", "falling-object"}}, building: b}))
		for u := 1; u <= o.Units; u++ {
			ul := fmt.Sprintf("%s/u%d", bl, u)
			g.temps = append(g.temps, add(&simDevice{Device: edge.Device{ID: fmt.Sprintf("temp-b%d-u%d", b, u), Location: ul, Type: TypeTemperature, Tags: []string{"fire"}}, building: b, value: 21, base: 21}))
			g.smokes = append(g.smokes, add(&simDevice{Device: edge.Device{ID: fmt.Sprintf("smoke-b%d-u%d", b, u), Location: ul, Type: TypeSmoke, Tags: []string{"fire"}}, building: b, value: 0.5, base: 0.5}))
			for h := 1; h <= o.Households; h++ {
				d := add(&simDevice{Device: edge.Device{
					ID:       fmt.Sprintf("door-b%d-u%d-h%d", b, u, h),
					Location: fmt.Sprintf("%s/h%d%02d", ul, u, h),
					Type:     TypeDoor,
					Tags:     []string{"door"},
				}, building: b})
				if o.ObserveEvery > 0 && len(g.doors)%o.ObserveEvery == 0 {
					d.Tags = append(d.Tags, "observe")
					g.observed = append(g.observed, d)
				}
				g.doors = append(g.doors, d)
			}
		}
	}
	return g
}

// devices returns the device list (with the input name as Driver).
func (g *generator) devices(input string) []edge.Device {
	out := make([]edge.Device, len(g.devs))
	for i, d := range g.devs {
		out[i] = d.Device
		out[i].Tags = append([]string(nil), d.Tags...)
		out[i].Driver = input
	}
	return out
}

// next returns the next random event. Readings are most of the traffic;
// doors, lids and the camera change state now and then.
func (g *generator) next() edge.Event {
	r := g.rng.IntN(1000)
	switch {
	case r < 50 && len(g.doors) > 0:
		return g.toggleDoor(g.doors[g.rng.IntN(len(g.doors))])
	case r < 69:
		d := g.lids[g.rng.IntN(len(g.lids))]
		d.open = !d.open
		return stateEvent(d, "lid", d.open, "open", "closed")
	case r == 69 && g.rng.IntN(20) == 0: // one event in 20000
		return g.fall(g.cams[g.rng.IntN(len(g.cams))])
	case r < 400 && len(g.temps) > 0:
		d := g.temps[g.rng.IntN(len(g.temps))]
		target := d.base
		if g.fire[d.building] {
			target = 85
		}
		d.value = walk(g.rng, d.value, target, 0.2)
		return edge.Reading(d.ID, "temperature", round1(d.value), "C")
	case r < 650 && len(g.smokes) > 0:
		d := g.smokes[g.rng.IntN(len(g.smokes))]
		target := d.base
		if g.fire[d.building] {
			target = 35
		}
		d.value = max(0, walk(g.rng, d.value, target, 0.05))
		return edge.Reading(d.ID, "smoke", round1(d.value), "%obs/m")
	case r < 850:
		d := g.lids[g.rng.IntN(len(g.lids))]
		d.value = min(100, d.value+g.rng.Float64()*0.5)
		if d.value >= 100 {
			d.value = 5 // emptied
		}
		return edge.Reading(d.ID, "fill", round1(d.value), "%")
	default:
		d := g.waters[g.rng.IntN(len(g.waters))]
		d.value = max(0, walk(g.rng, d.value, d.base, 0.5))
		return edge.Reading(d.ID, "level", round1(d.value), "cm")
	}
}

// walk moves v a random step, pulled towards target.
func walk(r *rand.Rand, v, target, step float64) float64 {
	pull := (target - v) * 0.05
	if math.Abs(target-v) > 10 {
		pull = math.Copysign(step*4, target-v)
	}
	return v + pull + (r.Float64()*2-1)*step
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

func stateEvent(d *simDevice, point string, on bool, onName, offName string) edge.Event {
	if on {
		return edge.StateChange(d.ID, point, onName, 1)
	}
	return edge.StateChange(d.ID, point, offName, 0)
}

func (g *generator) toggleDoor(d *simDevice) edge.Event {
	d.open = !d.open
	return stateEvent(d, "door", d.open, "open", "closed")
}

func (g *generator) setDoor(d *simDevice, open bool) edge.Event {
	d.open = open
	return stateEvent(d, "door", open, "open", "closed")
}

func (g *generator) fall(d *simDevice) edge.Event {
	return edge.StateChange(d.ID, "alarm", "FALL", 1)
}

// randomObserved picks an observed door that is closed, if any.
func (g *generator) randomObserved() *simDevice {
	if len(g.observed) == 0 {
		return nil
	}
	start := g.rng.IntN(len(g.observed))
	for i := range g.observed {
		d := g.observed[(start+i)%len(g.observed)]
		if !d.open {
			return d
		}
	}
	return nil
}
