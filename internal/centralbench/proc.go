// Package centralbench runs a district central on this machine and loads
// it: child processes (edgecentral nodes, nats-server) that can be
// SIGKILLed and restarted, simulated gateways uploading signed batches over
// real HTTP, and the read-back of the events stream that counts the lost
// and the duplicated. `edgebench central` and the cluster tests of
// cmd/edgecentral share it.
package centralbench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Proc is a child process that is ready once a line of its output
// (stdout or stderr) matches Ready; Ready's first group, if any, is its
// URL. Start it again after Kill or Stop to restart it with the same
// arguments.
type Proc struct {
	Name  string   // for messages
	Path  string   // the executable
	Args  []string // its arguments
	Env   []string // extra environment (KEY=value) on top of this process's
	Ready *regexp.Regexp
	// StopSignal ends it in Stop; nil closes its stdin instead.
	StopSignal os.Signal
	// Output, if set, gets every line of its stdout and stderr.
	Output io.Writer
	// Timeout bounds Start's wait for the ready line and Stop's wait for
	// the exit (then it is killed); default 60 s.
	Timeout time.Duration
	Clock   edge.Clock

	mu      gosync.Mutex
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	exited  chan struct{}
	url     string
	lines   []string // every line since the first start
	changed chan struct{}
	peak    float64 // largest VmHWM seen, MiB, over every run
}

func (p *Proc) clock() edge.Clock {
	if p.Clock == nil {
		return edge.SystemClock{}
	}
	return p.Clock
}

func (p *Proc) timeout() time.Duration {
	if p.Timeout <= 0 {
		return 60 * time.Second
	}
	return p.Timeout
}

// Start starts the process and waits for its ready line; on a timeout or
// an early exit it kills it and returns an error with its last lines.
func (p *Proc) Start() error {
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = append(os.Environ(), p.Env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	p.mu.Lock()
	from := len(p.lines)
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	p.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	exited := make(chan struct{})
	var readers gosync.WaitGroup
	readers.Add(2)
	go p.scan(stdout, &readers)
	go p.scan(stderr, &readers)
	go func() { readers.Wait(); cmd.Wait(); close(exited) }()
	p.mu.Lock()
	p.cmd, p.stdin, p.exited, p.url = cmd, stdin, exited, ""
	p.mu.Unlock()
	m, err := p.waitLine(p.Ready, from, exited)
	if err != nil {
		p.Kill()
		return fmt.Errorf("%s did not start: %w; last output:\n%s", p.Name, err, p.Tail(20))
	}
	if len(m) > 1 {
		p.mu.Lock()
		p.url = m[1]
		p.mu.Unlock()
	}
	return nil
}

func (p *Proc) scan(r io.Reader, wg *gosync.WaitGroup) {
	defer wg.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p.Output != nil {
			fmt.Fprintln(p.Output, line)
		}
		p.mu.Lock()
		if len(p.lines) < 100_000 {
			p.lines = append(p.lines, line)
		}
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
	io.Copy(io.Discard, r)
}

// WaitLine waits (Timeout) for a line matching re printed since the
// process's last start, and returns its submatches.
func (p *Proc) WaitLine(re *regexp.Regexp) ([]string, error) {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	return p.waitLine(re, 0, exited)
}

func (p *Proc) waitLine(re *regexp.Regexp, from int, exited chan struct{}) ([]string, error) {
	deadline := p.clock().After(p.timeout())
	for {
		p.mu.Lock()
		for _, l := range p.lines[min(from, len(p.lines)):] {
			if m := re.FindStringSubmatch(l); m != nil {
				p.mu.Unlock()
				return m, nil
			}
		}
		from = len(p.lines)
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-exited:
			return nil, errors.New("exited")
		case <-deadline:
			return nil, fmt.Errorf("no line matching %q within %v", re, p.timeout())
		}
	}
}

// Tail is the last n lines of its output.
func (p *Proc) Tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines[max(0, len(p.lines)-n):], "\n")
}

// URL is the first group of the ready line of the current run.
func (p *Proc) URL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.url
}

// Pid is the current run's process id (0 when not started).
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Sample reads the process's peak RSS (VmHWM) and keeps the largest; it
// returns that largest, over every run, in MiB.
func (p *Proc) Sample() float64 {
	v := 0.0
	if pid := p.Pid(); pid != 0 {
		v = PeakRSSMiB(pid)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.peak = max(p.peak, v)
	return p.peak
}

// Send writes a line to the process's stdin (edgebench's central-node
// takes profile-start and profile-stop).
func (p *Proc) Send(line string) error {
	p.mu.Lock()
	stdin := p.stdin
	p.mu.Unlock()
	if stdin == nil {
		return errors.New(p.Name + ": not started")
	}
	_, err := io.WriteString(stdin, line+"\n")
	return err
}

// Kill SIGKILLs the process (after sampling its peak RSS) and waits for it.
func (p *Proc) Kill() {
	p.Sample()
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-exited
}

// Stop ends the process with StopSignal (or by closing its stdin) and
// waits Timeout for it to exit, then kills it. It returns the exit error.
func (p *Proc) Stop() error {
	p.Sample()
	p.mu.Lock()
	cmd, exited, stdin := p.cmd, p.exited, p.stdin
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if p.StopSignal != nil {
		cmd.Process.Signal(p.StopSignal)
	} else {
		stdin.Close()
	}
	select {
	case <-exited:
	case <-p.clock().After(p.timeout()):
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%s did not stop within %v: killed", p.Name, p.timeout())
	}
	if cmd.ProcessState != nil && !cmd.ProcessState.Success() {
		return fmt.Errorf("%s: %s", p.Name, cmd.ProcessState)
	}
	return nil
}

// PeakRSSMiB reads VmHWM of pid (0 where /proc is absent).
func PeakRSSMiB(pid int) float64 { return ProcMiB(pid, "VmHWM:") }

// ProcMiB reads a kB field of /proc/pid/status in MiB.
func ProcMiB(pid int, field string) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
