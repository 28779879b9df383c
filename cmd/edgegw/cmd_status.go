package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/edge/password"
	"github.com/edgegw/edgegw/edge/status"
	"github.com/edgegw/edgegw/internal/cli"
)

// Exit codes of `edgegw status`. When several apply, the smallest wins,
// except a full disk (8), which wins over all but "not running": it hides
// the rest (a device whose status could not be stored shows offline).
const (
	exitStatusNotRunning    = 3
	exitStatusDeviceOffline = 4
	exitStatusBacklogOld    = 5
	exitStatusStoreNearCap  = 6
	exitStatusNotReady      = 7
	exitStatusDiskFull      = 8
)

var checkExit = map[status.Check]int{
	status.CheckDeviceOffline: exitStatusDeviceOffline,
	status.CheckBacklogOld:    exitStatusBacklogOld,
	status.CheckStoreNearCap:  exitStatusStoreNearCap,
	status.CheckNotReady:      exitStatusNotReady,
	status.CheckDiskFull:      exitStatusDiskFull,
	status.CheckDiskLow:       exitStatusStoreNearCap,
}

// statusTarget are the flags that say which gateway to ask, shared by
// status and diag.
type statusTarget struct {
	url, configPath, passwordFile string
	timeout                       time.Duration
}

func (t *statusTarget) flags(fs *flag.FlagSet) {
	fs.StringVar(&t.url, "url", "", "status server `URL` (default: from --config's status.listen, else http://127.0.0.1:8780)")
	fs.StringVar(&t.configPath, "config", "", "gateway config `file`, to find the status address")
	fs.StringVar(&t.passwordFile, "password-file", "", "`file` holding the technician password (or set EDGEGW_PASSWORD), when the status page has one")
	fs.DurationVar(&t.timeout, "timeout", 5*time.Second, "how long to wait for the gateway")
}

// statusSection reads only the status section of a config file: status and
// diag must work on a config that `run` would refuse.
func statusSection(path string) (config.Status, error) {
	var f struct {
		Status config.Status `yaml:"status"`
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return config.Status{}, err
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		return config.Status{}, fmt.Errorf("%s: %v", path, err)
	}
	f.Status.SetDefaults()
	return f.Status, nil
}

func (t *statusTarget) client() (*status.Client, error) {
	u := t.url
	if u == "" {
		listen := config.DefaultStatusListen
		if t.configPath != "" {
			s, err := statusSection(t.configPath)
			if err != nil {
				return nil, err
			}
			if s.Disabled() {
				return nil, fmt.Errorf("%s: status.listen is off: the gateway serves no status", t.configPath)
			}
			listen = s.Listen
		}
		u = status.URLFromListen(listen)
	}
	pw := os.Getenv("EDGEGW_PASSWORD")
	if t.passwordFile != "" {
		b, err := os.ReadFile(t.passwordFile)
		if err != nil {
			return nil, err
		}
		pw = strings.TrimRight(string(b), "\r\n")
	}
	c := &status.Client{BaseURL: u, Password: pw}
	return c, nil
}

