package update

// Step is what the loader does next: a pure function of the update
// directory's state (Plan), so that its decisions are table-tested.
type Step int

const (
	// StepInProcess: nothing installed and nothing staged: run the
	// gateway in this process, as without updates.
	StepInProcess Step = iota
	// StepRunCurrent: run the committed version as a child.
	StepRunCurrent
	// StepTrial: start the staged version on trial.
	StepTrial
	// StepRollback: the staged version used up its attempts.
	StepRollback
	// StepFinishCommit: a commit was cut short after current moved.
	StepFinishCommit
	// StepAdoptInstalled: the installed binary is newer than current (a
	// package upgrade over a self-updated gateway): it becomes current.
	StepAdoptInstalled
)

func (s Step) String() string {
	return [...]string{"in-process", "run-current", "trial", "rollback", "finish-commit", "adopt-installed"}[s]
}

// Plan decides the loader's next step from the pointers, the trial (ok is
// false when there is no trial.json) and the installed binary's version.
func Plan(p Pointers, t Trial, ok bool, maxAttempts int, installed string) Step {
	switch {
	case p.New != "" && p.New == p.Current:
		return StepFinishCommit
	case p.New != "" && p.New == p.Broken:
		return StepRollback
	case p.New != "":
		if ok && t.Version == p.New && t.Attempts >= maxAttempts {
			return StepRollback
		}
		return StepTrial
	case p.Current == "":
		return StepInProcess
	}
	if c, ok := CompareVersions(installed, p.Current); ok && c > 0 {
		return StepAdoptInstalled
	}
	return StepRunCurrent
}

// AfterExit decides what a committed child's exit status means: restart
// (loop into the staged version) or exit with it.
func AfterExit(code int) (restart bool, exitCode int) {
	switch {
	case code == ExitRestart:
		return true, 0
	case code <= 0:
		// Killed by a signal (-1) or a clean exit the gateway never makes
		// by itself: a failure the service manager restarts.
		return false, 1
	}
	return false, code
}
