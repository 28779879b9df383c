// Package rules evaluates the gateway's local alert rules: a pure core
// (Core: state + event or tick + now -> alert changes and actions) and the
// one goroutine that does its IO (Engine: the log's "rules" cursor, the
// state store, the action runner).
package rules

import (
	"errors"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/actions"
	"github.com/edgegw/edgegw/edge/config"
)

// Env is what rule expressions see. Field names in expressions are the
// expr tags.
type Env struct {
	Event  *EventEnv          `expr:"event"`
	Device *DeviceEnv         `expr:"device"`
	Points map[string]float64 `expr:"points"`
	Now    time.Time          `expr:"now"`
	// Latest returns another device's latest value of a point; it is an
	// error (a runtime rule error) when there is none yet.
	Latest func(device, point string) (float64, error) `expr:"latest"`
	// Announced reports whether an opening of the device is announced (a
	// doctor's visit, a delivery) at the time of the event: a rule
	// "when: event.text == 'open' && !announced(event.device)" records
	// the opening without alerting.
	Announced func(device string) bool `expr:"announced"`
}

// EventEnv is the event as expressions see it.
type EventEnv struct {
	Kind    string    `expr:"kind"` // reading, state, status, action
	Point   string    `expr:"point"`
	Value   float64   `expr:"value"`
	Text    string    `expr:"text"`
	Unit    string    `expr:"unit"`
	Quality string    `expr:"quality"` // good, uncertain, bad
	Device  string    `expr:"device"`
	Online  bool      `expr:"online"`
	Seq     uint64    `expr:"seq"`
	Time    time.Time `expr:"time"`
}

// DeviceEnv is the device's metadata as expressions see it.
type DeviceEnv struct {
	ID        string   `expr:"id"`
	Location  string   `expr:"location"`
	Tags      []string `expr:"tags"`
	Type      string   `expr:"type"`
	Compound  string   `expr:"compound"`
	Building  string   `expr:"building"`
	Unit      string   `expr:"unit"`
	Household string   `expr:"household"`
}

func newDeviceEnv(d edge.Device) *DeviceEnv {
	return &DeviceEnv{ID: d.ID, Location: d.Location, Tags: d.Tags, Type: d.Type,
		Compound: d.LocationPart(0), Building: d.LocationPart(1), Unit: d.LocationPart(2), Household: d.LocationPart(3)}
}

var qualityNames = [...]string{"good", "uncertain", "bad"}

type resolveMode uint8

const (
	resolveAuto resolveMode = iota
	resolveAck
	resolveExpr
)

// kind bits for the match
const (
	bitReading = 1 << edge.KindReading
	bitState   = 1 << edge.KindState
	bitStatus  = 1 << edge.KindStatus
	bitAction  = 1 << edge.KindAction
)

// rule is one compiled rule.
type rule struct {
	idx      int
	name     string
	field    string // "rules[3]"
	when     *vm.Program
	resolve  *vm.Program
	rmode    resolveMode
	devices  map[string]bool
	tags     []string
	locs     []string
	points   map[string]bool // nil: any
	kinds    uint32
	forD     time.Duration
	debounce time.Duration
	cooldown time.Duration
	sched    *schedule
	countN   int
	countW   time.Duration
	staleD   time.Duration
	stale    bool
	offline  bool
	severity string
	msg      *template.Template
	actions  []*actions.Spec
}

