package main

import (
	"net"
	"strings"
	"testing"
)

// TestProbeCameraExitCodes: usage 64, a taken listen port 69, a camera
// that cannot be reached 1, a listener stopped by --duration 0.
func TestProbeCameraExitCodes(t *testing.T) {
	if _, _, code := edgegw(t, "probe", "camera"); code != 64 {
		t.Errorf("no flags: exit %d, want 64", code)
	}
	if _, _, code := edgegw(t, "probe", "camera", "--listen", ":0", "--url", "http://x/"); code != 64 {
		t.Errorf("both flags: exit %d, want 64", code)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	taken := ln.Addr().String()
	if _, e, code := edgegw(t, "probe", "camera", "--listen", taken, "--duration", "5s"); code != 69 {
		t.Errorf("taken port: exit %d, want 69: %s", code, e)
	}
	ln.Close() // nothing listens there now
	if _, e, code := edgegw(t, "probe", "camera", "--url", "http://"+taken+"/ISAPI/Event/notification/alertStream",
		"--user", "admin", "--password", "x"); code != 1 || !strings.Contains(e, "subscribe") {
		t.Errorf("unreachable camera: exit %d, want 1: %s", code, e)
	}
	out, e, code := edgegw(t, "probe", "camera", "--listen", "127.0.0.1:0", "--duration", "200ms")
	if code != 0 || !strings.Contains(out, "listening on 127.0.0.1:") {
		t.Errorf("listen with --duration: exit %d, out %q, err %q", code, out, e)
	}
}
