package status

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTargetClient(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o750)
	os.WriteFile(filepath.Join(data, LocalTokenFile), []byte("0123456789abcdef0123456789abcdef\n"), 0o600)
	cfg := filepath.Join(dir, "edgegw.yaml")
	// inputs the gateway would refuse: status still reads its sections
	os.WriteFile(cfg, []byte("gateway: {id: x}\nstore: {dir: "+data+"}\nstatus: {listen: 127.0.0.1:9911}\ninputs: [{name: a, driver: nosuch}]\n"), 0o644)
	off := filepath.Join(dir, "off.yaml")
	os.WriteFile(off, []byte("status: {listen: \"off\"}\n"), 0o644)
	bin := filepath.Join(dir, "bin.yaml")
	os.WriteFile(bin, []byte("status: [\x00\x01\x02\n"), 0o644)

	for _, tc := range []struct {
		name      string
		t         Target
		url, tok  string
		path, err string
	}{
		{"the packages' config when it exists", Target{DefaultConfigPath: cfg}, "http://127.0.0.1:9911", "0123456789abcdef0123456789abcdef", cfg, ""},
		{"no config anywhere", Target{DefaultConfigPath: filepath.Join(dir, "none.yaml")}, "http://127.0.0.1:8780", "", "", ""},
		{"--url wins over the default config", Target{URL: "http://10.0.0.2:8780", DefaultConfigPath: cfg}, "http://10.0.0.2:8780", "", "", ""},
		{"--config", Target{ConfigPath: cfg}, "http://127.0.0.1:9911", "0123456789abcdef0123456789abcdef", cfg, ""},
		{"status off", Target{ConfigPath: off}, "", "", off, "status.listen is off"},
		{"a broken file", Target{ConfigPath: bin}, "", "", bin, bin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, path, err := tc.t.Client()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.BaseURL != tc.url || c.LocalToken != tc.tok || path != tc.path {
				t.Errorf("got %q token %q config %q, want %q %q %q", c.BaseURL, c.LocalToken, path, tc.url, tc.tok, tc.path)
			}
		})
	}
}
