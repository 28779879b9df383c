// Package service runs the gateway under the OS service manager (systemd on
// Linux, the SCM on Windows) with github.com/kardianos/service, and holds the
// settings the library leaves wrong for an alarm system: a quick restart, no
// wait for the network, sandboxing, Windows recovery actions, a stop within
// the service manager's timeout.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	kservice "github.com/kardianos/service"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/cli"
)

// Runner runs the gateway until ctx ends and returns once it has drained.
type Runner func(ctx context.Context) error

// Settings describe the installed service.
type Settings struct {
	// Name is the service name. Default: "edgegw".
	Name string
	// ConfigPath is the gateway config the service runs. Required.
	ConfigPath string
	// Executable is the binary. Default: this process's executable.
	Executable string
	// UserName runs the service as this user (Linux). Default: "edgegw" when
	// that user exists, else root.
	UserName string
	// Groups are the supplementary groups (Linux). Default: dialout and gpio.
	Groups []string
	// StopTimeout bounds the drain after a stop request. Default: 20s on
	// Linux (systemd's TimeoutStopSec is 30s), 15s on Windows (the SCM's wait).
	StopTimeout time.Duration
}

// Defaults and fixed choices.
const (
	DefaultName   = "edgegw"
	DefaultUser   = "edgegw"
	LinuxDataDir  = "/var/lib/edgegw"
	LinuxConfDir  = "/etc/edgegw"
	restartDelay  = 2 * time.Second // systemd RestartSec, Windows recovery delay is 5s
	winRestart    = "5s"
	winResetAfter = 86400 // seconds without failure before the SCM's failure count resets
)

// ConfigEnv names an environment variable that, when set, replaces the
// packages' config path for the commands that look for it (status, diag).
const ConfigEnv = "EDGEGW_CONFIG"

// DefaultConfigPath is where the packages put the config, or $EDGEGW_CONFIG.
func DefaultConfigPath() string {
	if p := os.Getenv(ConfigEnv); p != "" {
		return p
	}
	if runtime.GOOS == "windows" {
		return WindowsDataDir() + `\edgegw.yaml`
	}
	return LinuxConfDir + "/edgegw.yaml"
}

// WindowsDataDir is %ProgramData%\edgegw.
func WindowsDataDir() string {
	pd := os.Getenv("ProgramData")
	if pd == "" {
		pd = `C:\ProgramData`
	}
	return pd + `\edgegw`
}

func (s Settings) withDefaults() Settings {
	if s.Name == "" {
		s.Name = DefaultName
	}
	if s.Groups == nil {
		s.Groups = []string{"dialout", "gpio"}
	}
	if s.StopTimeout == 0 {
		s.StopTimeout = 20 * time.Second
		if runtime.GOOS == "windows" {
			s.StopTimeout = 15 * time.Second
		}
	}
	return s
}

// Timeout is the drain a stop request allows (StopTimeout or its default).
func (s Settings) Timeout() time.Duration { return s.withDefaults().StopTimeout }

// DetectUser returns DefaultUser when that account exists, else "" (root).
func DetectUser() string {
	if runtime.GOOS == "windows" {
		return ""
	}
	if _, err := user.Lookup(DefaultUser); err == nil {
		return DefaultUser
	}
	return ""
}

// Arguments are what the service manager starts the binary with.
func (s Settings) Arguments() []string {
	return []string{"service", "run", "--config", s.ConfigPath}
}

// Config builds the kardianos config for s on the running OS.
func (s Settings) Config() (*kservice.Config, error) {
	s = s.withDefaults()
	if s.ConfigPath == "" {
		return nil, errors.New("service: no config path")
	}
	c := &kservice.Config{
		Name:        s.Name,
		DisplayName: "edgegw edge gateway",
		Description: "edgegw: offline-first edge gateway (devices, local alarms, sync with the central platform)",
		Executable:  s.Executable,
		Arguments:   s.Arguments(),
		Option:      kservice.KeyValue{},
	}
	if runtime.GOOS == "windows" {
		for k, v := range WindowsOptions() {
			c.Option[k] = v
		}
		return c, nil
	}
	c.UserName = s.UserName
	c.Option["SystemdScript"] = SystemdTemplate(s.Groups)
	c.Option["SysvScript"] = SysvTemplate(s.Name, s.UserName)
	c.Option["Restart"] = "always"
	return c, nil
}

// WindowsOptions are the SCM settings: start at boot, and restart after a
// crash (the library sets no recovery action unless told).
func WindowsOptions() kservice.KeyValue {
	return kservice.KeyValue{
		"StartType":              "automatic",
		"DelayedAutoStart":       false,
		"OnFailure":              "restart",
		"OnFailureDelayDuration": winRestart,
		"OnFailureResetPeriod":   winResetAfter,
	}
}

