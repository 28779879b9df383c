package config

import (
	"fmt"
	"strings"

	"github.com/edgegw/edgegw/edge"
)

// Rule is one local alert rule. edge/rules compiles it (expressions,
// templates, schedules) with rules.CompileRules; the checks here are the
// structural ones that need no compiler.
//
//   - name: observed-door-open
//     match: {tags: [observe], points: [door]}
//     when: event.text == "open"
//     for: 30s
//     severity: critical
//     message: "door open at {{.Device.Location}}"
//     actions:
//   - {output: siren, op: pulse, duration: 10s}
type Rule struct {
	// Name is unique among rules; alert ids and rule state are keyed by it.
	// Required.
	Name string `yaml:"name"`
	// Match selects the events the rule looks at. Default: every reading and
	// state event of every device.
	Match RuleMatch `yaml:"match"`
	// When is an expr-lang expression that must be true for the rule to fire.
	// It sees event (kind, point, value, text, unit, quality, device, time),
	// device (id, location, tags, type, compound, building, unit, household),
	// points (this device's latest value per point), latest("dev", "point")
	// (another device's latest value; an error if there is none) and now.
	// Default: "true" (every matched event). Not allowed with stale.
	When string `yaml:"when"`
	// For is how long the condition must hold before the rule fires.
	// Default: 0 (fire at once).
	For Duration `yaml:"for"`
	// Debounce ignores changes of the condition shorter than this: a change
	// (true->false or false->true) counts only once it has held this long.
	// Default: 0 (no debounce).
	Debounce Duration `yaml:"debounce"`
	// Cooldown is the least time between two firings of the rule for one
	// device; a firing suppressed by it happens when the cooldown ends if the
	// condition still holds. Default: 0.
	Cooldown Duration `yaml:"cooldown"`
	// Schedule restricts firing to time-of-day windows and weekdays.
	// Default: none (always).
	Schedule *RuleSchedule `yaml:"schedule"`
	// Count fires when the condition was true for N matched events within a
	// sliding window. Default: none. Not allowed with for or debounce.
	Count *RuleCount `yaml:"count"`
	// Stale fires when a matched device sends nothing for a while (and, with
	// offline: true, when it reports itself offline). Default: none.
	Stale *RuleStale `yaml:"stale"`
	// Severity is info, warning or critical. Default: warning.
	Severity string `yaml:"severity"`
	// Message is a text/template for the alert message, with .Device
	// (.ID, .Location, .Type, .Tags), .Event (.Value, .Text, .Point, .Unit),
	// .Rule and .Severity. Default: "{{.Rule}} on {{.Device.ID}} at {{.Device.Location}}".
	Message string `yaml:"message"`
	// Resolve says when a firing alert resolves: "auto" (when the condition
	// is false again; for count rules when fewer than N events remain in the
	// window; for stale rules when data returns), "ack" (acknowledging the
	// alert resolves it: for alarms with no "clear" event), or an expression
	// over the same names as when that resolves the alert when it is true on
	// a matched event. Default: auto.
	Resolve string `yaml:"resolve"`
	// Actions run when the alert fires or resolves. Default: none.
	Actions []RuleAction `yaml:"actions"`
}

// RuleMatch selects devices and events. Every list given must match (AND);
// within a list any entry matches (OR). An empty list matches everything.
type RuleMatch struct {
	// Devices are device ids. Default: any.
	Devices []string `yaml:"devices"`
	// Tags: the device carries at least one of them. Default: any.
	Tags []string `yaml:"tags"`
	// Location are location prefixes, segment-wise ("c1/b2" matches
	// "c1/b2/u1/h3", not "c1/b20"). Default: any.
	Location []string `yaml:"location"`
	// Points are point names. Default: any.
	Points []string `yaml:"points"`
	// Kinds are event kinds: reading, state, status, action. Default:
	// [reading, state] (stale rules: every kind a device sends).
	Kinds []string `yaml:"kinds"`
}

// RuleSchedule is a set of time-of-day windows on some weekdays.
type RuleSchedule struct {
	// Timezone is an IANA zone name. Default: gateway.timezone.
	Timezone string `yaml:"timezone"`
	// Windows are "HH:MM-HH:MM" local time; a window whose end is not after
	// its start crosses midnight ("22:00-06:00"), and its hours after
	// midnight belong to the day it started. Default: the whole day.
	Windows []string `yaml:"windows"`
	// Days are mon, tue, wed, thu, fri, sat, sun. Default: every day.
	Days []string `yaml:"days"`
	// Outside fires only outside the windows/days instead of inside.
	// Default: false.
	Outside bool `yaml:"outside"`
}

