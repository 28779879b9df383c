package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/store"
	"github.com/edgegw/edgegw/sync/receiver"
	"github.com/edgegw/edgegw/sync/wire"
)

// bins holds the child binaries, built once per test run (without -race:
// they are the system under test, the test itself may run with -race).
var bins struct {
	dir     string
	gateway string
	central string
	edgegw  string // the real gateway binary
	// edgegwErr is why it did not build, if it did not.
	edgegwErr string
}

func TestMain(m *testing.M) {
	flag.Parse()
	// The tests spend their time waiting on child processes, not computing:
	// run them all at once (unless -parallel says otherwise), not
	// GOMAXPROCS at a time.
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		flag.Set("test.parallel", "8")
	}
	dir, err := os.MkdirTemp("", "edgegw-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.dir = dir
	bins.gateway = filepath.Join(dir, "gwproc")
	bins.central = filepath.Join(dir, "centralproc")
	bins.edgegw = filepath.Join(dir, "edgegw")
	// The real gateway binary is another team's: a build failure there
	// fails TestRealGatewayBinary, not the whole suite. It builds alongside
	// the test's own two.
	edgegwDone := make(chan struct{})
	go func() {
		defer close(edgegwDone)
		if out, err := exec.Command("go", "build", "-o", bins.edgegw, "../../cmd/edgegw").CombinedOutput(); err != nil {
			bins.edgegwErr = fmt.Sprintf("build cmd/edgegw: %v\n%s", err, out)
		}
	}()
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./internal/gwproc", "./internal/centralproc")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	err = cmd.Run()
	<-edgegwDone
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build the test processes: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a child process with its stderr kept in a file.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	logf string
	done chan struct{}
	err  error
}

