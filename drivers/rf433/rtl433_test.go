package rf433

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseRTL433(t *testing.T) {
	for _, tc := range []struct {
		line   string
		sender string
		cmd    string
		states []string
		err    bool
	}{
		{`{"time" : "2026-03-01 10:00:00", "model" : "Kerui-Security", "id" : 365845, "cmd" : 14, "state" : "open"}`,
			"Kerui-Security:365845", "E", []string{"open"}, false},
		{`{"time" : "2026-03-01 10:00:01", "model" : "Kerui-Security", "id" : 365845, "cmd" : 7, "state" : "close"}`,
			"Kerui-Security:365845", "7", []string{"close"}, false},
		{`{"time" : "2026-03-01 10:00:01", "model" : "Kerui-Security", "id" : 365845, "cmd" : 15, "state" : "battery"}`,
			"Kerui-Security:365845", "F", []string{"low_battery"}, false},
		{`{"time" : "2026-03-01 10:00:02", "model" : "Honeywell-Security", "id" : 690172, "channel" : 8, "event" : 160, "state" : "open", "contact_open" : 1, "reed_open" : 1, "alarm" : 0, "tamper" : 0, "battery_ok" : 1, "heartbeat" : 0, "mic" : "CRC"}`,
			"Honeywell-Security:690172:8", "", []string{"open", "battery_ok"}, false},
		{`{"time" : "2026-03-01 10:00:02", "model" : "Honeywell-Security", "id" : 690172, "channel" : 8, "event" : 4, "state" : "closed", "contact_open" : 0, "reed_open" : 0, "alarm" : 0, "tamper" : 1, "battery_ok" : 0, "heartbeat" : 1, "mic" : "CRC"}`,
			"Honeywell-Security:690172:8", "", []string{"close", "tamper", "low_battery"}, false},
		{`{"time" : "2026-03-01 10:00:03", "model" : "Generic-Remote", "id" : 21845, "cmd" : 3, "tristate" : "ZZZZ0000ZZ10"}`,
			"Generic-Remote:21845", "3", nil, false},
		{`{"model":"DSC-Security","id":"0x1A2B3C","closed":1,"heartbeat":1}`, "DSC-Security:0x1A2B3C", "", []string{"heartbeat"}, false},
		{`not json`, "", "", nil, true},
		{`{"model":"X"}`, "", "", nil, true},
		{`{"model":"X","id":{"a":1}}`, "", "", nil, true},
		{`{"model":"has space","id":1}`, "", "", nil, true},
		{`[1,2]`, "", "", nil, true},
	} {
		s, err := ParseRTL433([]byte(tc.line))
		if (err != nil) != tc.err {
			t.Fatalf("%s: got error %v, want error %v", tc.line, err, tc.err)
		}
		if err != nil {
			continue
		}
		if s.Sender != tc.sender || s.Cmd != tc.cmd || !reflect.DeepEqual(s.States, tc.states) {
			t.Fatalf("%s: got %q %q %v, want %q %q %v", tc.line, s.Sender, s.Cmd, s.States, tc.sender, tc.cmd, tc.states)
		}
	}
}

func TestLines(t *testing.T) {
	l := Lines{Max: 8}
	var got []string
	emit := func(b []byte) { got = append(got, string(b)) }
	for _, c := range []string{"ab", "c\r\nde", "f\n0123456789", "abc\nok\n", "x"} {
		l.Feed([]byte(c), emit)
	}
	want := []string{"abc", "def", "ok"}
	if !reflect.DeepEqual(got, want) || l.Overlong != 1 {
		t.Fatalf("got %q (%d overlong), want %q (1)", got, l.Overlong, want)
	}
}

func FuzzParseRTL433(f *testing.F) {
	f.Add(`{"time" : "2026-03-01 10:00:00", "model" : "Kerui-Security", "id" : 365845, "cmd" : 14, "state" : "open"}`)
	f.Add(`{"model":"Honeywell-Security","id":690172,"channel":8,"state":"closed","tamper":1,"battery_ok":0}`)
	f.Add(`{"model":"A","id":1e400,"cmd":"0xFFFFFFFFFFFF"}`)
	f.Add("{\"model\":\"A\",\"id\":\"1\"}\n{")
	f.Fuzz(func(t *testing.T, line string) {
		l := Lines{Max: 256}
		l.Feed([]byte(line+"\n"), func(b []byte) {
			if len(b) > 256 {
				t.Fatalf("line of %d bytes past the bound", len(b))
			}
			s, err := ParseRTL433(b)
			if err != nil {
				return
			}
			if s.Sender == "" || strings.ContainsAny(s.Sender, "# \t") || len(s.ID) > 512 {
				t.Fatalf("bad signal %+v", s)
			}
			for _, st := range s.States {
				if !stateRe.MatchString(st) {
					t.Fatalf("state %q", st)
				}
			}
		})
	})
}