// program adapts a Runner to kardianos's Start/Stop.
type program struct {
	run     Runner
	timeout time.Duration
	clock   edge.Clock // nil: the system clock
	log     *slog.Logger
	exit    func(code int)
	// stopSelf, when set (under the Windows SCM), asks the service manager
	// to stop the service: how a failure that a restart cannot fix ends
	// without the SCM's recovery action restarting it (the SCM runs it only
	// for a process that ends without reporting itself stopped).
	stopSelf func() error

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func (p *program) Start(kservice.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.mu.Lock()
	p.cancel, p.done = cancel, make(chan struct{})
	done := p.done
	p.mu.Unlock()
	go func() {
		defer close(done)
		err := p.run(ctx)
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		// The gateway stopped by itself: exit with the code that says why
		// (cli.ExitCode), so that systemd's Restart=always with
		// RestartPreventExitStatus, or the SCM's recovery action, restarts
		// it unless a restart cannot help (an invalid config).
		code := cli.ExitCode(err)
		if code == cli.ExitOK {
			code = cli.ExitFailure
		}
		if slices.Contains(NoRestart, code) && p.stopSelf != nil {
			p.log.Error("gateway cannot run; stopping the service, fix the problem and start it again", "err", err, "exit_code", code)
			go func() {
				if err := p.stopSelf(); err != nil {
					p.exit(code)
				}
			}()
			return
		}
		p.log.Error("gateway stopped unexpectedly; exiting for the service manager to restart it", "err", err, "exit_code", code)
		p.exit(code)
	}()
	return nil
}

func (p *program) after(d time.Duration) <-chan time.Time {
	if p.clock == nil {
		return edge.SystemClock{}.After(d)
	}
	return p.clock.After(d)
}

// Stop cancels the gateway and waits for its drain, at most the timeout, so
// the service manager never has to kill a process that is mid-commit.
func (p *program) Stop(kservice.Service) error {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		p.mu.Lock()
		err := p.err
		p.mu.Unlock()
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	case <-p.after(p.timeout):
		p.log.Error("gateway did not drain in time; stopping anyway", "timeout", p.timeout)
		return fmt.Errorf("gateway did not stop within %s", p.timeout)
	}
}

// Run runs the gateway under the service manager when started by it, or in
// the foreground until SIGINT/SIGTERM otherwise. logOut receives a writer for
// the gateway's log lines: the Windows Event Log when run by the SCM,
// stderr otherwise (systemd sends stderr to the journal).
func Run(s Settings, run func(ctx context.Context, logOut io.Writer) error) error {
	s = s.withDefaults()
	c, err := s.Config()
	if err != nil {
		return err
	}
	var out io.Writer = os.Stderr
	p := &program{timeout: s.StopTimeout, exit: os.Exit}
	svc, err := kservice.New(p, c)
	if err != nil {
		return fmt.Errorf("service: %w", err)
	}
	if runtime.GOOS == "windows" && !kservice.Interactive() {
		if l, err := svc.Logger(nil); err == nil {
			out = &LineWriter{L: l}
		}
		p.stopSelf = svc.Stop
	}
	p.log = slog.New(slog.NewTextHandler(out, nil))
	p.run = func(ctx context.Context) error { return run(ctx, out) }
	return svc.Run()
}

// Control runs one of install, uninstall, start, stop, restart.
func Control(s Settings, action string) error {
	c, err := s.Config()
	if err != nil {
		return err
	}
	svc, err := kservice.New(&program{}, c)
	if err != nil {
		return fmt.Errorf("service: %w", err)
	}
	if err := kservice.Control(svc, action); err != nil {
		return fmt.Errorf("service %s: %w", action, err)
	}
	return nil
}

// Status reports the installed service's state as a word: running, stopped,
// not installed, unknown.
func Status(s Settings) (string, error) {
	c, err := s.Config()
	if err != nil {
		return "", err
	}
	svc, err := kservice.New(&program{}, c)
	if err != nil {
		return "", fmt.Errorf("service: %w", err)
	}
	st, err := svc.Status()
	switch {
	case errors.Is(err, kservice.ErrNotInstalled):
		return "not installed", nil
	case err != nil:
		return "unknown", err
	case st == kservice.StatusRunning:
		return "running", nil
	case st == kservice.StatusStopped:
		return "stopped", nil
	}
	return "unknown", nil
}

// Platform names the service manager kardianos found ("linux-systemd",
// "windows-service").
func Platform() string {
	if sys := kservice.ChosenSystem(); sys != nil {
		return sys.String()
	}
	return "none"
}

// LineWriter sends each written line to a kardianos logger (the Windows
// Event Log): lines with level=ERROR as errors, level=WARN as warnings.
type LineWriter struct {
	L   kservice.Logger
	mu  sync.Mutex
	buf []byte
}

func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		switch {
		case strings.Contains(line, "level=ERROR"), strings.Contains(line, `"level":"ERROR"`):
			_ = w.L.Error(line)
		case strings.Contains(line, "level=WARN"), strings.Contains(line, `"level":"WARN"`):
			_ = w.L.Warning(line)
		default:
			_ = w.L.Info(line)
		}
	}
	return len(p), nil
}

var _ kservice.Interface = (*program)(nil)
