package uplink

import (
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

// A gateway the central disabled (edgecentral gateways disable) is
// answered 403 by the real receiver: the uplink keeps its backlog (no
// quarantine, the cursor stays), backs off, logs the refusal once per
// throttle interval, and sends everything once it is enabled again.
func TestDisabledGatewayKeepsBacklogUntilEnabled(t *testing.T) {
	srv, key := startReceiver(t)
	if _, err := receiver.SetGatewayDisabled(srv.Store(), "gw1", true); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, func(c *config.Uplink) { c.URL, c.Key = srv.URL(), key.String() })
	evs := r.appendReadings(20, "t1")
	r.start()
	// Heartbeats, polls and uploads all fail: wait for an upload's
	// failure and several more after it (the log line stays one).
	eventually(t, "refusals", func() bool {
		return strings.Contains(r.logBuf.String(), `msg="upload failed, backing off"`) && r.u.Status().Failures >= 3
	})
	// The last error is the refusal's message once a request gives up (a
	// retry in flight notes "retrying: HTTP 403" meanwhile).
	eventually(t, "the refusal in the status", func() bool { return strings.Contains(r.u.Status().LastError, "disabled") })
	st := r.u.Status()
	if st.Quarantined != 0 {
		t.Fatalf("403 quarantined %d batches: a disabled gateway must keep its data", st.Quarantined)
	}
	if !strings.Contains(st.LastError, "disabled") {
		t.Errorf("last error %q: want it to say the gateway is disabled", st.LastError)
	}
	if c, _ := r.st.Cursor(edge.CursorUplink); c != 1 {
		t.Fatalf("cursor: got %d, want 1 (nothing sent)", c)
	}
	if refused := srvRefused(srv, wire.CodeForbidden); refused < 3 {
		t.Errorf("the receiver refused %d requests 403, want at least 3", refused)
	}
	if n := strings.Count(r.logBuf.String(), `msg="upload failed, backing off"`); n != 1 {
		t.Errorf("logged %d upload failures, want 1 (throttled):\n%s", n, r.logBuf.String())
	}

	if _, err := receiver.SetGatewayDisabled(srv.Store(), "gw1", false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the backlog stored after enable", func() bool {
		gs, err := srv.Store().Gateways()
		return err == nil && len(gs) == 1 && gs[0].Events == uint64(len(evs))
	})
	eventually(t, "the cursor past the backlog", func() bool {
		c, _ := r.st.Cursor(edge.CursorUplink)
		return c == evs[len(evs)-1].Seq+1
	})
	if st := r.u.Status(); st.Quarantined != 0 {
		t.Errorf("quarantined %d", st.Quarantined)
	}
}

func srvRefused(srv *receiver.Server, code string) uint64 {
	return srv.Stats().Refused[code]
}
