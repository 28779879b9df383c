package update

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/sync/wire"
)

// Loader decides what `edgegw service run` runs: the gateway in-process,
// the committed version as a child, or the staged version on trial.
type Loader struct {
	// Dir is the update directory. Required.
	Dir Dir
	// Args are the child's arguments ("service", "run", "--config", F).
	Args []string
	// Installed is the installed binary, run when current is unset and a
	// child is needed. Default: this process's executable.
	Installed string
	// Version is the installed binary's version (the "from" of a report
	// when current is unset).
	Version string
	// HealthTimeout, MaxAttempts: the trial's limits. Defaults 2m and 3.
	HealthTimeout time.Duration
	MaxAttempts   int
	// StopTimeout bounds a child's drain after it is asked to stop; then
	// it is killed. Default: 15s.
	StopTimeout time.Duration
	// Poll is how often a trial's health is looked at. Default: 250ms.
	Poll time.Duration
	// Stderr receives the children's output. Default: os.Stderr.
	Stderr io.Writer
	Logger *slog.Logger
	Clock  edge.Clock
}

func (l *Loader) defaults() {
	if l.HealthTimeout <= 0 {
		l.HealthTimeout = 2 * time.Minute
	}
	if l.MaxAttempts <= 0 {
		l.MaxAttempts = 3
	}
	if l.StopTimeout <= 0 {
		l.StopTimeout = 15 * time.Second
	}
	if l.Poll <= 0 {
		l.Poll = 250 * time.Millisecond
	}
	if l.Stderr == nil {
		l.Stderr = os.Stderr
	}
	if l.Logger == nil {
		l.Logger = slog.New(slog.DiscardHandler)
	}
	if l.Clock == nil {
		l.Clock = edge.SystemClock{}
	}
}

// IsChild reports whether this process is a child of a loader.
func IsChild() bool { return os.Getenv(EnvChild) == "1" }

// TrialVersion is the version this child is on trial as, or "".
func TrialVersion() string {
	if !IsChild() {
		return ""
	}
	return os.Getenv(EnvTrial)
}

// Run runs until ctx ends or the gateway exits for good. inProcess runs
// the gateway in this process; it returns ErrRestart (wrapped) when the
// gateway staged a version and wants to restart into it. The error
// carries the exit status for the service manager (cli.ExitCode).
func (l *Loader) Run(ctx context.Context, inProcess func(ctx context.Context) error) error {
	l.defaults()
	if IsChild() {
		err := inProcess(ctx)
		if errors.Is(err, ErrRestart) {
			return &cli.ExitError{Code: ExitRestart, Err: err}
		}
		return err
	}
	l.waitOrphan()
	for ctx.Err() == nil {
		p, err := l.Dir.Pointers()
		if err != nil {
			l.Logger.Error("cannot read the update directory; running the installed version", "dir", string(l.Dir), "err", err)
			return inProcess(ctx)
		}
		t, ok, err := l.Dir.Trial()
		if err != nil {
			l.Logger.Warn("unreadable trial state; starting the trial over", "err", err)
			ok = false
		}
		step := Plan(p, t, ok, l.MaxAttempts, l.Version)
		switch step {
		case StepInProcess:
			err := inProcess(ctx)
			if errors.Is(err, ErrRestart) && ctx.Err() == nil {
				l.Logger.Info("restarting into the staged version")
				continue
			}
			return err
		case StepAdoptInstalled:
			l.Logger.Info("the installed version is newer than the self-updated one; running it", "installed", l.Version, "was", p.Current)
			if err := errors.Join(l.Dir.SetPointer(Previous, p.Current), l.Dir.SetPointer(Current, "")); err != nil {
				return fmt.Errorf("update: %w", err)
			}
		case StepFinishCommit:
			if err := l.finishCommit(); err != nil {
				return err
			}
		case StepRollback:
			if err := l.rollback(p, t, ok); err != nil {
				return err
			}
		case StepRunCurrent:
			c, err := l.start(p.Current, "")
			if err != nil {
				// Better the installed version than no gateway at all.
				l.Logger.Error("cannot start the current version; running the installed one", "version", p.Current, "err", err)
				return inProcess(ctx)
			}
			l.Logger.Info("running version", "version", p.Current, "pid", c.cmd.Process.Pid)
			if err := l.supervise(ctx, c); err != nil || ctx.Err() != nil {
				return err
			}
		case StepTrial:
			committed, c, err := l.trial(ctx, p, t, ok)
			if err != nil || !committed {
				if err != nil {
					return err
				}
				continue
			}
			if err := l.supervise(ctx, c); err != nil || ctx.Err() != nil {
				return err
			}
		}
	}
	return nil
}

