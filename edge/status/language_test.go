package status_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/edge/status"
	"github.com/edgegw/edgegw/edge/status/statustest"
)

// The config's language is the page's for a browser that asks for none;
// Accept-Language and the switch (?lang=) win over it.
func TestConfigLanguageIsTheDefault(t *testing.T) {
	s, err := status.New(status.Options{Config: config.Status{Listen: "127.0.0.1:0"}, Provider: statustest.New(time.Now()), Language: i18n.ZH})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, c := range []struct {
		path, accept string
		want         i18n.Lang
	}{
		{"/api/i18n", "", i18n.ZH},
		{"/api/i18n", "en-US,en;q=0.9", i18n.EN},
		{"/api/i18n?lang=en", "", i18n.EN},
		{"/api/i18n", "fr", i18n.ZH},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+c.path, nil)
		if c.accept != "" {
			req.Header.Set("Accept-Language", c.accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ Lang i18n.Lang }
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || got.Lang != c.want {
			t.Errorf("%s (Accept-Language %q): got %q (%v), want %q", c.path, c.accept, got.Lang, err, c.want)
		}
	}
}
