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

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/edge/password"
	"github.com/edgegw/edgegw/edge/service"
	"github.com/edgegw/edgegw/edge/status"
	"github.com/edgegw/edgegw/internal/cli"
)

// statusTarget are the flags that say which gateway to ask, shared by
// status and diag.
type statusTarget struct {
	url, configPath, passwordFile string
	timeout                       time.Duration
}

func (t *statusTarget) flags(fs *flag.FlagSet) {
	fs.StringVar(&t.url, "url", "", "status server `URL` (default: from the config's status.listen, else http://127.0.0.1:8780)")
	fs.StringVar(&t.configPath, "config", "", i18n.Sprintf(app.FlagLang(), "gateway config `file`, to find the status address (default: %s when it exists)", service.DefaultConfigPath()))
	fs.StringVar(&t.passwordFile, "password-file", "", "`file` holding the technician password (or set EDGEGW_PASSWORD), when the status page has one")
	fs.DurationVar(&t.timeout, "timeout", 5*time.Second, "how long to wait for the gateway")
}

func (t *statusTarget) client() (*status.Client, error) {
	if t.configPath != "" {
		useConfigLanguage(t.configPath)
	} else {
		useConfigLanguage(service.DefaultConfigPath())
	}
	c, _, err := status.Target{URL: t.url, ConfigPath: t.configPath, DefaultConfigPath: service.DefaultConfigPath(),
		PasswordFile: t.passwordFile, Password: os.Getenv("EDGEGW_PASSWORD")}.Client()
	return c, err
}

func init() {
	var (
		target     statusTarget
		asJSON     bool
		maxBacklog time.Duration
		maxStore   float64

		maxCentralDown time.Duration
	)
	app.Register(&cli.Command{
		Name:  "status",
		Short: "check the local gateway: summary and a health exit code",
		Usage: `Reads the running gateway's status API and prints a summary: the
verdict and its findings (critical alerts first), the active alerts,
devices online/offline, sync, store, disk, clock. --json prints the same
for scripts, with each finding's check and level. The address comes from
--url, else from the config's status.listen: --config, else the packages'
config (` + service.DefaultConfigPath() + `) when it exists, else
http://127.0.0.1:8780. With a config, the local token the gateway keeps in
its data directory logs in (root or the service's user); else give the
status page's password with --password-file or EDGEGW_PASSWORD.

Examples:
  edgegw status
  edgegw status --config /etc/edgegw/edgegw.yaml --json
  edgegw status --url http://192.168.1.20:8780 --password-file ~/.edgegw-pw

Exit status:
  0  healthy (an untrusted clock or a non-critical alert is listed, not counted)
  1  error (bad answer, wrong password, bad flags value)
  3  not running: nothing answers at the status address
  4  degraded: a device offline, the central unreachable, rejecting or
     stalled for --max-central-down, the sync backlog older than
     --max-backlog-age, the store at --max-store-pct of its cap, the disk
     under the store's reserve or full (appends refused), not ready
  5  critical: a critical alert fires and nobody acknowledged it (it wins
     over 4)
  64 usage error`,
		Flags: func(fs *flag.FlagSet) {
			target.flags(fs)
			fs.BoolVar(&asJSON, "json", false, "print JSON: {healthy, exit_code, problems, status}")
			fs.DurationVar(&maxBacklog, "max-backlog-age", 15*time.Minute, "unhealthy when the oldest unsynced event is older than this (0: no check)")
			fs.Float64Var(&maxStore, "max-store-pct", 90, "unhealthy when the store uses this `percent` of its cap (0: no check)")
			fs.DurationVar(&maxCentralDown, "max-central-down", 2*time.Minute, "unhealthy when the central has been unreachable, rejecting or stalled this long")
		},
		Run: func(ctx context.Context, env *cli.Env, args []string) error {
			if len(args) > 0 {
				return i18n.Errorf(lang(), "%w: unexpected argument %q", cli.ErrUsage, args[0])
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
					_ = writeIndented(env.Stdout, map[string]any{"healthy": false, "exit_code": status.ExitNotRunning, "problems": []string{err.Error()}})
				}
				return &cli.ExitError{Code: status.ExitNotRunning, Err: err}
			}
			if err != nil {
				return err
			}
			probs := status.Evaluate(snap, status.Thresholds{MaxBacklogAge: maxBacklog, MaxStorePct: maxStore, MaxCentralDown: maxCentralDown})
			code, _ := status.Verdict(probs)
			if asJSON {
				type finding struct {
					Check string `json:"check"`
					Level string `json:"level"`
					Text  string `json:"text"`
				}
				texts, checks := []string{}, []finding{}
				for _, p := range probs {
					texts = append(texts, p.Text)
					checks = append(checks, finding{p.Check.String(), [...]string{"info", "degraded", "critical"}[p.Check.Level()], p.Text})
				}
				err = writeIndented(env.Stdout, map[string]any{"healthy": code == 0, "exit_code": code, "problems": texts, "checks": checks, "status": snap})
			} else {
				err = status.WriteSummaryIn(env.Stdout, snap, probs, edge.SystemClock{}.Now(), lang())
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
				return i18n.Errorf(lang(), "%w: the password is read from stdin, not given as an argument", cli.ErrUsage)
			}
			if env.Stdin == nil {
				return errors.New("no standard input")
			}
			if f, ok := env.Stdin.(*os.File); ok {
				if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
					i18n.Fprintf(env.Stderr, lang(), "Password (it will be shown as you type; end with Enter): ")
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
				return i18n.Errorf(lang(), "%w: --iterations must be at least %d", cli.ErrUsage, password.MinIterations)
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
