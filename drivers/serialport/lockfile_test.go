package serialport

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/edgegw/edgegw/edge"
)

func TestParseLockPID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int // 0: an error
	}{
		{"      1234\n", 1234},
		{"1234", 1234},
		{"1234\n", 1234},
		{"  42  \r\n", 42},
		{"2147483647\n", 2147483647},
		{"", 0},
		{"\n", 0},
		{"          \n", 0},
		{"0\n", 0},
		{"-1\n", 0},
		{"     -1234\n", 0},
		{"+1234\n", 0},
		{"12 34\n", 0},
		{"2147483648\n", 0},
		{"99999999999\n", 0},
		{"12345678901234567890\n", 0},
		{"\x00\x00\x04\xd2", 0}, // a binary (Kermit-style) pid
		{"\xff\xfe\x00garbage", 0},
		{"1234\nextra\n", 0},
		{strings.Repeat(" ", 200) + "1\n", 0}, // past the bound
		{"0x4d2\n", 0},
	} {
		got, err := parseLockPID([]byte(tc.in))
		if tc.want == 0 {
			if err == nil {
				t.Errorf("%q: got pid %d, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %d, %v, want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatLock(t *testing.T) {
	if got, want := string(formatLock(123)), "       123\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := len(formatLock(4194304)); got != 11 {
		t.Errorf("got %d bytes, want 11", got)
	}
}

func TestLockName(t *testing.T) {
	for in, want := range map[string]string{
		"/dev/ttyUSB0": "LCK..ttyUSB0",
		"/dev/ttyS1":   "LCK..ttyS1",
		"/dev/pts/3":   "LCK..3",
		"ttyAMA0":      "LCK..ttyAMA0",
	} {
		if got := LockName(in); got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"edgegw\n":              "edgegw",
		"mini\x1b[31mcom":       "mini?[31mcom",
		strings.Repeat("x", 99): strings.Repeat("x", 32),
	} {
		if got := cleanName([]byte(in)); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestInUseErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		e    InUseError
		want string
	}{
		{InUseError{Port: "/dev/ttyUSB0", PID: 123, Name: "edgegw"},
			"port /dev/ttyUSB0 is in use by edgegw (pid 123); stop the service or use the status page's Test button"},
		{InUseError{Port: "/dev/ttyUSB0", PID: 77, Name: "minicom"},
			"port /dev/ttyUSB0 is in use by minicom (pid 77); stop that program first"},
		{InUseError{Port: "/dev/ttyUSB0", PID: 77},
			"port /dev/ttyUSB0 is in use by another process (pid 77); stop it first (if the edgegw service holds the port: stop the service or use the status page's Test button)"},
		{InUseError{Port: "COM3"},
			"port COM3 is in use by another program; stop it first (if the edgegw service holds the port: stop the service or use the status page's Test button)"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
		if !errors.Is(&tc.e, edge.ErrPortInUse) {
			t.Errorf("%v does not wrap edge.ErrPortInUse", &tc.e)
		}
	}
}

// FuzzParseLockPID: a hostile lock file (binary, huge, negative, no
// newline) yields a pid in range or an error, never a panic.
func FuzzParseLockPID(f *testing.F) {
	f.Add([]byte("      1234\n"))
	f.Add([]byte("-5"))
	f.Add([]byte("\x00\x00\x04\xd2"))
	f.Add(bytes.Repeat([]byte("9"), 300))
	f.Add([]byte("  0042\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pid, err := parseLockPID(b)
		if err == nil && (pid <= 0 || len(b) > maxLockFile) {
			t.Fatalf("%q: accepted pid %d", b, pid)
		}
		if err == nil && !bytes.Contains(b, []byte(strconv.Itoa(pid))) {
			t.Fatalf("%q: pid %d is not in the file", b, pid)
		}
	})
}
