package rf433

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/i18n"
)

// LearnOptions configure Learn.
type LearnOptions struct {
	// Options say where to listen (port and format, or rtl433); their
	// devices are ignored.
	Options Options
	// Count stops after this many distinct codes; 0: until ctx ends.
	Count int
	// Prefix names the learned devices: prefix + 1, 2, ... Default: door-.
	Prefix string
	Clock  edge.Clock   // default: the system clock
	Logger *slog.Logger // default: discard
	Lang   i18n.Lang    // of the lines printed; default English
}

// Learned is what an installer's session heard: one entry per sender,
// in the order heard.
type Learned struct {
	opts    Options
	prefix  string
	mu      sync.Mutex
	order   []string
	senders map[string]*sender
	seen    map[string]bool
	heard   int
}

type sender struct {
	address string
	code    string // a whole code (no key bits)
	rtl     bool
	keys    []string          // key bits in the order heard
	states  map[string]string // key -> state
	fields  []string          // rtl_433 states read from the line (no cmd)
}

// Kerui-style EV1527 contacts (and most of the cheap ones) send these key
// bits; rtl_433's kerui decoder uses the same table.
var ev1527Keys = map[string]string{"E": StateOpen, "7": StateClose, "B": StateTamper, "F": StateLowBattery}

// Learn listens as the installer triggers each sensor (opens and closes
// the door, opens the case), prints each new code to w as one line, and
// returns what it heard when ctx ends or Count codes came. A port that
// cannot be opened is an error at once (ErrPortInUse when another program
// holds it).
func Learn(ctx context.Context, o LearnOptions, w io.Writer) (*Learned, error) {
	opts := o.Options
	opts.Devices = nil
	opts.Defaults()
	if err := opts.validateSource(plainErrorf); err != nil {
		return nil, err
	}
	if o.Prefix == "" {
		o.Prefix = "door-"
	}
	clock := o.Clock
	if clock == nil {
		clock = edge.SystemClock{}
	}
	log := o.Logger
	if log == nil {
		log = edge.DiscardLogger()
	}
	rx, err := newReceiver(&opts, clock, log)
	if err != nil {
		return nil, err
	}
	l := &Learned{opts: opts, prefix: o.Prefix, senders: map[string]*sender{}, seen: map[string]bool{}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = rx.run(ctx, hooks{
		up: func(string) {
			i18n.Fprintf(w, o.Lang, "listening on %s (%s); trigger each sensor: open and close the door, open the case\n", rx.source(), describe(&opts, rx.format))
		},
		down: func(reason string) { i18n.Fprintf(w, o.Lang, "receiver lost: %s; reopening\n", reason) },
		signal: func(s Signal, now time.Time) {
			if line, ok := l.add(s, o.Prefix); ok {
				fmt.Fprintln(w, line)
				if o.Count > 0 && l.Len() >= o.Count {
					cancel()
				}
			}
		},
		giveUp: func(err error, everOpened bool) bool { return !everOpened },
	})
	return l, err
}

func describe(o *Options, f Format) string {
	if o.Format == "rtl433" {
		return "rtl_433 JSON"
	}
	return fmt.Sprintf("%s frames, %d baud", o.Format, f.Baud)
}

// Len is how many distinct codes were heard.
func (l *Learned) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.heard
}