// RuleCount is "N times within a duration".
type RuleCount struct {
	// N is how many true events fire the rule. Required, at least 1.
	N int `yaml:"n"`
	// Within is the sliding window. Required.
	Within Duration `yaml:"within"`
}

// RuleStale is "no data for a duration".
type RuleStale struct {
	// After is how long a device may stay silent. Required unless offline.
	After Duration `yaml:"after"`
	// Offline also fires at once on the device's offline status event.
	// Default: false.
	Offline bool `yaml:"offline"`
}

// RuleAction is one action of a rule: drive an output, send an SMS, or log
// a line. Exactly one of output, sms or log is set.
type RuleAction struct {
	// Output is the name of a configured output to drive.
	Output string `yaml:"output"`
	// Op is set, pulse or send. Default: send when text is given, else pulse.
	Op string `yaml:"op"`
	// On is the state for op set. Default: true.
	On *bool `yaml:"on"`
	// Duration is the length of a pulse. Default: 5s.
	Duration Duration `yaml:"duration"`
	// Text is a template (like message, plus .Message) for op send and SMS.
	// Default: the alert message.
	Text string `yaml:"text"`
	// Vars are template variables for the output (a voice module's track).
	// Each value is itself a template.
	Vars map[string]string `yaml:"vars"`
	// When is fire or resolve. Default: fire.
	When string `yaml:"when"`
	// OnlyUplinkDown runs the action only while the central platform is
	// unreachable (SMS as a fallback). Default: false.
	OnlyUplinkDown bool `yaml:"only_uplink_down"`
	// RateLimit caps how often this action runs. Default: none.
	RateLimit *RateLimit `yaml:"rate_limit"`
	// SMS are phone numbers to text; the message goes through output Via.
	SMS []string `yaml:"sms"`
	// Via is the SMS modem output. Default: "sms".
	Via string `yaml:"via"`
	// Log writes a local log line (a template).
	Log string `yaml:"log"`
}

// RateLimit allows N runs per duration.
type RateLimit struct {
	// N runs are allowed per Per. Required, at least 1.
	N int `yaml:"n"`
	// Per is the window. Required.
	Per Duration `yaml:"per"`
}

// Rule severities.
var Severities = []string{"info", "warning", "critical"}

// SetDefaults fills the rule's defaults (those that do not depend on the
// expression compiler).
func (r *Rule) SetDefaults() {
	if r.Severity == "" {
		r.Severity = "warning"
	}
	if r.Message == "" {
		r.Message = "{{.Rule}} on {{.Device.ID}} at {{.Device.Location}}"
	}
	if r.Resolve == "" {
		r.Resolve = "auto"
	}
	for i := range r.Actions {
		a := &r.Actions[i]
		if a.When == "" {
			a.When = "fire"
		}
		if len(a.SMS) > 0 && a.Via == "" {
			a.Via = "sms"
		}
		if a.Output != "" && a.Op == "" {
			if a.Text != "" || len(a.Vars) > 0 {
				a.Op = "send"
			} else {
				a.Op = "pulse"
			}
		}
		if a.Op == "pulse" && a.Duration == 0 {
			a.Duration = Duration(5e9)
		}
	}
}

// FieldError is a problem with one field of the config, before it is given
// a file:line by the loader.
type FieldError struct {
	Field string // "rules[3].when"
	Msg   string // in English
	// Format and Args are what Msg was printed from, for other
	// languages (see Problem).
	Format string
	Args   []any
}

// FieldErrorf is a FieldError whose message is format with args.
func FieldErrorf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...), Format: format, Args: args}
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// FormatArgs is what the message prints from: Format and Args, or "%s"
// and Msg for a FieldError made without them.
func (e *FieldError) FormatArgs() (string, []any) {
	if e.Format == "" {
		return "%s", []any{e.Msg}
	}
	return e.Format, e.Args
}

