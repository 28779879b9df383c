//go:build unix

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/drivers/serialport"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/config"
	"github.com/edgegw/edgegw/internal/ptytest"
)

// learnedInput parses the YAML learn wrote as a whole config, as `edgegw
// validate` does, and builds the input.
func learnedInput(t *testing.T, yml []byte) []edge.Device {
	t.Helper()
	cfg, err := config.Parse("learned.yaml", append([]byte("gateway: {id: t}\n"), yml...))
	if err == nil {
		err = config.CheckDrivers(cfg)
	}
	if err != nil {
		t.Fatalf("learned YAML does not validate: %v\n%s", err, yml)
	}
	f, err := edge.LookupDriver(cfg.Inputs[0].Driver)
	if err != nil {
		t.Fatal(err)
	}
	d, err := f(edge.Env{Name: cfg.Inputs[0].Name}, cfg.InputOptions(0))
	if err != nil {
		t.Fatalf("learned input: %v\n%s", err, yml)
	}
	return d.Devices()
}

// TestLearn433Process runs `edgegw learn 433` as a real process on a pty
// that plays a decoder board: two sensors, each frame five times, noise in
// between. It prints each code once and writes an input that validates.
func TestLearn433Process(t *testing.T) {
	pty := ptytest.New(t)
	out := filepath.Join(t.TempDir(), "doors.yaml")
	cmd := exec.Command(edgegwBin, "learn", "433", "--port", pty.Path(), "--count", "3", "--out", out)
	cmd.Env = append(os.Environ(), serialport.LockDirEnv+"="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	log := watchLog(stdout)
	log.waitFor(t, 10*time.Second, "listening on")
	frame := func(c uint32) []byte { return []byte{0xFD, byte(c >> 16), byte(c >> 8), byte(c), 0x2C, 0xDF} }
	for _, c := range []uint32{0x5A3C1E, 0x5A3C17, 0x5A3C1E, 0x0B0C0E} {
		b := []byte{0x00, 0x13}
		for i := 0; i < 5; i++ {
			b = append(b, frame(c)...)
		}
		if _, err := pty.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	log.wait()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("learn: %v\n%s\n%s", err, log.String(), stderr.String())
	}
	s := log.String()
	for _, want := range []string{"door-1    code 5A3C1E  address 5A3C1  key E  -> open", "door-1    code 5A3C17  address 5A3C1  key 7  -> close", "door-2    code 0B0C0E", "3 codes; the input is in"} {
		if !strings.Contains(s, want) {
			t.Fatalf("no %q in:\n%s", want, s)
		}
	}
	if strings.Count(s, "5A3C1E") != 1 {
		t.Fatalf("a code printed twice:\n%s", s)
	}
	yml, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	devs := learnedInput(t, yml)
	if len(devs) != 2 || devs[0].ID != "door-1" || !devs[0].HasTag("observe") {
		t.Fatalf("devices %+v from\n%s", devs, yml)
	}
}

// TestLearn433PortHeld: learning on a port the gateway holds is refused
// at once with 69, naming the holder.
func TestLearn433PortHeld(t *testing.T) {
	pty := ptytest.New(t)
	lockDir := t.TempDir()
	p, err := (&serialport.Opener{LockDir: lockDir}).Open(pty.Path(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cmd := exec.Command(edgegwBin, "learn", "433", "--port", pty.Path())
	cmd.Env = append(os.Environ(), serialport.LockDirEnv+"="+lockDir)
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 69 || !strings.Contains(string(b), "in use") {
		t.Fatalf("got %v:\n%s\nwant exit 69, port in use", err, b)
	}
}

// TestLearn433RTL runs learn with a fake rtl_433 (a script printing real
// rtl_433 JSON lines) as its child process.
func TestLearn433RTL(t *testing.T) {
	lines, err := filepath.Abs("../../drivers/rf433/testdata/rtl433.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "rtl_433")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ncat '"+lines+"'\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command(edgegwBin, "learn", "433", "--rtl433="+script+" -F json", "--count", "4").CombinedOutput()
	if err != nil {
		t.Fatalf("learn: %v\n%s", err, b)
	}
	s := string(b)
	for _, want := range []string{"rtl_433 Kerui-Security:365845  cmd E  -> open", "rtl_433 Honeywell-Security:690172:8  -> open, battery_ok", "cmd B  -> tamper"} {
		if !strings.Contains(s, want) {
			t.Fatalf("no %q in:\n%s", want, s)
		}
	}
	i := strings.Index(s, "inputs:")
	if i < 0 {
		t.Fatalf("no YAML in:\n%s", s)
	}
	devs := learnedInput(t, []byte(s[i:]))
	if len(devs) != 3 {
		t.Fatalf("devices %+v", devs)
	}
}
