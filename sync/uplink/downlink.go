package uplink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/sync/wire"
)

// State keys of the downlink's bookkeeping.
const (
	stateConfigETag    = "uplink/config/etag"    // ETag of the last bundle seen (applied or refused)
	stateConfigVersion = "uplink/config/version" // version of the last bundle applied
	stateConfigError   = "uplink/config/error"   // why the last bundle was refused, "" when applied
	stateCmdAfter      = "uplink/commands/after" // highest command id whose result was posted
	stateCmdResult     = "uplink/commands/result/"
)

// downlinkLoop polls the config bundle and the commands every PollInterval,
// and at once when a heartbeat says there is something new.
func (u *Uplink) downlinkLoop(ctx context.Context) error {
	for {
		if err := u.waitUnpaused(ctx); err != nil {
			return nil
		}
		if err := u.pollConfig(ctx); err != nil && ctx.Err() == nil && !u.paused.Load() {
			u.logs.Warn("config poll", "config poll failed", "err", err)
		}
		if err := u.pollCommands(ctx); err != nil && ctx.Err() == nil && !u.paused.Load() {
			u.logs.Warn("command poll", "command poll failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-u.pollNow:
		case <-u.clk.After(u.cfg.PollInterval.D()):
		}
	}
}

// pokeDownlink asks the downlink loop to poll now.
func (u *Uplink) pokeDownlink() {
	select {
	case u.pollNow <- struct{}{}:
	default:
	}
}

// get fetches a signed downlink document of at most max bytes. A response
// without a valid signature, or over max, is refused, counted and logged:
// nothing in it is acted on.
func (u *Uplink) get(ctx context.Context, path string, h http.Header, max int64) (*exchange, error) {
	nctx, cancel := u.netCtx(ctx)
	defer cancel()
	ex, err := u.c.do(nctx, http.MethodGet, path, nil, h, max)
	var ue *Error
	if path == wire.PathConfig && errors.As(err, &ue) && ue.Status == http.StatusNotFound && !errors.Is(err, errForged) {
		// No bundle for this gateway yet: a normal answer, not a failure.
		u.noteResult(ex, nil)
	} else {
		u.noteResult(ex, err)
	}
	if errors.Is(err, errForged) {
		u.logs.Error("downlink forged "+path, "downlink response refused: signature missing or wrong", "path", path)
	}
	return ex, err
}

// pollConfig fetches the config bundle and applies it if it is new. A
// bundle the controller refuses is remembered (by ETag) so it is not tried
// again, and the refusal is reported in heartbeats and command results.
func (u *Uplink) pollConfig(ctx context.Context) error {
	etag, _ := u.o.State.GetState(stateConfigETag)
	h := http.Header{}
	if len(etag) > 0 {
		h.Set("If-None-Match", string(etag))
	}
	ex, err := u.get(ctx, wire.PathConfig, h, wire.MaxConfigResponse)
	if err != nil {
		var ue *Error
		if errors.As(err, &ue) && ue.Status == http.StatusNotFound {
			return nil // no bundle for this gateway yet
		}
		return err
	}
	if ex.Status == http.StatusNotModified {
		return nil
	}
	var b wire.ConfigBundle
	if err := json.Unmarshal(ex.Body, &b); err != nil {
		return &Error{Class: ErrInvalid, Status: ex.Status, Msg: "config bundle does not decode", Err: err}
	}
	if b.ETag == "" {
		b.ETag = ex.Header.Get("ETag")
	}
	if b.ETag != "" && b.ETag == string(etag) {
		return nil
	}
	return u.applyBundle(ctx, &b)
}

func (u *Uplink) applyBundle(ctx context.Context, b *wire.ConfigBundle) error {
	var err error
	if u.o.Controller == nil {
		err = errors.New("this gateway takes no config from the central platform (no controller)")
	} else {
		err = u.o.Controller.ApplyConfig(ctx, []byte(b.YAML), b.Version)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if perr := u.o.State.PutState(stateConfigETag, []byte(b.ETag)); perr != nil {
		return fmt.Errorf("remember config etag: %w", perr)
	}
	if err != nil {
		msg := fmt.Sprintf("config %s refused: %v", b.Version, err)
		u.log.Error("config bundle refused; the running config stays", "version", b.Version, "err", err)
		u.o.State.PutState(stateConfigError, []byte(msg))
		u.mu.Lock()
		u.configError = msg
		u.mu.Unlock()
		return &Error{Class: ErrRejected, Msg: msg}
	}
	u.log.Info("config bundle applied", "version", b.Version)
	u.o.State.PutState(stateConfigVersion, []byte(b.Version))
	u.o.State.PutState(stateConfigError, nil)
	u.mu.Lock()
	u.st.ConfigVersion = b.Version
	u.configError = ""
	u.mu.Unlock()
	return nil
}

// ConfigError is why the last config bundle was refused ("" when the last
// one was applied).
func (u *Uplink) ConfigError() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.configError
}

// pollCommands fetches pending commands, runs each once, and posts its
// result. The result is kept in the state store before it is posted, so a
// restart posts it again instead of running the command twice.
func (u *Uplink) pollCommands(ctx context.Context) error {
	after := uint64(0)
	if v, _ := u.o.State.GetState(stateCmdAfter); v != nil {
		after, _ = strconv.ParseUint(string(v), 10, 64)
	}
	ex, err := u.get(ctx, wire.PathCommands+"?after="+strconv.FormatUint(after, 10), nil, wire.MaxCommandListResponse)
	if err != nil {
		return err
	}
	var list wire.CommandList
	if err := json.Unmarshal(ex.Body, &list); err != nil {
		return &Error{Class: ErrInvalid, Status: ex.Status, Msg: "command list does not decode", Err: err}
	}
	if len(list.Commands) > wire.MaxCommands {
		list.Commands = list.Commands[:wire.MaxCommands] // the rest come with the next poll
	}
	for _, c := range list.Commands {
		if c.ID <= after {
			continue
		}
		if err := u.runCommand(ctx, c); err != nil {
			return err
		}
		after = c.ID
		if err := u.o.State.PutState(stateCmdAfter, []byte(strconv.FormatUint(after, 10))); err != nil {
			return fmt.Errorf("remember command %d: %w", c.ID, err)
		}
		u.o.State.DeleteState(stateCmdResult + strconv.FormatUint(c.ID, 10))
	}
	return nil
}

func (u *Uplink) runCommand(ctx context.Context, c wire.Command) error {
	key := stateCmdResult + strconv.FormatUint(c.ID, 10)
	body, _ := u.o.State.GetState(key)
	if body == nil {
		res := u.execute(ctx, c)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res.Finished = u.clk.Now()
		var err error
		if body, err = json.Marshal(res); err != nil {
			return fmt.Errorf("encode result of command %d: %w", c.ID, err)
		}
		if err := u.o.State.PutState(key, body); err != nil {
			return fmt.Errorf("keep result of command %d: %w", c.ID, err)
		}
		if res.OK {
			u.log.Info("command done", "id", c.ID, "type", c.Type)
		} else {
			u.log.Warn("command failed", "id", c.ID, "type", c.Type, "err", res.Error)
		}
	}
	nctx, cancel := u.netCtx(ctx)
	defer cancel()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	ex, err := u.c.do(nctx, http.MethodPost, wire.CommandResultPath(c.ID), body, h, wire.MaxSmallResponse)
	u.noteResult(ex, err)
	if errors.Is(err, ErrRejected) {
		// The platform will not take this result (the command is gone):
		// do not hold the queue for it.
		u.log.Warn("command result refused", "id", c.ID, "err", err)
		return nil
	}
	return err
}

// execute runs one command through the controller.
func (u *Uplink) execute(ctx context.Context, c wire.Command) (res wire.CommandResult) {
	fail := func(format string, args ...any) wire.CommandResult {
		return wire.CommandResult{OK: false, Error: fmt.Sprintf(format, args...)}
	}
	ctl := u.o.Controller
	if ctl == nil {
		return fail("no controller on this gateway")
	}
	defer func() {
		if r := recover(); r != nil {
			res = fail("command panicked: %v", r)
		}
	}()
	cctx, cancel := context.WithTimeout(ctx, max(u.cfg.Timeout.D(), 30*time.Second))
	defer cancel()
	a := c.Args
	var err error
	switch c.Type {
	case wire.CmdPlayVoice:
		if a["output"] == "" {
			return fail("play_voice: no output")
		}
		vars := map[string]string{}
		for k, v := range a {
			if k != "output" {
				vars[k] = v
			}
		}
		err = ctl.ApplyOutput(cctx, a["output"], edge.Op{Kind: edge.OpSend, Text: a["text"], Vars: vars})
	case wire.CmdPulseOutput:
		d, perr := time.ParseDuration(a["duration"])
		if perr != nil || d <= 0 {
			return fail("pulse_output: duration %q: want a Go duration such as 5s", a["duration"])
		}
		err = ctl.ApplyOutput(cctx, a["output"], edge.Op{Kind: edge.OpPulse, On: true, Duration: d})
	case wire.CmdSetOutput:
		switch v := strings.ToLower(strings.TrimSpace(a["value"])); v {
		case "on", "true", "1":
			err = ctl.ApplyOutput(cctx, a["output"], edge.Op{Kind: edge.OpSet, On: true})
		case "off", "false", "0":
			err = ctl.ApplyOutput(cctx, a["output"], edge.Op{Kind: edge.OpSet, On: false})
		default:
			err = ctl.ApplyOutput(cctx, a["output"], edge.Op{Kind: edge.OpSend, Text: a["value"]})
		}
	case wire.CmdAckAlert:
		by := "central"
		if a["by"] != "" {
			by = "central:" + a["by"]
		}
		err = ctl.AckAlert(a["id"], by)
	case wire.CmdSendDiagnostics:
		zip, derr := ctl.Diagnostics(cctx)
		if derr != nil {
			return fail("diagnostics: %v", derr)
		}
		if len(zip) > wire.MaxAttachment {
			return fail("diagnostics bundle of %d bytes is over the limit of %d", len(zip), wire.MaxAttachment)
		}
		return wire.CommandResult{OK: true, Attachment: zip}
	case wire.CmdAnnounce:
		an, ok := ctl.(interface {
			Announce(ctx context.Context, device string, d time.Duration, by, note string) error
		})
		if !ok {
			return fail("announce: this gateway keeps no announcements")
		}
		d, perr := time.ParseDuration(a["for"])
		if a["device"] == "" || perr != nil || d < 0 {
			return fail("announce: want device and for (a Go duration such as 2h; 0s withdraws), got device %q for %q", a["device"], a["for"])
		}
		by := "central"
		if a["by"] != "" {
			by = "central:" + a["by"]
		}
		err = an.Announce(cctx, a["device"], d, by, a["note"])
	case wire.CmdApplyConfig:
		if err := u.pollConfig(ctx); err != nil {
			return fail("%v", err)
		}
		u.mu.Lock()
		ce := u.configError
		u.mu.Unlock()
		if ce != "" {
			return fail("%s", ce)
		}
	default:
		return fail("unknown command type %q", c.Type)
	}
	if err != nil {
		return fail("%s: %v", c.Type, err)
	}
	return wire.CommandResult{OK: true}
}

// heartbeatLoop posts the status summary every HeartbeatInterval.
func (u *Uplink) heartbeatLoop(ctx context.Context) error {
	started := u.clk.Now()
	for {
		if err := u.waitUnpaused(ctx); err != nil {
			return nil
		}
		if err := u.heartbeat(ctx, started); err != nil && ctx.Err() == nil && !u.paused.Load() {
			u.log.Debug("heartbeat failed", "err", err)
		}
		if u.sleep(ctx, u.cfg.HeartbeatInterval.D()) != nil {
			return nil
		}
	}
}

func (u *Uplink) heartbeat(ctx context.Context, started time.Time) error {
	st := u.Status()
	now := u.clk.Now()
	hb := wire.Heartbeat{
		Version:        u.o.Version,
		Uptime:         now.Sub(started).Seconds(),
		Time:           now,
		ClockTrusted:   true,
		BacklogEvents:  st.BacklogEvents,
		BacklogBytes:   st.BacklogBytes,
		OldestUnsynced: st.OldestUnsynced,
		ConfigVersion:  st.ConfigVersion,
		Quarantined:    st.Quarantined,
		LastError:      st.LastError,
		SkewKnown:      st.SkewKnown,
		// The wire counts local minus server.
		ClockSkewMillis: -st.ClockSkew.Milliseconds(),
	}
	if ce := u.ConfigError(); ce != "" {
		hb.LastError, hb.ConfigError = ce, ce
	}
	if u.o.Judge != nil {
		_, hb.ClockTrusted = u.o.Judge.Stamp()
		// The central takes its receive time minus MonoMillis for the
		// boot's start (an upper bound: the heartbeat took some time).
		boot, mono := u.o.Judge.Anchor()
		hb.BootID, hb.MonoMillis = boot, mono.Milliseconds()
	}
	if u.o.Updater != nil {
		us := u.o.Updater.Status()
		hb.Update = &us
	}
	if u.o.Summary != nil {
		s := u.o.Summary()
		hb.DevicesOnline, hb.DevicesTotal, hb.ActiveAlerts = s.DevicesOnline, s.DevicesTotal, s.ActiveAlerts
		hb.StoreBytes, hb.StoreCap = s.StoreBytes, s.StoreCap
	}
	body, err := json.Marshal(hb)
	if err != nil {
		return err
	}
	nctx, cancel := u.netCtx(ctx)
	defer cancel()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	ex, err := u.c.do(nctx, http.MethodPost, wire.PathHeartbeat, body, h, wire.MaxSmallResponse)
	u.noteResult(ex, err)
	if err != nil {
		return err
	}
	var resp wire.HeartbeatResponse
	if json.Unmarshal(ex.Body, &resp) == nil {
		if u.o.Updater != nil {
			u.o.Updater.Offer(resp.Release)
		}
		if resp.PendingCommands > 0 || (resp.ConfigVersion != "" && resp.ConfigVersion != st.ConfigVersion && u.ConfigError() == "") {
			u.pokeDownlink()
		}
	}
	return nil
}
