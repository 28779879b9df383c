package service

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSysvScript: the init script of the SysV fallback parses as sh, runs
// the gateway through setpriv as the edgegw user with the config argument as
// one word, and keeps root only when there is no edgegw account. The script
// is started for real as that user by scripts/check-artifacts.sh (in a
// chroot without systemd).
func TestSysvScript(t *testing.T) {
	for _, tc := range []struct {
		user, want string
	}{
		{user: "edgegw", want: "user=edgegw\n"},
		{user: "", want: "user=\n"},
	} {
		st := Settings{ConfigPath: "/etc/edge gw/edgegw.yaml", Executable: "/usr/bin/edgegw", UserName: tc.user}.withDefaults()
		c, err := st.Config()
		if err != nil {
			t.Fatal(err)
		}
		tpl, _ := c.Option["SysvScript"].(string)
		if tpl == "" {
			t.Fatal("no SysvScript option")
		}
		got, err := render(tpl, map[string]any{
			"Description": "d", "DisplayName": "edgegw edge gateway", "Path": st.Executable,
			"Arguments": st.Arguments(), "WorkingDirectory": "", "LogDirectory": "/var/log", "EnvVars": []string(nil),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{tc.want,
			`exec setpriv --reuid="$user" --regid="$user" --init-groups -- "/usr/bin/edgegw" "service" "run" "--config" "/etc/edge gw/edgegw.yaml"`,
			"# Provides:          edgegw\n",
		} {
			if !strings.Contains(got, w) {
				t.Errorf("user %q: script lacks %q:\n%s", tc.user, w, got)
			}
		}
		f := filepath.Join(t.TempDir(), "edgegw")
		if err := os.WriteFile(f, []byte(got), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("sh", "-n", f).CombinedOutput(); err != nil {
			t.Errorf("user %q: sh -n: %v\n%s", tc.user, err, out)
		}
	}
}