// supervise waits for a committed child: nil when it asked to restart
// into a staged version, else its exit status as an error.
func (l *Loader) supervise(ctx context.Context, c *child) error {
	select {
	case <-c.done:
	case <-ctx.Done():
		l.stop(c)
		return nil
	}
	restart, code := AfterExit(c.code)
	if restart {
		l.Logger.Info("the gateway staged a new version; restarting into it")
		return nil
	}
	return &cli.ExitError{Code: code, Err: fmt.Errorf("the gateway exited with status %d", c.code)}
}

// trial runs the staged version until it proves healthy (committed: it
// keeps running as c), exits, or runs out of time.
func (l *Loader) trial(ctx context.Context, p Pointers, t Trial, ok bool) (bool, *child, error) {
	if !ok || t.Version != p.New {
		t = Trial{Version: p.New}
	}
	if t.From == "" {
		t.From = p.Current
		if t.From == "" {
			t.From = l.Version
		}
	}
	// Count the attempt before the launch: a loader killed mid-trial
	// has still spent it.
	t.Attempts++
	t.Started = l.Clock.Now()
	if err := l.Dir.SetTrial(t); err != nil {
		return false, nil, fmt.Errorf("update trial: %w", err)
	}
	if err := l.Dir.ClearHealth(); err != nil {
		return false, nil, fmt.Errorf("update trial: %w", err)
	}
	l.Logger.Info("trying new version", "version", p.New, "attempt", t.Attempts, "of", l.MaxAttempts)
	c, err := l.start(p.New, p.New)
	if err != nil {
		return false, nil, l.failAttempt(t, -1, fmt.Sprintf("did not start: %v", err), "")
	}
	deadline := l.Clock.After(l.HealthTimeout)
	for {
		select {
		case <-c.done:
			if l.healthy(p.New) {
				// Healthy, then it exited (a restart into yet another
				// version, a failure): it proved itself all the same.
				if err := l.commit(p, t); err != nil {
					return false, nil, err
				}
				return true, c, nil
			}
			return false, nil, l.failAttempt(t, c.code, fmt.Sprintf("exited with status %d before it was healthy", c.code), c.ring.String())
		case <-deadline:
			l.stop(c)
			return false, nil, l.failAttempt(t, c.code, fmt.Sprintf("not healthy within %s", l.HealthTimeout), c.ring.String())
		case <-ctx.Done():
			l.stop(c)
			// A stop request is not the new version's fault.
			t.Attempts--
			return false, nil, l.Dir.SetTrial(t)
		case <-l.Clock.After(l.Poll):
			if !l.healthy(p.New) {
				continue
			}
			if err := l.commit(p, t); err != nil {
				l.stop(c)
				return false, nil, err
			}
			return true, c, nil
		}
	}
}

func (l *Loader) healthy(v string) bool {
	h, ok, err := l.Dir.Health()
	return err == nil && ok && h.Version == v
}

// failAttempt records a failed attempt; the next Plan retries or rolls
// back.
func (l *Loader) failAttempt(t Trial, code int, reason, tail string) error {
	l.Logger.Error("new version failed its trial", "version", t.Version, "attempt", t.Attempts, "reason", reason)
	t.ExitCodes = append(t.ExitCodes, code)
	t.Reasons = append(t.Reasons, reason)
	if err := writeFileAtomic(l.Dir.path("trial.log"), []byte(tail), 0o640); err != nil {
		l.Logger.Warn("cannot keep the trial's log tail", "err", err)
	}
	if err := l.Dir.SetTrial(t); err != nil {
		return fmt.Errorf("update trial: %w", err)
	}
	return nil
}

// commit makes the healthy new version current. Each step is durable and
// Plan finishes a commit cut short (StepFinishCommit).
func (l *Loader) commit(p Pointers, t Trial) error {
	prev := p.Current
	if prev == "" && l.Version != "" && l.Version != p.New && validVersion(l.Version) {
		// The installed binary becomes previous: keep a copy of it beside
		// the new version.
		exe := l.Installed
		if exe == "" {
			exe, _ = os.Executable()
		}
		if err := l.Dir.KeepBinary(l.Version, exe); err != nil {
			l.Logger.Warn("cannot keep the installed version beside the new one; previous is the installed binary", "err", err)
		} else {
			prev = l.Version
		}
	}
	p.Current = prev
	l.Logger.Info("new version is healthy; committed", "version", p.New, "previous", p.Current, "attempt", t.Attempts)
	err := errors.Join(
		l.Dir.AddReport(wire.UpdateReport{
			Rollout: t.Rollout, From: t.From, To: p.New, Outcome: wire.UpdateCommitted,
			Reason: fmt.Sprintf("healthy on attempt %d", t.Attempts), Attempts: t.Attempts,
			ExitCodes: t.ExitCodes, At: l.Clock.Now().UTC(),
		}),
		l.Dir.SetPointer(Previous, p.Current),
		l.Dir.SetPointer(Current, p.New),
	)
	if err != nil {
		return fmt.Errorf("update commit: %w", err)
	}
	if promoteOnCommit {
		exe := l.Installed
		if exe == "" {
			exe, _ = os.Executable()
		}
		if old, err := promoteInstalled(exe, l.Dir.Binary(p.New)); err != nil {
			l.Logger.Warn("the service's executable stays the installed one; the loader runs the new version from the update directory", "err", err)
		} else {
			l.Logger.Info("the new version is now the service's executable", "path", exe, "old", old)
		}
	}
	return l.finishCommit()
}

