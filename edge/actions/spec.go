// Package actions runs what alert rules ask for (drive an output, send an
// SMS, write a log line) on a bounded queue that never blocks the rules
// engine or ingest, with per-action rate limits and durable pulses.
package actions

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
)

// Kind says what an action does.
type Kind uint8

const (
	KindOutput Kind = iota + 1 // drive a named output
	KindSMS                    // send an SMS through a modem output
	KindLog                    // write a local log line
)

// Spec is one compiled rule action.
type Spec struct {
	Rule           string // rule name
	Index          int    // position in the rule's actions
	Kind           Kind
	Output         string // the output driven (the modem for SMS)
	Op             edge.OpKind
	On             bool
	Dur            time.Duration
	Text           *template.Template // nil: the alert message
	Vars           map[string]*template.Template
	To             []string
	OnFire         bool // run when the alert fires (else when it resolves)
	OnlyUplinkDown bool
	RateN          int
	RatePer        time.Duration
}

// Name identifies the action in logs, records and rate limits: "rule#0".
func (s *Spec) Name() string { return fmt.Sprintf("%s#%d", s.Rule, s.Index) }

// Compile builds a Spec from its config. field names the action in errors
// ("rules[2].actions[0]"), which are *config.FieldError; the rule's
// SetDefaults has run.
func Compile(rule string, index int, a config.RuleAction, field string) (*Spec, error) {
	s := &Spec{Rule: rule, Index: index, OnFire: a.When != "resolve", OnlyUplinkDown: a.OnlyUplinkDown}
	if a.RateLimit != nil {
		s.RateN, s.RatePer = a.RateLimit.N, a.RateLimit.Per.D()
	}
	var err error
	parse := func(f, src string) *template.Template {
		if err != nil || src == "" {
			return nil
		}
		t, e := template.New(f).Option("missingkey=zero").Parse(src)
		if e != nil {
			err = config.FieldErrorf(f, "bad template: %v", e)
		}
		return t
	}
	switch {
	case a.Log != "":
		s.Kind = KindLog
		s.Text = parse(field+".log", a.Log)
	case len(a.SMS) > 0:
		s.Kind, s.Output, s.Op, s.To = KindSMS, a.Via, edge.OpSend, append([]string(nil), a.SMS...)
		s.Text = parse(field+".text", a.Text)
	case a.Output != "":
		s.Kind, s.Output = KindOutput, a.Output
		s.Op = edge.OpKind(a.Op)
		s.On = a.On == nil || *a.On
		s.Dur = a.Duration.D()
		s.Text = parse(field+".text", a.Text)
		if len(a.Vars) > 0 {
			s.Vars = map[string]*template.Template{}
			for k, v := range a.Vars {
				s.Vars[k] = parse(field+".vars."+k, v)
			}
		}
	default:
		return nil, config.FieldErrorf(field, "an action needs output, sms or log")
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Job is one run of an action, queued by the rules engine.
type Job struct {
	Spec   *Spec
	Alert  edge.Alert
	Device edge.Device
	Event  edge.Event // the event that caused the alert change (may be zero for timers)
	Time   time.Time  // when the rules engine decided it
}

// Data is what action templates see.
type Data struct {
	Rule     string
	Severity string
	Message  string
	State    string
	AlertID  string
	Device   edge.Device
	Event    edge.Event
	Time     time.Time
}

func (j *Job) data() Data {
	return Data{Rule: j.Spec.Rule, Severity: j.Alert.Severity, Message: j.Alert.Message,
		State: string(j.Alert.State), AlertID: j.Alert.ID, Device: j.Device, Event: j.Event, Time: j.Time}
}

func render(t *template.Template, d Data) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Render turns a job into the output op it issues (for KindLog: the line in
// Text). Templates are rendered here, not when the rule fires.
func (j *Job) Render() (edge.Op, error) {
	s := j.Spec
	d := j.data()
	op := edge.Op{Kind: s.Op, On: s.On, Duration: s.Dur, To: s.To}
	if s.Kind == KindLog {
		op.Kind = ""
	}
	if s.Text != nil {
		txt, err := render(s.Text, d)
		if err != nil {
			return op, fmt.Errorf("action %s: render text: %w", s.Name(), err)
		}
		op.Text = txt
	} else if s.Op == edge.OpSend || s.Kind == KindLog {
		op.Text = d.Message
	}
	if s.Op == edge.OpSend {
		op.Vars = map[string]string{"device": d.Device.ID, "location": d.Device.Location,
			"message": d.Message, "rule": d.Rule, "severity": d.Severity}
		for k, t := range s.Vars {
			v, err := render(t, d)
			if err != nil {
				return op, fmt.Errorf("action %s: render vars.%s: %w", s.Name(), k, err)
			}
			op.Vars[k] = v
		}
	}
	return op, nil
}

// Describe is a one-line, deterministic account of the job for traces:
// `siren:pulse(10s)`, `voice:send("drop outside hours" track=3)`,
// `sms:send(+861..)`, `log("...")`.
func (j *Job) Describe() string {
	op, err := j.Render()
	if err != nil {
		return "error(" + err.Error() + ")"
	}
	s := j.Spec
	var b strings.Builder
	switch s.Kind {
	case KindLog:
		fmt.Fprintf(&b, "log(%q)", op.Text)
		return b.String()
	case KindSMS:
		fmt.Fprintf(&b, "%s:sms(%s %q)", s.Output, strings.Join(s.To, ","), op.Text)
	default:
		switch op.Kind {
		case edge.OpPulse:
			fmt.Fprintf(&b, "%s:pulse(%s)", s.Output, op.Duration)
		case edge.OpSet:
			fmt.Fprintf(&b, "%s:set(%v)", s.Output, op.On)
		default:
			fmt.Fprintf(&b, "%s:send(%q", s.Output, op.Text)
			keys := make([]string, 0, len(s.Vars))
			for k := range s.Vars {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, " %s=%s", k, op.Vars[k])
			}
			b.WriteString(")")
		}
	}
	if s.OnlyUplinkDown {
		b.WriteString("[uplink-down]")
	}
	return b.String()
}