func startProc(t *testing.T, name, logf string, stdin *io.WriteCloser, bin string, args ...string) *proc {
	t.Helper()
	os.MkdirAll(filepath.Dir(logf), 0o755)
	f, err := os.OpenFile(logf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, name: name, logf: logf, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if stdin != nil {
		if *stdin, err = p.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) term(timeout time.Duration) {
	p.t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Errorf("%s did not stop within %v on SIGINT; killing it", p.name, timeout)
		p.kill()
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.logf)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// central is a centralproc child: the real receiver over Badger.
type central struct {
	*proc
	dir  string
	addr string
}

func startCentral(t *testing.T, dir string, key wire.Key, args ...string) *central {
	t.Helper()
	addrFile := filepath.Join(dir, "addr")
	os.Remove(addrFile)
	all := append([]string{"--dir", filepath.Join(dir, "db"), "--addr-file", addrFile, "--gateway", "gw1", "--key", key.String()}, args...)
	p := startProc(t, "central", filepath.Join(dir, "central.log"), nil, bins.central, all...)
	c := &central{proc: p, dir: dir}
	waitFor(t, 20*time.Second, "central listening", func() bool {
		if p.exited() {
			t.Fatalf("central exited: %v\n%s", p.err, p.logTail())
		}
		b, err := os.ReadFile(addrFile)
		c.addr = string(b)
		return err == nil && c.addr != ""
	})
	return c
}

// admin posts v as JSON to an admin endpoint of the central process.
func (c *central) admin(t *testing.T, path string, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	resp, err := http.Post("http://"+c.addr+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("admin %s: %v", path, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("admin %s: %s: %s", path, resp.Status, body)
	}
}

// gateway is a gwproc child: the real store and uplink with the simulated
// compound.
type gateway struct {
	*proc
	dir   string
	stdin io.WriteCloser
}

func startGateway(t *testing.T, dir, url string, key wire.Key, args ...string) *gateway {
	t.Helper()
	var stdin io.WriteCloser
	all := append([]string{"--dir", dir, "--url", url, "--key", key.String(), "--status", filepath.Join(dir, "status.json")}, args...)
	p := startProc(t, "gateway", filepath.Join(dir, "gateway.log"), &stdin, bins.gateway, all...)
	return &gateway{proc: p, dir: dir, stdin: stdin}
}

// gwState mirrors gwproc's status file.
type gwState struct {
	Sync          edge.SyncStatus `json:"sync"`
	Up            bool            `json:"up"`
	Forged        uint64          `json:"forged"`
	ConfigVersion string          `json:"config_version"`
	ConfigError   string          `json:"config_error"`
	Config        string          `json:"config"`
	Commands      []string        `json:"commands"`
	LastSeq       uint64          `json:"last_seq"`
	Emitted       uint64          `json:"emitted"`
	Done          bool            `json:"done"`
	Alerts        []uint64        `json:"alerts"`
}

func (g *gateway) state() gwState {
	var s gwState
	b, err := os.ReadFile(filepath.Join(g.dir, "status.json"))
	if err == nil {
		json.Unmarshal(b, &s)
	}
	return s
}

func (g *gateway) send(line string) {
	io.WriteString(g.stdin, line+"\n")
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", d, what)
		case <-tick.C:
		}
	}
}

// evID is an event's identity at the central platform (one gateway here).
type evID struct{ epoch, seq uint64 }

// gatewayEvents reads every event the gateway's store holds: what the
// gateway accepted. The gateway must be stopped.
func gatewayEvents(t *testing.T, dir string) map[evID]edge.Event {
	t.Helper()
	st, err := store.Open(store.Options{Dir: filepath.Join(dir, "log")})
	if err != nil {
		t.Fatalf("open gateway store: %v", err)
	}
	defer st.Close()
	out := map[evID]edge.Event{}
	for next := uint64(1); ; {
		evs, err := st.Read(next, 10000)
		if err != nil {
			t.Fatalf("read gateway store: %v", err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			out[evID{e.Epoch, e.Seq}] = e
		}
		next = evs[len(evs)-1].Seq + 1
	}
	return out
}

// centralEvents reads every event the receiver stored, in arrival order.
// The central process must be stopped.
func centralEvents(t *testing.T, dir string) []wire.Event {
	t.Helper()
	b, err := receiver.OpenBadger(filepath.Join(dir, "db"), nil)
	if err != nil {
		t.Fatalf("open central store: %v", err)
	}
	defer b.Close()
	var out []wire.Event
	for after := uint64(0); ; {
		page, next, err := b.Events("", after, 10000)
		if err != nil {
			t.Fatalf("read central events: %v", err)
		}
		if len(page) == 0 {
			break
		}
		for i := range page {
			e, err := page[i].Decode()
			if err != nil {
				t.Fatalf("decode central event %d: %v", page[i].Cursor, err)
			}
			out = append(out, e)
		}
		after = next
	}
	return out
}

// checkExactlyOnce compares the full sets of (epoch, seq): every event the
// gateway accepted is at the central platform once, and nothing else is.
func checkExactlyOnce(t *testing.T, gw map[evID]edge.Event, got []wire.Event) {
	t.Helper()
	seen := make(map[evID]int, len(got))
	for _, e := range got {
		seen[evID{e.Epoch, e.Seq}]++
	}
	var missing, extra, dup []evID
	for id := range gw {
		if seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, n := range seen {
		if n > 1 {
			dup = append(dup, id)
		}
		if _, ok := gw[id]; !ok {
			extra = append(extra, id)
		}
	}
	if len(missing)+len(extra)+len(dup) > 0 {
		t.Fatalf("gateway accepted %d events, central holds %d: %d missing (e.g. %v), %d unknown (e.g. %v), %d stored twice (e.g. %v)",
			len(gw), len(got), len(missing), first(missing), len(extra), first(extra), len(dup), first(dup))
	}
	// The content survived the trip too (spot check every 97th).
	for _, e := range got {
		g := gw[evID{e.Epoch, e.Seq}]
		if e.Seq%97 == 0 && (e.Kind != g.Kind.String() || e.Device != g.Device || e.Value != g.Value || e.Text != g.Text) {
			t.Fatalf("event %d changed on the way: gateway %+v, central %+v", e.Seq, g, e)
		}
	}
}

func first(ids []evID) []evID {
	if len(ids) > 3 {
		return ids[:3]
	}
	return ids
}

// drained waits until the gateway is done generating and has nothing left
// to send.
func drained(t *testing.T, g *gateway, d time.Duration) {
	t.Helper()
	waitFor(t, d, "the gateway to finish and drain", func() bool {
		if g.exited() {
			t.Fatalf("gateway exited: %v\n%s", g.err, g.logTail())
		}
		s := g.state()
		return s.Done && s.LastSeq > 0 && s.Sync.BacklogEvents == 0
	})
}

var ctxBG = context.Background()

var _ = sync.Mutex{}
var _ = strings.Contains
