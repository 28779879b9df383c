package receiver

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// A move splits a gateway's events: those stored before keep the old
// path, those after carry the new one; moving twice with nothing stored in
// between, and moving back, keep that true; the store reopened agrees.
func TestBadgerMoveKeepsOldPaths(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenBadger(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { st.Close() }()
	if _, err := AddPlacedGateway(st, "gw-a", "putuo/caoyang/c012/cp07", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := AddPlacedGateway(st, "gw-b", "putuo/x/y/z", time.Now()); err != nil {
		t.Fatal(err)
	}
	store := func(gw string, from uint64) {
		t.Helper()
		if _, _, err := st.StoreBatch(gw, readings(1, from, 2), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	move := func(place string) {
		t.Helper()
		if _, err := MoveGateway(st, "gw-a", place); err != nil {
			t.Fatal(err)
		}
	}
	store("gw-a", 1)
	store("gw-b", 1)
	move("putuo/caoyang/c012/cp09") // nothing stored under it
	move("putuo/caoyang/c012/cp08")
	store("gw-a", 3)
	store("gw-b", 3)
	move("putuo/caoyang/c012/cp07") // back
	store("gw-a", 5)
	want := []string{
		"gw-a putuo/caoyang/c012/cp07", "gw-a putuo/caoyang/c012/cp07",
		"gw-b putuo/x/y/z", "gw-b putuo/x/y/z",
		"gw-a putuo/caoyang/c012/cp08", "gw-a putuo/caoyang/c012/cp08",
		"gw-b putuo/x/y/z", "gw-b putuo/x/y/z",
		"gw-a putuo/caoyang/c012/cp07", "gw-a putuo/caoyang/c012/cp07",
	}
	check := func() {
		t.Helper()
		for _, gw := range []string{"", "gw-a"} {
			got, _, err := st.Events(gw, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, e := range got {
				paths = append(paths, e.Gateway+" "+e.Path)
			}
			w := want
			if gw != "" {
				w = nil
				for _, p := range want {
					if strings.HasPrefix(p, gw+" ") {
						w = append(w, p)
					}
				}
			}
			if strings.Join(paths, "\n") != strings.Join(w, "\n") {
				t.Errorf("events of %q: got\n%s\nwant\n%s", gw, strings.Join(paths, "\n"), strings.Join(w, "\n"))
			}
		}
	}
	check()
	st.Close()
	if st, err = OpenBadger(dir, nil); err != nil {
		t.Fatal(err)
	}
	check()
	g, err := st.Gateway("gw-a")
	if err != nil || g.Place != "putuo/caoyang/c012/cp07" || g.Moves != 3 {
		t.Errorf("got %+v %v, want place cp07 after 3 moves", g, err)
	}
}

func TestBadgerUpdateGateway(t *testing.T) {
	st, err := OpenBadger(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	old, err := AddPlacedGateway(st, "gw-a", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	k, err := RekeyGateway(st, "gw-a")
	if err != nil || k == old {
		t.Fatalf("rekey: %v, same key %v", err, k == old)
	}
	if g, _ := st.Gateway("gw-a"); g.Key != k {
		t.Errorf("got key %s, want the new one", g.Key)
	}
	if g, err := SetGatewayDisabled(st, "gw-a", true); err != nil || !g.Disabled {
		t.Errorf("disable: %+v %v", g, err)
	}
	if gws, _ := st.Gateways(); len(gws) != 1 || !gws[0].Disabled {
		t.Errorf("got %+v, want gw-a disabled", gws)
	}
	if _, err := SetGatewayDisabled(st, "nope", true); !errorsIsNotFound(err) {
		t.Errorf("disable unknown: got %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"", "Putuo", "a/b/c/d/e", "a b"} {
		if _, err := MoveGateway(st, "gw-a", bad); err == nil || !strings.HasPrefix(err.Error(), "place") {
			t.Errorf("move to %q: got %v, want an error naming place", bad, err)
		}
	}
	if _, err := MoveGateway(st, "bad id", "a"); err == nil || !strings.HasPrefix(err.Error(), "id") {
		t.Errorf("move bad id: got %v, want an error naming id", err)
	}
}

// Through the receiver: move, rekey (the old key 401 at once), disable
// (403 naming it disabled), enable; bad ids and places are 400 naming the
// field, an unknown gateway 404.
func TestAdminGatewayRoutes(t *testing.T) {
	r := newRig(t, Options{})
	body, err := wire.GzipBatch(readings(1, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	post := func(key wire.Key) (int, wire.ErrorResponse) {
		t.Helper()
		resp, b := r.do("POST", wire.PathBatches, "gw1", key, body, nil)
		var er wire.ErrorResponse
		json.Unmarshal(b, &er)
		return resp.StatusCode, er
	}
	adm := func(path string, in any, want int) []byte {
		t.Helper()
		resp, b := r.admin("POST", path, in)
		if resp.StatusCode != want {
			t.Fatalf("%s: got %d %s, want %d", path, resp.StatusCode, b, want)
		}
		return b
	}
	adm("/v1/admin/gateways/gw1/move", MoveGatewayRequest{Place: "putuo/caoyang/c012/cp08"}, 200)
	if code, er := post(r.key); code != 200 {
		t.Fatalf("batch after move: %d %+v", code, er)
	}
	if ev, _, _ := r.store.Events("gw1", 0, 10); len(ev) != 2 || ev[0].Path != "putuo/caoyang/c012/cp08" {
		t.Errorf("got %+v, want 2 events at cp08", ev)
	}
	var rk AddGatewayResponse
	json.Unmarshal(adm("/v1/admin/gateways/gw1/rekey", nil, 200), &rk)
	if code, er := post(r.key); code != 401 || er.Code != wire.CodeUnauthorized {
		t.Errorf("old key: got %d %+v, want 401 unauthorized", code, er)
	}
	if code, er := post(rk.Key); code != 200 {
		t.Errorf("new key: got %d %+v, want 200", code, er)
	}
	adm("/v1/admin/gateways/gw1/disable", nil, 200)
	if code, er := post(rk.Key); code != 403 || er.Code != wire.CodeForbidden || !strings.Contains(er.Error, "disabled") {
		t.Errorf("disabled: got %d %+v, want 403 forbidden naming disabled", code, er)
	}
	adm("/v1/admin/gateways/gw1/enable", nil, 200)
	if code, er := post(rk.Key); code != 200 {
		t.Errorf("enabled: got %d %+v, want 200", code, er)
	}
	for _, c := range []struct {
		path string
		in   any
		code int
		word string
	}{
		{"/v1/admin/gateways/gw1/move", MoveGatewayRequest{Place: "Putuo"}, 400, "place"},
		{"/v1/admin/gateways/gw1/move", MoveGatewayRequest{}, 400, "place"},
		{"/v1/admin/gateways/gw1/move", map[string]string{"plac": "x"}, 400, "body"},
		{"/v1/admin/gateways/bad%20id/move", MoveGatewayRequest{Place: "a"}, 400, "id"},
		{"/v1/admin/gateways/bad%20id/rekey", nil, 400, "id"},
		{"/v1/admin/gateways/nope/disable", nil, 404, "nope"},
		{"/v1/admin/gateways/nope/move", MoveGatewayRequest{Place: "a"}, 404, "nope"},
	} {
		var er wire.ErrorResponse
		json.Unmarshal(adm(c.path, c.in, c.code), &er)
		if !strings.Contains(er.Error, c.word) {
			t.Errorf("%s %+v: got %q, want it to name %q", c.path, c.in, er.Error, c.word)
		}
	}
}

func errorsIsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
