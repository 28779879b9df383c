package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/edgegw/edgegw/internal/hostile"
)

// The bounds of docs/hardening.md, section 6: whatever the file, validate
// and run answer within them, with at most 50 short lines.
const (
	hostileMaxTime  = 10 * time.Second
	hostileMaxRSS   = 256 << 20
	hostileMaxLines = 50
	hostileMaxLine  = 512
)

var hostileRuns = flag.Int("hostile.runs", 1, "runs of each hostile config (scripts/hostile-configs.sh measures with more)")

// TestHostileConfigs writes each hostile shape at full size and runs the
// real `edgegw validate` on it, and `edgegw run` on the ones it refuses:
// the answer comes within the bounds, the exit code is 78 (0 for the
// largest valid configs), the error names the limit, and no raw byte of
// the file is echoed. It logs the time and peak RSS of each run (the
// figures of docs/hardening.md come from scripts/hostile-configs.sh).
func TestHostileConfigs(t *testing.T) {
	dir := t.TempDir()
	for _, s := range hostile.Shapes() {
		t.Run(s.Name, func(t *testing.T) {
			f := filepath.Join(dir, s.Name+".yaml")
			data := s.Make(0)
			size := len(data)
			if err := os.WriteFile(f, data, 0o644); err != nil {
				t.Fatal(err)
			}
			data = nil
			cmds := [][]string{{"validate", f}}
			if s.Want != "" {
				cmds = append(cmds, []string{"run", "--config", f})
			}
			for _, args := range cmds {
				for range *hostileRuns {
					r := runMeasured(t, dir, args...)
					t.Logf("%-8s %6.1f MB file: %-3d in %5.2fs, peak RSS %5.1f MiB", args[0], float64(size)/1e6, r.code, r.wall.Seconds(), float64(r.maxRSS)/(1<<20))
					checkHostileAnswer(t, s, args[0], r)
				}
			}
			// The commands that read the file with the plain YAML library
			// (status finds the gateway from it; diag redacts it) answer
			// in bounded time too: whatever their verdict, no hang, no
			// crash, no runaway memory.
			for _, args := range [][]string{{"status", "--config", f}, {"diag", "--config", f, "--out", filepath.Join(t.TempDir(), "d.zip")}} {
				r := runMeasured(t, dir, args...)
				t.Logf("%-8s %6.1f MB file: %-3d in %5.2fs, peak RSS %5.1f MiB", args[0], float64(size)/1e6, r.code, r.wall.Seconds(), float64(r.maxRSS)/(1<<20))
				if r.wall > hostileMaxTime || r.maxRSS > hostileMaxRSS || r.code == 2 || r.code < 0 {
					t.Errorf("%s: exit %d in %v, peak %d MiB (want an answer within %v and %d MiB, no crash)\n%s",
						args[0], r.code, r.wall, r.maxRSS>>20, hostileMaxTime, hostileMaxRSS>>20, clipOut(r.stderr))
				}
			}
		})
	}
}

type measured struct {
	code           int
	wall           time.Duration
	maxRSS         int64
	stdout, stderr string
}

// runMeasured runs edgegw with args through peakrss, which measures its
// wall time and peak RSS: the child of a process counts that process's RSS
// in its own peak (Linux keeps the mark across exec), and this test
// process is large under the race detector, so it must not start edgegw
// itself.
func runMeasured(t *testing.T, dir string, args ...string) measured {
	t.Helper()
	peakrss := buildPeakRSS(t)
	out := filepath.Join(t.TempDir(), "peakrss")
	cmd := exec.Command(peakrss, append([]string{edgegwBin}, args...)...)
	cmd.Dir = dir // the shapes' store.dir is relative
	cmd.Env = append(os.Environ(), "PEAKRSS_OUT="+out)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(3*hostileMaxTime, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	timer.Stop()
	r := measured{stdout: o.String(), stderr: e.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("edgegw %v: %v", args, err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("edgegw %v: no measurement: %v\n%s", args, err, r.stderr)
	}
	var ms, kib int64
	if _, err := fmt.Sscanf(string(b), "wall_ms=%d peak_rss_kib=%d", &ms, &kib); err != nil {
		t.Fatalf("peakrss wrote %q: %v", b, err)
	}
	r.wall, r.maxRSS = time.Duration(ms)*time.Millisecond, kib<<10
	return r
}

var (
	peakRSSOnce sync.Once
	peakRSSBin  string
	peakRSSErr  error
)

func buildPeakRSS(t *testing.T) string {
	t.Helper()
	peakRSSOnce.Do(func() {
		peakRSSBin = filepath.Join(filepath.Dir(edgegwBin), "peakrss")
		out, err := exec.Command("go", "build", "-o", peakRSSBin, "../../internal/hostile/peakrss").CombinedOutput()
		if err != nil {
			peakRSSErr = fmt.Errorf("build peakrss: %v\n%s", err, out)
		}
	})
	if peakRSSErr != nil {
		t.Fatal(peakRSSErr)
	}
	return peakRSSBin
}

func checkHostileAnswer(t *testing.T, s hostile.Shape, cmd string, r measured) {
	t.Helper()
	if r.wall > hostileMaxTime {
		t.Errorf("%s took %v, want under %v", cmd, r.wall, hostileMaxTime)
	}
	if r.maxRSS > hostileMaxRSS {
		t.Errorf("%s peaked at %d MiB, want under %d MiB", cmd, r.maxRSS>>20, hostileMaxRSS>>20)
	}
	wantCode := 78
	if s.Want == "" {
		wantCode = 0
	}
	if r.code != wantCode {
		t.Errorf("%s: exit %d, want %d\n%s", cmd, r.code, wantCode, clipOut(r.stderr))
	}
	if s.Want != "" && !strings.Contains(r.stderr, s.Want) {
		t.Errorf("%s: stderr does not say %q:\n%s", cmd, s.Want, clipOut(r.stderr))
	}
	out := r.stdout + r.stderr
	if !utf8.ValidString(out) {
		t.Errorf("%s: output is not UTF-8: raw bytes of the file echoed", cmd)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) > hostileMaxLines+1 { // the problems, and "edgegw validate: F is not valid"
		t.Errorf("%s: %d lines of output, want at most %d", cmd, len(lines), hostileMaxLines+1)
	}
	for _, l := range lines {
		if len(l) > hostileMaxLine {
			t.Errorf("%s: a line of %d bytes, want at most %d: %.120q...", cmd, len(l), hostileMaxLine, l)
		}
		if strings.ContainsFunc(l, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
			t.Errorf("%s: control character in %.120q", cmd, l)
		}
	}
}

func clipOut(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "..."
	}
	return s
}
