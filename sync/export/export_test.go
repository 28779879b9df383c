package export

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/receiver"
)

func TestBackoff(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for i, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		got := b.Next()
		if got < want/2 || got > want {
			t.Errorf("attempt %d: got %v, want in [%v, %v]", i+1, got, want/2, want)
		}
	}
	b.Reset()
	if got := b.Next(); got > 100*time.Millisecond {
		t.Errorf("after Reset: got %v, want <= 100ms", got)
	}
}

func TestKey(t *testing.T) {
	for _, tc := range []struct {
		gw          string
		epoch, f, l uint64
		want        string
	}{
		{"gw1", 1<<64 - 1, 5, 5, "gw1/18446744073709551615/5"},
		{"gw.a_b", 7, 1, 500, "gw.a_b/7/1..500"},
	} {
		if got := KeyRange(tc.gw, tc.epoch, tc.f, tc.l); got != tc.want {
			t.Errorf("got %s, want %s", got, tc.want)
		}
	}
}

func TestFileWriter(t *testing.T) {
	ev, _ := json.Marshal(map[string]any{"epoch": "9", "seq": 3, "ts": "2026-05-01T08:00:00Z", "trusted": true,
		"kind": "reading", "prio": 0, "dev": "m1", "pt": "kwh", "v": 12.5, "text": "a,\"b\""})
	located, _ := json.Marshal(map[string]any{"epoch": "9", "seq": 4, "ts": "2026-05-01T08:00:00Z", "trusted": true,
		"kind": "state", "prio": 2, "dev": "door-301", "pt": "contact", "v": 1, "text": "open", "loc": "cp07/3/2/301"})
	recv := time.Date(2026, 5, 1, 8, 0, 1, 0, time.UTC)
	old := receiver.StoredEvent{Cursor: 65537, Gateway: "gw1", Path: "putuo/a/b/c", Received: recv, Event: ev}
	loc := receiver.StoredEvent{Cursor: 65538, Gateway: "gw1", Received: recv, Event: located}
	loc.Locate("putuo/a/b/c", "cp07/3/2/301")
	for _, tc := range []struct {
		format string
		se     *receiver.StoredEvent
		want   string
	}{
		{FormatCSV, &old, strings.Join(CSVHeader, ",") + "\n" +
			`gw1/9/3,gw1,putuo/a/b/c,9,3,2026-05-01T08:00:01Z,2026-05-01T08:00:00Z,true,reading,0,m1,kwh,12.5,,,"a,""b""",,,,,,65537,,,,` + "\n"},
		{FormatCSV, &loc, strings.Join(CSVHeader, ",") + "\n" +
			`gw1/9/4,gw1,putuo/a/b/c/3/2/301,9,4,2026-05-01T08:00:01Z,2026-05-01T08:00:00Z,true,state,2,door-301,contact,1,,,open,,,,,,65538,cp07/3/2/301,3,2,301` + "\n"},
		{FormatJSONL, &old, `{"cursor":65537,"gateway":"gw1","path":"putuo/a/b/c","received":"2026-05-01T08:00:01Z","event":` + string(ev) + "}\n"},
		{FormatJSONL, &loc, `{"cursor":65538,"gateway":"gw1","path":"putuo/a/b/c/3/2/301","building":"3","unit":"2","household":"301",` +
			`"received":"2026-05-01T08:00:01Z","event":` + string(located) + "}\n"},
	} {
		var buf bytes.Buffer
		w, err := NewFileWriter(&buf, tc.format)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(tc.se); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if buf.String() != tc.want {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.format, buf.String(), tc.want)
		}
	}
	if _, err := NewFileWriter(&bytes.Buffer{}, "xml"); err == nil {
		t.Error("xml: got no error")
	}
}