// add records a signal; it returns the line to print for a new code.
func (l *Learned) add(s Signal, prefix string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[s.ID] {
		return "", false
	}
	l.seen[s.ID] = true
	l.heard++
	addr, key := s.Address(), s.Key()
	whole := s.Sender == "" && s.Code.KeyBits == 0
	id := addr
	if whole {
		id = s.Code.Hex()
	}
	snd := l.senders[id]
	if snd == nil {
		snd = &sender{address: addr, rtl: s.Sender != "", states: map[string]string{}}
		if whole {
			snd.code = s.Code.Hex()
		}
		l.senders[id] = snd
		l.order = append(l.order, id)
	}
	n := 0
	for i, x := range l.order {
		if x == id {
			n = i + 1
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%3d  %-8s", l.heard, fmt.Sprintf("%s%d", prefix, n))
	switch {
	case s.Sender != "":
		fmt.Fprintf(&b, "  rtl_433 %s", s.Sender)
	case whole:
		fmt.Fprintf(&b, "  code %s", s.Code.Hex())
	default:
		fmt.Fprintf(&b, "  code %s  address %s  key %s", s.Code.Hex(), addr, key)
	}
	state := ""
	if key != "" {
		state = l.guess(s, snd, key)
		if _, dup := snd.states[key]; !dup {
			snd.keys = append(snd.keys, key)
			snd.states[key] = state
		}
		if s.Sender != "" {
			fmt.Fprintf(&b, "  cmd %s", key)
		}
		fmt.Fprintf(&b, "  -> %s", state)
	} else if len(s.States) > 0 {
		for _, st := range s.States {
			if !contains(snd.fields, st) {
				snd.fields = append(snd.fields, st)
			}
		}
		fmt.Fprintf(&b, "  -> %s", strings.Join(s.States, ", "))
	} else if whole {
		snd.states[""] = StateOpen
		b.WriteString("  -> open (a sensor sending one code: check)")
	}
	if !l.opts.isRTL() && s.Sender == "" {
		if f, err := l.opts.FrameFormat(); err == nil && holdsMarkers(s.Code, f) {
			b.WriteString("  (the code holds a header or footer byte: set min_repeats: 2 on a noisy site)")
		}
	}
	return b.String(), true
}

func (o *Options) isRTL() bool { return o.Format == "rtl433" }

// guess names the state of a key: rtl_433's own state, the usual EV1527
// contact table, else the order heard (first key open, second close).
func (l *Learned) guess(s Signal, snd *sender, key string) string {
	if st, ok := snd.states[key]; ok {
		return st
	}
	if len(s.States) > 0 {
		return s.States[0]
	}
	if st, ok := ev1527Keys[key]; ok {
		return st
	}
	used := map[string]bool{}
	for _, st := range snd.states {
		used[st] = true
	}
	for _, st := range []string{StateOpen, StateClose} {
		if !used[st] {
			return st
		}
	}
	return "key_" + strings.ToLower(key)
}

func holdsMarkers(c Code, f Format) bool {
	for i := 0; i < c.Bytes; i++ {
		b := byte(c.Value >> (8 * i))
		if bytes.IndexByte(f.Header, b) >= 0 || bytes.IndexByte(f.Footer, b) >= 0 {
			return true
		}
	}
	return false
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// WriteYAML writes the rf433 input with the learned devices, ready to paste
// into the config's inputs: (set each id, location and tags).
func (l *Learned) WriteYAML(w io.Writer, inputName string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	o := &l.opts
	b.WriteString("# learned by `edgegw learn 433`: set each id, location and tags, check the states\n")
	b.WriteString("inputs:\n")
	fmt.Fprintf(&b, "  - name: %s\n    driver: rf433\n    options:\n", inputName)
	if o.isRTL() {
		b.WriteString("      format: rtl433\n")
		if o.RTL433.File != "" {
			fmt.Fprintf(&b, "      rtl433: {file: %q}\n", o.RTL433.File)
		} else {
			fmt.Fprintf(&b, "      rtl433: {command: [%s]}\n", quoteList(o.RTL433.Command))
		}
	} else {
		fmt.Fprintf(&b, "      port: %q\n      format: %s\n", o.Port, o.Format)
		if o.Baud != 0 {
			fmt.Fprintf(&b, "      baud: %d\n", o.Baud)
		}
		if o.Frame != nil {
			fmt.Fprintf(&b, "      frame: {header: %q, footer: %q, before: %d, after: %d, code_bytes: %d", o.Frame.Header, o.Frame.Footer, o.Frame.Before, o.Frame.After, o.Frame.CodeBytes)
			if o.Frame.KeyBits != nil {
				fmt.Fprintf(&b, ", key_bits: %d", *o.Frame.KeyBits)
			}
			b.WriteString("}\n")
		}
	}
	b.WriteString("      supervision: 2h        # above the contacts' heartbeat interval\n")
	b.WriteString("      devices:\n")
	if len(l.order) == 0 {
		b.WriteString("        []  # nothing heard\n")
	}
	for i, id := range l.order {
		s := l.senders[id]
		fmt.Fprintf(&b, "        - id: %s%d\n          location: \"\"        # compound/building/unit/household\n          tags: [observe]\n", l.prefix, i+1)
		switch {
		case s.code != "":
			fmt.Fprintf(&b, "          codes: {%q: %s}\n", s.code, s.states[""])
		default:
			fmt.Fprintf(&b, "          address: %q\n", s.address)
			if len(s.keys) > 0 {
				b.WriteString("          keys:\n")
				for _, k := range s.keys {
					fmt.Fprintf(&b, "            %q: %s\n", k, s.states[k])
				}
			} else if len(s.fields) > 0 {
				fmt.Fprintf(&b, "          # states from rtl_433's fields: %s\n", strings.Join(s.fields, ", "))
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}