func init() {
	var (
		target     statusTarget
		asJSON     bool
		maxBacklog time.Duration
		maxStore   float64
	)
	app.Register(&cli.Command{
		Name:  "status",
		Short: "check the local gateway: summary and a health exit code",
		Usage: `Reads the running gateway's status API and prints a summary: devices
online/offline, active alerts, sync backlog, store use, clock. --json prints
the same for scripts. The address comes from --url, else from the config's
status.listen (--config), else http://127.0.0.1:8780. When the status page
has a password, give it with --password-file or EDGEGW_PASSWORD.

Examples:
  edgegw status
  edgegw status --config /etc/edgegw/edgegw.yaml --json
  edgegw status --url http://192.168.1.20:8780 --password-file ~/.edgegw-pw

Exit status (when several apply, the smallest, except 8, which wins):
  0  healthy
  1  error (bad answer, wrong password, bad flags value)
  64 usage error
  3  not running: nothing answers at the status address
  4  a device is offline
  5  the sync backlog is older than --max-backlog-age
  6  the store is at --max-store-pct of its cap or more, or the disk is under
     the store's reserve (it evicts its oldest events to keep it)
  7  the gateway is not ready or reports a problem of its own
  8  degraded: the store's disk is full; appends are refused (the gateway
     stays up, serves status, syncs, and takes appends again once space
     returns). It wins over 4 to 7: events that could not be stored, device
     status among them, make the rest unreliable`,
		Flags: func(fs *flag.FlagSet) {
			target.flags(fs)
			fs.BoolVar(&asJSON, "json", false, "print JSON: {healthy, exit_code, problems, status}")
			fs.DurationVar(&maxBacklog, "max-backlog-age", 15*time.Minute, "unhealthy when the oldest unsynced event is older than this (0: no check)")
			fs.Float64Var(&maxStore, "max-store-pct", 90, "unhealthy when the store uses this `percent` of its cap (0: no check)")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, args[0])
			}
			c, err := target.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(ctx, target.timeout)
			defer cancel()
			snap, _, err := c.Status(ctx)
			if errors.Is(err, status.ErrNotRunning) {
				if asJSON {
					_ = writeIndented(env.Stdout, map[string]any{"healthy": false, "exit_code": exitStatusNotRunning, "problems": []string{err.Error()}})
				}
				return &cli.ExitError{Code: exitStatusNotRunning, Err: err}
			}
			if err != nil {
				return err
			}
			probs := status.Evaluate(snap, status.Thresholds{MaxBacklogAge: maxBacklog, MaxStorePct: maxStore})
			code := 0
			texts := []string{}
			full := false
			for _, p := range probs {
				if e := checkExit[p.Check]; code == 0 || e < code {
					code = e
				}
				full = full || p.Check == status.CheckDiskFull
				texts = append(texts, p.Text)
			}
			if full {
				code = exitStatusDiskFull
			}
			if asJSON {
				err = writeIndented(env.Stdout, map[string]any{"healthy": code == 0, "exit_code": code, "problems": texts, "status": snap})
			} else {
				err = status.WriteSummary(env.Stdout, snap, probs, time.Now())
			}
			if err != nil {
				return err
			}
			if code != 0 {
				return &cli.ExitError{Code: code}
			}
			return nil
		},
	})

	var iterations int
	app.Register(&cli.Command{
		Name:  "status hash-password",
		Short: "hash a technician password for status.password_hash",
		Usage: `Reads a password from standard input (the first line) and prints its
PBKDF2-SHA256 hash for the config's status.password_hash. With a password
set, the status page and API need a login, and the status server may listen
on a LAN address.

Example:
  printf '%s\n' 'the password' | edgegw status hash-password
  then in the config:
    status:
      listen: 0.0.0.0:8780
      password_hash: "pbkdf2-sha256$600000$..."`,
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&iterations, "iterations", password.DefaultIterations, "PBKDF2 iterations: more is slower to guess and to log in")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("%w: the password is read from stdin, not given as an argument", cli.ErrUsage)
			}
			if env.Stdin == nil {
				return errors.New("no standard input")
			}
			if f, ok := env.Stdin.(*os.File); ok {
				if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
					fmt.Fprint(env.Stderr, "Password (it will be shown as you type; end with Enter): ")
				}
			}
			line, err := bufio.NewReader(io.LimitReader(env.Stdin, 4096)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			pw := strings.TrimRight(line, "\r\n")
			if len(pw) < 8 {
				return errors.New("password too short: use at least 8 characters")
			}
			if iterations < password.MinIterations {
				return fmt.Errorf("%w: --iterations must be at least %d", cli.ErrUsage, password.MinIterations)
			}
			h, err := password.NewWithIterations(pw, iterations)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(env.Stdout, h)
			return err
		},
	})
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