func (l *Loader) finishCommit() error {
	if err := errors.Join(l.Dir.SetPointer(New, ""), l.Dir.ClearTrial(), l.Dir.ClearHealth(),
		removeFile(l.Dir.path("trial.log"))); err != nil {
		return fmt.Errorf("update commit: %w", err)
	}
	if err := l.Dir.Prune(); err != nil {
		l.Logger.Warn("cannot remove old versions", "err", err)
	}
	return nil
}

// rollback gives up on the staged version: it is marked broken (its
// directory stays, for a look), the report is queued, and the next Plan
// runs current again.
func (l *Loader) rollback(p Pointers, t Trial, ok bool) error {
	if p.Broken != p.New {
		if !ok {
			t = Trial{Version: p.New}
		}
		tail, _ := edge.ReadFileLimit(l.Dir.path("trial.log"), maxRecord)
		last := "no attempt finished"
		if n := len(t.Reasons); n > 0 {
			last = t.Reasons[n-1]
		}
		from := t.From
		if from == "" {
			from = p.Current
		}
		l.Logger.Error("rolling back: the new version failed every attempt", "version", p.New, "attempts", t.Attempts, "last", last)
		r := wire.UpdateReport{
			Rollout: t.Rollout, From: from, To: p.New, Outcome: wire.UpdateRolledBack,
			Reason:   fmt.Sprintf("failed %d of %d attempts during its trial (last: %s)", t.Attempts, l.MaxAttempts, last),
			Attempts: t.Attempts, ExitCodes: t.ExitCodes, LogTail: string(tail), At: l.Clock.Now().UTC(),
		}
		if err := l.Dir.AddReport(r); err != nil {
			return fmt.Errorf("update rollback: %w", err)
		}
		if err := l.Dir.SetPointer(Broken, p.New); err != nil {
			return fmt.Errorf("update rollback: %w", err)
		}
	}
	if err := errors.Join(l.Dir.SetPointer(New, ""), l.Dir.ClearTrial(), l.Dir.ClearHealth(),
		removeFile(l.Dir.path("trial.log"))); err != nil {
		return fmt.Errorf("update rollback: %w", err)
	}
	return nil
}

// child is a running gateway process.
type child struct {
	cmd     *exec.Cmd
	ring    *Ring
	stopReq func() error
	done    chan struct{}
	code    int
}

// start starts version v ("" for the installed binary), on trial when
// trial is set.
func (l *Loader) start(v, trial string) (*child, error) {
	exe := l.Installed
	if v != "" {
		exe = l.Dir.Binary(v)
	}
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(exe, l.Args...)
	env := []string{EnvChild + "=1"}
	if trial != "" {
		env = append(env, EnvTrial+"="+trial)
	}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, EnvChild+"=") && !strings.HasPrefix(e, EnvTrial+"=") {
			env = append(env, e)
		}
	}
	cmd.Env = env
	c := &child{cmd: cmd, ring: NewRing(wire.MaxLogTail), done: make(chan struct{})}
	out := io.MultiWriter(l.Stderr, c.ring)
	cmd.Stdout, cmd.Stderr = out, out
	stop, err := prepareStop(cmd)
	if err != nil {
		return nil, err
	}
	c.stopReq = stop
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if err := afterStart(cmd); err != nil {
		l.Logger.Warn("the child may outlive the loader", "pid", cmd.Process.Pid, "err", err)
	}
	l.noteChild(cmd.Process.Pid)
	go func() {
		_ = cmd.Wait()
		l.forgetChild()
		c.code = cmd.ProcessState.ExitCode()
		close(c.done)
	}()
	return c, nil
}

// stop asks c to drain, waits at most StopTimeout, then kills it.
func (l *Loader) stop(c *child) {
	select {
	case <-c.done:
		return
	default:
	}
	if err := c.stopReq(); err != nil {
		l.Logger.Warn("cannot ask the gateway to stop; killing it", "err", err)
		_ = c.cmd.Process.Kill()
	}
	select {
	case <-c.done:
	case <-l.Clock.After(l.StopTimeout):
		l.Logger.Error("the gateway did not stop in time; killing it", "timeout", l.StopTimeout)
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}
