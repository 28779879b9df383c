//go:build linux

package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/internal/cli"
	"github.com/edgegw/edgegw/internal/drivertest"
)

// libmodbusTCP builds scripts/modbus-slave/slave.c and runs it as a Modbus
// TCP server; it returns host:port.
func libmodbusTCP(t *testing.T) string {
	t.Helper()
	cc := drivertest.NeedTool(t, "cc", "gcc")
	if _, err := os.Stat("/usr/include/modbus/modbus.h"); err != nil {
		drivertest.Missing(t, "libmodbus headers are not installed (apt-get install -y libmodbus-dev)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "slave")
	if out, err := exec.Command(cc, "-O1", "-o", bin, "../../scripts/modbus-slave/slave.c", "-I/usr/include/modbus", "-lmodbus").CombinedOutput(); err != nil {
		t.Fatalf("build libmodbus slave: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "tcp:127.0.0.1", "1-2", "0", filepath.Join(dir, "mode"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	var port int
	if _, err := fmt.Sscanf(line, "port %d", &port); err != nil {
		t.Fatalf("libmodbus server did not say its port: %q", line)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// TestProbeModbusTCP runs `edgegw probe modbus --tcp` as a process
// against libmodbus's TCP server: integers print as integers, in every
// order, scaled when asked; a closed port exits 1, bad usage 64.
func TestProbeModbusTCP(t *testing.T) {
	addr := libmodbusTCP(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--read", "holding:6:4", "--type", "uint32"},
			[]string{"tcp " + addr + ", unit 1, holding 6..9 as uint32", "holding 6-7", "= 3000000000 ", "(0xB2D0 0x5E00)"}},
		{[]string{"--read", "holding:8:2", "--type", "uint32", "--order", "CDAB"}, []string{"order CDAB", "= 3000000000 "}},
		{[]string{"--read", "holding:4:2", "--type", "int32", "--word-order", "little"}, []string{"= -123456 "}},
		{[]string{"--read", "holding:12:2", "--type", "float32", "--order", "cdab"}, []string{"= 21.5 "}},
		{[]string{"--read", "input:0", "--type", "int16", "--scale", "0.1"}, []string{"= 215 ", "-> 21.5"}},
		{[]string{"--read", "holding:45", "--slave", "2"}, []string{"unit 2", "= 205 "}},
		{[]string{"--read", "coil:0:2"}, []string{"coil 0", "(on)"}},
	} {
		args := append([]string{"probe", "modbus", "--tcp", addr}, tc.args...)
		out, e, code := edgegw(t, args...)
		if code != 0 {
			t.Errorf("%v: exit %d\n%s%s", tc.args, code, out, e)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", tc.args, w, out)
			}
		}
		if strings.Contains(out, "e+") {
			t.Errorf("%v: a number in exponent form:\n%s", tc.args, out)
		}
	}
	_, e, code := edgegw(t, "probe", "modbus", "--tcp", addr, "--read", "holding:60")
	if code != cli.ExitFailure || !strings.Contains(e, "ILLEGAL DATA ADDRESS") {
		t.Errorf("missing register: exit %d, %s", code, e)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	for _, args := range [][]string{{"--tcp", closed}, {"--rtu-over-tcp", closed}} {
		_, e, code := edgegw(t, append([]string{"probe", "modbus", "--connect-timeout", "2s"}, args...)...)
		if code != cli.ExitFailure || !strings.Contains(e, "connection refused") || !strings.Contains(e, "no connection: check the address") {
			t.Errorf("%v to a closed port: exit %d, %s", args, code, e)
		}
	}
	for _, args := range [][]string{
		{"--tcp", addr, "--port", "/dev/ttyUSB0"},
		{},
		{"--tcp", addr, "--order", "ACBD"},
		{"--tcp", addr, "--order", "CDAB", "--word-order", "big"},
		{"--tcp", addr, "--read", "holding:0:3", "--type", "uint64"},
	} {
		if _, e, code := edgegw(t, append([]string{"probe", "modbus"}, args...)...); code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d (usage)\n%s", args, code, cli.ExitUsage, e)
		}
	}
}
