package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kservice "github.com/kardianos/service"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/fakeclock"
)

func debSettings() Settings {
	return Settings{ConfigPath: "/etc/edgegw/edgegw.yaml", Executable: "/usr/bin/edgegw", UserName: "edgegw"}
}

func TestUnitContent(t *testing.T) {
	u, err := Unit(debSettings())
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(u, "\n") {
		lines[l] = true
	}
	for _, want := range []string{
		`ExecStart=/usr/bin/edgegw "service" "run" "--config" "/etc/edgegw/edgegw.yaml"`,
		"Restart=always",
		"RestartSec=2",
		"RestartPreventExitStatus=78 64",
		"StartLimitIntervalSec=0",
		"User=edgegw",
		"Group=edgegw",
		"SupplementaryGroups=dialout gpio",
		"StandardOutput=journal",
		"StandardError=journal",
		"ProtectSystem=strict",
		"ReadWritePaths=-/var/lib/edgegw -/etc/edgegw -/run/lock",
		"NoNewPrivileges=yes",
		"PrivateTmp=yes",
		"ProtectHome=yes",
		"ProtectKernelTunables=yes",
		"ProtectControlGroups=yes",
		"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
		"DeviceAllow=char-ttyUSB rw",
		"DeviceAllow=char-ttyACM rw",
		"DeviceAllow=char-ttyS rw",
		"DeviceAllow=char-gpiochip rw",
		"WantedBy=multi-user.target",
		"[Unit]", "[Service]", "[Install]",
	} {
		if !lines[want] {
			t.Errorf("unit lacks line %q", want)
		}
	}
	for _, bad := range []string{"RestartSec=120", "network-online.target\n", "After=network", "Wants=network", "StandardOutput=file:", "{{", "}}"} {
		for _, l := range strings.Split(u, "\n") {
			if !strings.HasPrefix(l, "#") && strings.Contains(l+"\n", bad) {
				t.Errorf("unit has %q in line %q", bad, l)
			}
		}
	}
	// Without a user: no User/Group/SupplementaryGroups lines at all.
	s := debSettings()
	s.UserName = ""
	u2, err := Unit(s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(u2, "User=") || strings.Contains(u2, "SupplementaryGroups=") {
		t.Errorf("root unit names a user:\n%s", u2)
	}
}

// TestUnitMatchesKardianos installs the service with kardianos/service's
// own systemd backend (as a user service in a temp HOME, with a fake
// systemctl on PATH) and checks it writes exactly the unit Unit renders:
// the .deb ships the same file `edgegw service install` writes.
func TestUnitMatchesKardianos(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("systemd backend is Linux only")
	}
	var sys kservice.System
	for _, s := range kservice.AvailableSystems() {
		if s.String() == "linux-systemd" {
			sys = s
		}
	}
	if sys == nil {
		t.Fatal("kardianos has no linux-systemd backend")
	}
	home := t.TempDir()
	bin := t.TempDir()
	logf := filepath.Join(bin, "calls")
	script := "#!/bin/sh\necho \"$@\" >> " + logf + "\n[ \"$1\" = --version ] && echo 'systemd 252 (252.30-1~deb12u2)'\nexit 0\n"
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	st := debSettings()
	c, err := st.Config()
	if err != nil {
		t.Fatal(err)
	}
	c.Option["UserService"] = true
	svc, err := sys.New(&program{}, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Install(); err != nil {
		t.Fatalf("kardianos install: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(home, ".config/systemd/user/edgegw.service"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := Unit(st)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("kardianos wrote a different unit.\n--- kardianos:\n%s\n--- Unit():\n%s", got, want)
	}
	calls, _ := os.ReadFile(logf)
	if !strings.Contains(string(calls), "enable --user edgegw.service") {
		t.Errorf("install did not enable the unit; systemctl calls:\n%s", calls)
	}
}

var updateUnit = flag.Bool("update", false, "rewrite packaging/systemd/edgegw.service")

// TestPackagedUnitUpToDate: the .deb ships packaging/systemd/edgegw.service
// (packaging/cmd/mkdeb, in its own module, does not render it), so it must
// be the unit `edgegw service install` writes.
func TestPackagedUnitUpToDate(t *testing.T) {
	want, err := Unit(debSettings())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join("..", "..", "packaging", "systemd", "edgegw.service")
	const regen = "go test ./edge/service -run TestPackagedUnitUpToDate -update"
	if *updateUnit {
		if err := os.WriteFile(p, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (regenerate: %s)", err, regen)
	}
	if string(got) != want {
		t.Fatalf("%s is stale: regenerate with: %s", p, regen)
	}
}

func TestWindowsOptions(t *testing.T) {
	o := WindowsOptions()
	// kardianos reads these with type assertions: a wrong type is silently
	// ignored, so the types matter as much as the values.
	if v, ok := o["OnFailure"].(string); !ok || v != "restart" {
		t.Errorf("OnFailure: %#v", o["OnFailure"])
	}
	if v, ok := o["OnFailureDelayDuration"].(string); !ok {
		t.Errorf("OnFailureDelayDuration: %#v", o["OnFailureDelayDuration"])
	} else if d, err := time.ParseDuration(v); err != nil || d != 5*time.Second {
		t.Errorf("OnFailureDelayDuration %q: %v %v", v, d, err)
	}
	if v, ok := o["OnFailureResetPeriod"].(int); !ok || v != 86400 {
		t.Errorf("OnFailureResetPeriod: %#v", o["OnFailureResetPeriod"])
	}
	if v, ok := o["StartType"].(string); !ok || v != "automatic" {
		t.Errorf("StartType: %#v", o["StartType"])
	}
	if v, ok := o["DelayedAutoStart"].(bool); !ok || v {
		t.Errorf("DelayedAutoStart: %#v", o["DelayedAutoStart"])
	}
	if _, err := (Settings{}).Config(); err == nil {
		t.Error("Config without a config path accepted")
	}
	st := Settings{ConfigPath: `C:\ProgramData\edgegw\edgegw.yaml`}
	if got := strings.Join(st.Arguments(), " "); got != `service run --config C:\ProgramData\edgegw\edgegw.yaml` {
		t.Errorf("arguments: %s", got)
	}
	t.Setenv("ProgramData", `D:\PD`)
	if d := WindowsDataDir(); d != `D:\PD\edgegw` {
		t.Errorf("WindowsDataDir: %s", d)
	}
}

func TestStopDrainsWithinTimeout(t *testing.T) {
	var exited atomic.Int32
	drained := make(chan struct{})
	p := &program{
		timeout: 5 * time.Second,
		log:     discard(),
		exit:    func(code int) { exited.Store(int32(code)) },
		run: func(ctx context.Context) error {
			<-ctx.Done()
			close(drained)
			return nil
		},
	}
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(nil); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case <-drained:
	default:
		t.Fatal("Stop returned before the runner drained")
	}
	if exited.Load() != 0 {
		t.Fatal("a clean stop called exit")
	}
}

func TestStopGivesUpAfterTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	clock := fakeclock.New(time.Unix(0, 0))
	p := &program{
		timeout: 20 * time.Second,
		clock:   clock,
		log:     discard(),
		exit:    func(int) {},
		run: func(ctx context.Context) error {
			<-release // ignores ctx: a stuck drain
			return nil
		},
	}
	_ = p.Start(nil)
	errc := make(chan error, 1)
	go func() { errc <- p.Stop(nil) }()
	if !clock.BlockUntil(1, 10*time.Second) {
		t.Fatal("Stop does not wait on the clock")
	}
	clock.Advance(20 * time.Second)
	err := <-errc
	if err == nil || !strings.Contains(err.Error(), "did not stop within") {
		t.Fatalf("Stop of a stuck runner: got %v", err)
	}
}

func TestRunnerFailureExits(t *testing.T) {
	code := make(chan int, 1)
	p := &program{
		timeout: time.Second,
		log:     discard(),
		exit:    func(c int) { code <- c },
		run:     func(ctx context.Context) error { return errors.New("store corrupt") },
	}
	_ = p.Start(nil)
	select {
	case c := <-code:
		if c != 1 {
			t.Fatalf("exit code %d, want 1", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a failed runner did not exit the process")
	}
}

// TestRunnerFailureExitCodes: the process exits with the code that says
// why the gateway stopped, which the service manager's restart policy reads;
// under the SCM (stopSelf set) a failure a restart cannot fix stops the
// service instead of exiting into the recovery action.
func TestRunnerFailureExitCodes(t *testing.T) {
	cases := []struct {
		name     string
		err      error
		scm      bool
		stopErr  error
		wantExit int // -1: no exit
		wantStop bool
	}{
		{"invalid config", fmt.Errorf("gw.yaml: %w", edge.ErrInvalidConfig), false, nil, 78, false},
		{"store", fmt.Errorf("open store: %w", edge.ErrStoreOpen), false, nil, 73, false},
		{"disk full", fmt.Errorf("open store: %w: %w", edge.ErrStoreOpen, edge.ErrDiskFull), false, nil, 75, false},
		{"port", fmt.Errorf("open port: %w", edge.ErrPortInUse), false, nil, 69, false},
		{"stopped without error", nil, false, nil, 1, false},
		{"invalid config under the SCM", fmt.Errorf("gw.yaml: %w", edge.ErrInvalidConfig), true, nil, -1, true},
		{"SCM stop fails", fmt.Errorf("gw.yaml: %w", edge.ErrInvalidConfig), true, errors.New("access denied"), 78, true},
		{"store under the SCM", fmt.Errorf("open store: %w", edge.ErrStoreOpen), true, nil, 73, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code := make(chan int, 1)
			stopped := make(chan struct{}, 1)
			p := &program{
				timeout: time.Second,
				log:     discard(),
				exit:    func(c int) { code <- c },
				run:     func(ctx context.Context) error { return c.err },
			}
			if c.scm {
				p.stopSelf = func() error { stopped <- struct{}{}; return c.stopErr }
			}
			_ = p.Start(nil)
			if c.wantStop {
				select {
				case <-stopped:
				case <-time.After(10 * time.Second):
					t.Fatal("the service was not stopped")
				}
			}
			if c.wantExit < 0 {
				<-p.done
				select {
				case got := <-code:
					t.Fatalf("exit %d, want none (the SCM stops the service)", got)
				default:
				}
				return
			}
			select {
			case got := <-code:
				if got != c.wantExit {
					t.Fatalf("exit code %d, want %d", got, c.wantExit)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("a failed runner did not exit the process")
			}
		})
	}
}

type recLogger struct{ info, warn, err []string }

func (r *recLogger) Error(v ...interface{}) error { r.err = append(r.err, v[0].(string)); return nil }
func (r *recLogger) Warning(v ...interface{}) error {
	r.warn = append(r.warn, v[0].(string))
	return nil
}
func (r *recLogger) Info(v ...interface{}) error { r.info = append(r.info, v[0].(string)); return nil }
func (r *recLogger) Errorf(f string, v ...interface{}) error {
	return nil
}
func (r *recLogger) Warningf(f string, v ...interface{}) error { return nil }
func (r *recLogger) Infof(f string, v ...interface{}) error    { return nil }

func TestLineWriter(t *testing.T) {
	l := &recLogger{}
	w := &LineWriter{L: l}
	w.Write([]byte("time=x level=INFO msg=started\ntime=x level=WA"))
	w.Write([]byte("RN msg=slow\ntime=x level=ERROR msg=bad\npartial"))
	if len(l.info) != 1 || len(l.warn) != 1 || len(l.err) != 1 || l.warn[0] != "time=x level=WARN msg=slow" {
		t.Fatalf("info %q warn %q err %q", l.info, l.warn, l.err)
	}
}