// ValidateRules checks the rules structurally: names, modifiers, action
// shapes and output references. It returns every problem it finds; each
// names its field ("rules[2].count.n"). outputs are the configured output
// names (nil: do not check references).
func ValidateRules(rules []Rule, outputs map[string]bool) []*FieldError {
	var errs []*FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, FieldErrorf(field, format, args...))
	}
	seen := map[string]int{}
	for i := range rules {
		r := &rules[i]
		f := fmt.Sprintf("rules[%d]", i)
		switch {
		case r.Name == "":
			add(f+".name", "a rule needs a name")
		case strings.ContainsAny(r.Name, "/\x00"):
			add(f+".name", "rule name %q may not contain '/'", r.Name)
		default:
			if j, dup := seen[r.Name]; dup {
				add(f+".name", "duplicate rule name %q (also rules[%d])", r.Name, j)
			}
			seen[r.Name] = i
		}
		for j, k := range r.Match.Kinds {
			switch k {
			case "reading", "state", "status", "action":
			default:
				add(fmt.Sprintf("%s.match.kinds[%d]", f, j), "unknown event kind %q (want reading, state, status or action)", k)
			}
		}
		if r.For < 0 || r.Debounce < 0 || r.Cooldown < 0 {
			add(f, "for, debounce and cooldown may not be negative")
		}
		if r.Count != nil {
			if r.Count.N < 1 {
				add(f+".count.n", "count.n must be at least 1, got %d", r.Count.N)
			}
			if r.Count.Within <= 0 {
				add(f+".count.within", "count.within must be a positive duration")
			}
			if r.For != 0 || r.Debounce != 0 {
				add(f+".count", "count cannot be combined with for or debounce")
			}
		}
		if r.Stale != nil {
			if r.Stale.After < 0 || (r.Stale.After == 0 && !r.Stale.Offline) {
				add(f+".stale.after", "stale.after must be a positive duration (or set offline: true)")
			}
			if r.When != "" {
				add(f+".when", "a stale rule has no condition; remove when")
			}
			if r.Count != nil || r.For != 0 || r.Debounce != 0 {
				add(f+".stale", "stale cannot be combined with count, for or debounce")
			}
		}
		if r.Severity != "" && !contains(Severities, r.Severity) {
			add(f+".severity", "unknown severity %q (want info, warning or critical)", r.Severity)
		}
		if r.Schedule != nil {
			for j, d := range r.Schedule.Days {
				if _, ok := Weekdays[strings.ToLower(d)]; !ok {
					add(fmt.Sprintf("%s.schedule.days[%d]", f, j), "unknown day %q (want mon, tue, wed, thu, fri, sat or sun)", d)
				}
			}
			for j, w := range r.Schedule.Windows {
				if _, _, err := ParseWindow(w); err != nil {
					add(fmt.Sprintf("%s.schedule.windows[%d]", f, j), "%v", err)
				}
			}
		}
		for j := range r.Actions {
			validateAction(&r.Actions[j], fmt.Sprintf("%s.actions[%d]", f, j), outputs, add)
		}
	}
	errs = append(errs, ruleTextLimits(rules)...)
	return errs
}

func validateAction(a *RuleAction, f string, outputs map[string]bool, add func(string, string, ...any)) {
	n := 0
	if a.Output != "" {
		n++
	}
	if len(a.SMS) > 0 {
		n++
	}
	if a.Log != "" {
		n++
	}
	if n != 1 {
		add(f, "an action needs exactly one of output, sms or log")
		return
	}
	if a.When != "" && a.When != "fire" && a.When != "resolve" {
		add(f+".when", "unknown when %q (want fire or resolve)", a.When)
	}
	if a.RateLimit != nil && (a.RateLimit.N < 1 || a.RateLimit.Per <= 0) {
		add(f+".rate_limit", "rate_limit needs n >= 1 and a positive per")
	}
	if a.Output != "" {
		switch a.Op {
		case "", "set", "pulse", "send":
		default:
			add(f+".op", "unknown op %q (want set, pulse or send)", a.Op)
		}
		if a.Duration < 0 {
			add(f+".duration", "duration may not be negative")
		}
		if outputs != nil && !outputs[a.Output] {
			add(f+".output", "no output named %q", a.Output)
		}
	}
	if len(a.SMS) > 0 && outputs != nil && !outputs[a.Via] {
		add(f+".via", "no output named %q for sms", a.Via)
	}
}

// Weekdays maps the day names a schedule accepts to time.Weekday numbers.
var Weekdays = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

// ParseWindow parses "HH:MM-HH:MM" into minutes after midnight.
func ParseWindow(s string) (from, to int, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return 0, 0, edge.Msgf("window %q: want HH:MM-HH:MM", s)
	}
	if from, err = parseHM(a); err == nil {
		to, err = parseHM(b)
	}
	if err != nil {
		return 0, 0, edge.Msgf("window %q: %v", s, err)
	}
	return from, to, nil
}

func parseHM(s string) (int, error) {
	var h, m int
	s = strings.TrimSpace(s)
	if n, err := fmt.Sscanf(s, "%d:%d", &h, &m); n != 2 || err != nil || len(s) < 4 || len(s) > 5 {
		return 0, edge.Msgf("bad time %q: want HH:MM", s)
	}
	if h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0) {
		return 0, edge.Msgf("time %q out of range", s)
	}
	return h*60 + m, nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