// matchDevice reports whether the rule's device-level match (ids, tags,
// location) selects d.
func (r *rule) matchDevice(d *edge.Device) bool {
	if r.devices != nil && !r.devices[d.ID] {
		return false
	}
	if len(r.tags) > 0 {
		ok := false
		for _, t := range r.tags {
			if d.HasTag(t) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(r.locs) > 0 {
		ok := false
		for _, l := range r.locs {
			if d.InLocation(l) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Set is a compiled set of rules, indexed so that finding the rules of an
// event costs the same with 5 rules or 500.
type Set struct {
	rules  []*rule
	byName map[string]*rule
	// static index for binding devices: rules naming device ids, rules
	// naming tags (and no ids), and the rest.
	byDevice map[string][]*rule
	byTag    map[string][]*rule
	wild     []*rule
	tz       *time.Location
}

// Len is the number of rules.
func (s *Set) Len() int { return len(s.rules) }

// Silence reports whether rule name fires on a device's silence (a stale
// rule): its active alert means the device is not heard from.
func (s *Set) Silence(name string) bool {
	r, ok := s.byName[name]
	return ok && r.stale
}

// Names lists the rule names in config order.
func (s *Set) Names() []string {
	ns := make([]string, len(s.rules))
	for i, r := range s.rules {
		ns[i] = r.name
	}
	return ns
}

// candidates returns the rules whose device-level match selects d.
func (s *Set) candidates(d *edge.Device) []*rule {
	seen := map[*rule]bool{}
	var out []*rule
	add := func(rs []*rule) {
		for _, r := range rs {
			if !seen[r] && r.matchDevice(d) {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	add(s.byDevice[d.ID])
	for _, t := range d.Tags {
		add(s.byTag[t])
	}
	add(s.wild)
	// config order, so that traces are deterministic
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].idx < out[j-1].idx; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Errorf is how compile errors name their field: the config's own Errorf
// gives them file:line.
type Errorf func(field, format string, args ...any) error

// errorfOf returns cfg.Errorf when the config has one (it records the
// positions of the file it was loaded from) and a plain "field: msg" error
// otherwise.
func errorfOf(cfg *config.Config) Errorf {
	if e, ok := any(cfg).(interface {
		Errorf(field, format string, args ...any) error
	}); ok && cfg != nil {
		return e.Errorf
	}
	return func(field, format string, args ...any) error {
		return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
	}
}

// CompileRules compiles the rules of cfg: every expression once, with the
// Env type, so that a type or syntax error is a config error naming
// file:line. It returns all errors joined.
func CompileRules(cfg *config.Config) (*Set, error) {
	outs := map[string]bool{}
	for _, o := range cfg.Outputs {
		outs[o.Name] = true
	}
	return Compile(cfg.Rules, cfg.Gateway.Timezone, outs, errorfOf(cfg))
}

// Compile compiles rules (defaults are applied to a copy). tz is the
// gateway's time zone ("" or "Local": the machine's). outputs are the
// configured output names (nil: references are not checked). errorf
// names fields; nil gives "field: msg" errors.
func Compile(rules []config.Rule, tz string, outputs map[string]bool, errorf Errorf) (*Set, error) {
	if errorf == nil {
		errorf = errorfOf(nil)
	}
	rules = append([]config.Rule(nil), rules...)
	for i := range rules {
		rules[i].Actions = append([]config.RuleAction(nil), rules[i].Actions...)
		rules[i].SetDefaults()
	}
	var errs []error
	for _, fe := range config.ValidateRules(rules, outputs) {
		format, args := fe.FormatArgs()
		errs = append(errs, errorf(fe.Field, format, args...))
	}
	loc, err := loadZone(tz)
	if err != nil {
		errs = append(errs, errorf("gateway.timezone", "%v", err))
		loc = time.UTC
	}
	s := &Set{byName: map[string]*rule{}, byDevice: map[string][]*rule{}, byTag: map[string][]*rule{}, tz: loc}
	for i := range rules {
		r, rerrs := compileRule(i, &rules[i], loc, errorf)
		errs = append(errs, rerrs...)
		if r == nil {
			continue
		}
		s.rules = append(s.rules, r)
		s.byName[r.name] = r
		switch {
		case r.devices != nil:
			for id := range r.devices {
				s.byDevice[id] = append(s.byDevice[id], r)
			}
		case len(r.tags) > 0:
			for _, t := range r.tags {
				s.byTag[t] = append(s.byTag[t], r)
			}
		default:
			s.wild = append(s.wild, r)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func loadZone(tz string) (*time.Location, error) {
	if tz == "" || tz == "Local" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: %v", tz, err)
	}
	return loc, nil
}

func compileExpr(src string) (*vm.Program, error) {
	return expr.Compile(src, expr.Env(Env{}), expr.AsBool())
}

func compileRule(i int, c *config.Rule, loc *time.Location, errorf Errorf) (*rule, []error) {
	f := fmt.Sprintf("rules[%d]", i)
	var errs []error
	r := &rule{idx: i, name: c.Name, field: f, severity: c.Severity,
		forD: c.For.D(), debounce: c.Debounce.D(), cooldown: c.Cooldown.D()}
	if w := strings.TrimSpace(c.When); w != "" {
		p, err := compileExpr(w)
		if err != nil {
			errs = append(errs, errorf(f+".when", "%v", err))
		}
		r.when = p
	}
	switch res := strings.TrimSpace(c.Resolve); res {
	case "", "auto":
		r.rmode = resolveAuto
	case "ack":
		r.rmode = resolveAck
	default:
		p, err := compileExpr(res)
		if err != nil {
			errs = append(errs, errorf(f+".resolve", "%v (want auto, ack or a boolean expression)", err))
		}
		r.rmode, r.resolve = resolveExpr, p
	}
	if len(c.Match.Devices) > 0 {
		r.devices = map[string]bool{}
		for _, d := range c.Match.Devices {
			r.devices[d] = true
		}
	}
	r.tags = c.Match.Tags
	r.locs = c.Match.Location
	if len(c.Match.Points) > 0 {
		r.points = map[string]bool{}
		for _, p := range c.Match.Points {
			r.points[p] = true
		}
	}
	for _, k := range c.Match.Kinds {
		if kk, err := edge.ParseKind(k); err == nil {
			r.kinds |= 1 << kk
		}
	}
	if r.kinds == 0 {
		r.kinds = bitReading | bitState
		if c.Stale != nil {
			r.kinds |= bitStatus
		}
	}
	if c.Count != nil {
		r.countN, r.countW = c.Count.N, c.Count.Within.D()
	}
	if c.Stale != nil {
		r.stale, r.staleD, r.offline = true, c.Stale.After.D(), c.Stale.Offline
		r.kinds |= bitStatus
	}
	if c.Schedule != nil {
		sc, err := compileSchedule(c.Schedule, loc)
		if err != nil {
			errs = append(errs, errorf(f+".schedule.timezone", "%v", err))
		}
		r.sched = sc
	}
	t, err := template.New(c.Name).Option("missingkey=zero").Parse(c.Message)
	if err != nil {
		errs = append(errs, errorf(f+".message", "bad template: %v", err))
	}
	r.msg = t
	for j, a := range c.Actions {
		af := fmt.Sprintf("%s.actions[%d]", f, j)
		sp, err := actions.Compile(c.Name, j, a, af)
		if err != nil {
			var fe *config.FieldError
			if errors.As(err, &fe) {
				format, args := fe.FormatArgs()
				errs = append(errs, errorf(fe.Field, format, args...))
			} else {
				errs = append(errs, errorf(af, "%v", err))
			}
			continue
		}
		r.actions = append(r.actions, sp)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return r, nil
}
