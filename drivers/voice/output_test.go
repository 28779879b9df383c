package voice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/drivers/voice/voicetest"
	"github.com/edgegw/edgegw/edge"
	"github.com/edgegw/edgegw/edge/actions"
	"github.com/edgegw/edgegw/internal/drivertest"
)

func send(vars map[string]string) edge.Op { return edge.Op{Kind: edge.OpSend, Vars: vars} }

// TestMP3Plays: each op writes exactly the volume frame and the play
// frame, and returns without waiting for an answer the module never sends.
func TestMP3Plays(t *testing.T) {
	for _, proto := range []string{"dy", "jq8400"} {
		t.Run(proto, func(t *testing.T) {
			peer, path := newPeer(t, proto, nil)
			o := newOutput(t, nil, fmt.Sprintf("{port: %q, protocol: %s, volume: 25, command_gap: 0s}", path, proto))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			steps := []struct {
				op   edge.Op
				want string
			}{
				{send(map[string]string{"track": "1"}), "AA 13 01 19 D7 AA 07 02 00 01 B4"},
				{send(map[string]string{"tracks": "1, 5,9", "track": "7"}), "AA 13 01 19 D7 AA 1B 06 30 31 30 35 30 39 FA"},
				{edge.Op{Kind: edge.OpSet, On: false}, map[string]string{"dy": "AA 04 00 AE", "jq8400": "AA 10 00 BA"}[proto]},
			}
			var want []byte
			for _, s := range steps {
				if err := o.Apply(ctx, s.op); err != nil {
					t.Fatalf("%+v: %v", s.op, err)
				}
				want = append(want, hx(s.want)...)
				waitPeer(t, peer, 5*time.Second, "the frames", func() bool { return len(peer.Raw()) >= len(want) })
			}
			if got := peer.Raw(); !bytes.Equal(got, want) {
				t.Errorf("module got % X\nwant % X", got, want)
			}
			if bad, _, _ := peer.Counts(); bad != 0 {
				t.Errorf("module saw %d bad frames", bad)
			}
			if s := o.Stats()[0]; s.Frames != 3 || s.Errors != 0 {
				t.Errorf("stats %+v", s)
			}
			// Test plays track 1 at the configured volume.
			if err := o.Test(ctx); err != nil {
				t.Fatal(err)
			}
			want = append(want, hx("AA 13 01 19 D7 AA 07 02 00 01 B4")...)
			waitPeer(t, peer, 5*time.Second, "the test frames", func() bool { return len(peer.Raw()) >= len(want) })
			if got := peer.Raw(); !bytes.Equal(got, want) {
				t.Errorf("after Test the module got % X\nwant % X", got, want)
			}
		})
	}
}

func TestMP3OpErrors(t *testing.T) {
	o := newOutput(t, nil, `{port: /dev/null-voice, protocol: dy}`)
	ctx := context.Background()
	for _, tc := range []struct {
		op   edge.Op
		want string
	}{
		{send(nil), "names no track"},
		{send(map[string]string{"track": "x"}), "not a number"},
		{send(map[string]string{"track": "0"}), "out of range"},
		{send(map[string]string{"tracks": "1,100"}), "out of range 1..99"},
		{edge.Op{Kind: edge.OpSet, On: true}, "not supported"},
		{edge.Op{Kind: edge.OpPulse}, "not supported"},
	} {
		err := o.Apply(ctx, tc.op)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `output "voice"`) {
			t.Errorf("%+v: got %v, want an error naming the output and saying %q", tc.op, err, tc.want)
		}
	}
}

// TestTTSSays: the text goes out as GBK in the module's frame, after a
// status query (the state of a module just opened is unknown), and Apply
// returns on the module's 0x41.
func TestTTSSays(t *testing.T) {
	for _, proto := range []string{"syn6288", "xfs5152"} {
		t.Run(proto, func(t *testing.T) {
			peer, path := newPeer(t, proto, func(p *voicetest.Peer) { p.AutoIdle = true })
			o := newOutput(t, nil, fmt.Sprintf(`{port: %q, protocol: %s, volume: 5, say: "{{.location}}，{{.message}}"}`, path, proto))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			op := send(map[string]string{"location": "3号楼", "message": "请按时分类投放垃圾"})
			if err := o.Apply(ctx, op); err != nil {
				t.Fatal(err)
			}
			waitPeer(t, peer, 5*time.Second, "the text", func() bool { return len(peer.Texts()) == 1 })
			if got, want := peer.Texts()[0], "[v5]3号楼，请按时分类投放垃圾"; got != want {
				t.Errorf("module said %q, want %q", got, want)
			}
			fs := peer.Frames()
			if fs[0].Cmd != 0x21 || fs[1].Cmd != 0x01 {
				t.Errorf("frames %v: want a status query, then the text", peer)
			}
			// The GBK bytes themselves: 3号楼 = 33 BA C5 C2 A5.
			if !bytes.Contains(fs[1].Raw, hx("5B 76 35 5D 33 BA C5 C2 A5 A3 AC")) {
				t.Errorf("frame % X lacks the GBK of [v5]3号楼，", fs[1].Raw)
			}
			// Test says the test sentence.
			if err := o.Test(ctx); err != nil {
				t.Fatal(err)
			}
			waitPeer(t, peer, 5*time.Second, "the test text", func() bool { return len(peer.Texts()) == 2 })
			if got := peer.Texts()[1]; got != "[v5]"+DefaultTestText {
				t.Errorf("test said %q", got)
			}
			// Stop: the module's stop frame, answered 0x41.
			if err := o.Apply(ctx, edge.Op{Kind: edge.OpSet}); err != nil {
				t.Fatal(err)
			}
			if got := peer.Frames(); !bytes.Equal(got[len(got)-1].Raw, TTSStopFrame(Protocol(proto))) {
				t.Errorf("last frame % X, want the stop frame", got[len(got)-1].Raw)
			}
		})
	}
}

// TestTTSWaitsForIdle: a second message is not sent while the module
// still says the first; it goes out once the module says it is idle.
func TestTTSWaitsForIdle(t *testing.T) {
	peer, path := newPeer(t, "syn6288", nil) // speaks until Finish
	o := newOutput(t, nil, fmt.Sprintf(`{port: %q, protocol: syn6288, poll_interval: 50ms}`, path))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Apply(ctx, edge.Op{Kind: edge.OpSend, Text: "第一条"}); err != nil {
		t.Fatal(err)
	}
	if !peer.Speaking() {
		t.Fatal("the module is not speaking the first message")
	}
	second := make(chan error, 1)
	go func() { second <- o.Apply(ctx, edge.Op{Kind: edge.OpSend, Text: "第二条"}) }()
	// The output asks, the module answers busy (twice: it keeps asking).
	waitPeer(t, peer, 5*time.Second, "two busy answers", func() bool { _, _, busy := peer.Counts(); return busy >= 2 })
	if got := peer.Texts(); len(got) != 1 {
		t.Fatalf("module got %q while busy, want only the first message", got)
	}
	select {
	case err := <-second:
		t.Fatalf("the second Apply returned %v while the module was busy", err)
	default:
	}
	if err := peer.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if got := peer.Texts(); len(got) != 2 || got[1] != "[v10]第二条" {
		t.Errorf("module said %q", got)
	}
}

// TestTTSLongText: a text over the SYN6288's 200 bytes goes in parts,
// each after the module went idle.
func TestTTSLongText(t *testing.T) {
	peer, path := newPeer(t, "syn6288", func(p *voicetest.Peer) { p.AutoIdle = true })
	o := newOutput(t, nil, fmt.Sprintf(`{port: %q, protocol: syn6288, volume: 8}`, path))
	text := strings.Repeat("垃圾分类从我做起，", 25) // 225 characters
	if err := o.Apply(context.Background(), edge.Op{Kind: edge.OpSend, Text: text}); err != nil {
		t.Fatal(err)
	}
	got := peer.Texts()
	if len(got) < 3 {
		t.Fatalf("got %d parts, want at least 3 (450 bytes at 200 a frame)", len(got))
	}
	var joined string
	for i, s := range got {
		if !strings.HasPrefix(s, "[v8]") {
			t.Errorf("part %d lacks the volume mark: %q", i, s)
		}
		joined += strings.TrimPrefix(s, "[v8]")
	}
	if joined != text {
		t.Errorf("parts join to %q", joined)
	}
	for i, f := range peer.Frames() {
		if f.Cmd == 0x01 && len(f.Raw) > 200+6 {
			t.Errorf("frame %d: %d bytes, over the SYN6288's limit", i, len(f.Raw))
		}
	}
}

func TestTTSFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("silent", func(t *testing.T) {
		_, path := newPeer(t, "xfs5152", func(p *voicetest.Peer) { p.Silent = true })
		o := newOutput(t, nil, fmt.Sprintf(`{port: %q, protocol: xfs5152, answer_timeout: 200ms}`, path))
		err := o.Apply(ctx, edge.Op{Kind: edge.OpSend, Text: "你好"})
		if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "TX") {
			t.Fatalf("got %v, want ErrNoAnswer with wiring advice", err)
		}
		if s := o.Stats()[0]; s.ErrorsByCause["no_answer"] != 1 {
			t.Errorf("stats %+v", s)
		}
	})
	t.Run("refused", func(t *testing.T) {
		_, path := newPeer(t, "syn6288", func(p *voicetest.Peer) { p.Refuse = true })
		o := newOutput(t, nil, fmt.Sprintf(`{port: %q, protocol: syn6288}`, path))
		if err := o.Apply(ctx, edge.Op{Kind: edge.OpSend, Text: "你好"}); !errors.Is(err, ErrRefused) {
			t.Fatalf("got %v, want ErrRefused", err)
		}
	})
	t.Run("busy too long", func(t *testing.T) {
		peer, path := newPeer(t, "syn6288", nil)
		o := newOutput(t, nil, fmt.Sprintf(`{port: %q, protocol: syn6288, busy_timeout: 300ms, poll_interval: 50ms}`, path))
		if err := o.Apply(ctx, edge.Op{Kind: edge.OpSend, Text: "一"}); err != nil {
			t.Fatal(err)
		}
		if err := o.Apply(ctx, edge.Op{Kind: edge.OpSend, Text: "二"}); !errors.Is(err, ErrBusy) {
			t.Fatalf("got %v, want ErrBusy", err)
		}
		if got := peer.Texts(); len(got) != 1 {
			t.Errorf("module got %q, want the first text only", got)
		}
	})
	t.Run("noise counted", func(t *testing.T) {
		peer, path := newPeer(t, "syn6288", func(p *voicetest.Peer) { p.AutoIdle = true })
		o := newOutput(t, nil, fmt.Sprintf(`{port: %q, protocol: syn6288}`, path))
		if err := o.Test(ctx); err != nil { // opens the port
			t.Fatal(err)
		}
		peer.Send([]byte{0x00, 0xFF, 0x12})
		if err := o.Apply(ctx, edge.Op{Kind: edge.OpSend, Text: "你好"}); err != nil {
			t.Fatal(err)
		}
		if s := o.Stats()[0]; s.Garbage != 3 || s.Errors != 0 {
			t.Errorf("stats %+v, want 3 garbage bytes and no error", s)
		}
	})
	t.Run("tracks on a tts module", func(t *testing.T) {
		o := newOutput(t, nil, `{port: /dev/null-voice, protocol: syn6288}`)
		if err := o.Apply(ctx, send(map[string]string{"track": "1"})); err == nil || !strings.Contains(err.Error(), "no tracks") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestTemplate: the say template sees the op's vars, the time in the
// output's zone, and declared extra names; an op without a declared name
// gets an error naming the output.
func TestTemplate(t *testing.T) {
	peer, path := newPeer(t, "syn6288", func(p *voicetest.Peer) { p.AutoIdle = true })
	clock := fixedClock{time.Date(2026, 11, 29, 20, 5, 0, 0, time.UTC)}
	o := newOutput(t, clock, fmt.Sprintf(`{port: %q, protocol: syn6288, timezone: Asia/Shanghai, vars: [station],
  say: "{{.time}} {{.station}}号站 {{.device}}"}`, path))
	ctx := context.Background()
	if err := o.Apply(ctx, send(map[string]string{"station": "3", "device": "garbage-b3"})); err != nil {
		t.Fatal(err)
	}
	if got := peer.Texts(); len(got) != 1 || got[0] != "[v10]04:05 3号站 garbage-b3" {
		t.Errorf("module said %q", got)
	}
	err := o.Apply(ctx, send(map[string]string{"device": "garbage-b3"}))
	if err == nil || !strings.Contains(err.Error(), `output "voice"`) || !strings.Contains(err.Error(), `"station"`) {
		t.Errorf("op without station: got %v", err)
	}
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time                         { return c.t }
func (c fixedClock) After(d time.Duration) <-chan time.Time { return edge.SystemClock{}.After(d) }

func TestOptionsErrors(t *testing.T) {
	f, _ := edge.LookupOutput(Name)
	for _, tc := range []struct {
		yaml, field, want string
	}{
		{`{protocol: dy}`, "port", "required"},
		{`{port: /dev/x}`, "protocol", "required"},
		{`{port: /dev/x, protocol: mp3}`, "protocol", "unknown protocol"},
		{`{port: /dev/x, protocol: dy, volume: 31}`, "volume", "0..30"},
		{`{port: /dev/x, protocol: syn6288, volume: 17}`, "volume", "0..16"},
		{`{port: /dev/x, protocol: xfs5152, volume: 11}`, "volume", "0..10"},
		{`{port: /dev/x, protocol: dy, say: "hi"}`, "say", "cannot say text"},
		{`{port: /dev/x, protocol: syn6288, say: "{{.locaton}}"}`, "say", `unknown name "locaton"`},
		{`{port: /dev/x, protocol: syn6288, say: "{{.x"}`, "say", "bad template"},
		{`{port: /dev/x, protocol: syn6288, text_limit: 300}`, "text_limit", "16..200"},
		{`{port: /dev/x, protocol: dy, quiet_hours: {windows: ["22:00"]}}`, "quiet_hours.windows[0]", "HH:MM-HH:MM"},
		{`{port: /dev/x, protocol: dy, quiet_hours: {windows: []}}`, "quiet_hours.windows", "required"},
		{`{port: /dev/x, protocol: dy, quiet_hours: {windows: ["22:00-07:00"], volume: 5, mute: true}}`, "quiet_hours.volume", "not both"},
		{`{port: /dev/x, protocol: dy, rate_limit: {n: 3}}`, "rate_limit.per", "required"},
		{`{port: /dev/x, protocol: dy, timezone: Mars/Base}`, "timezone", "unknown zone"},
		{`{port: /dev/x, protocol: dy, vars: ["a b"]}`, "vars[0]", "not a name"},
		{`{port: /dev/x, protocol: dy, test_track: 0, command_gap: 2s}`, "command_gap", "0..1s"},
	} {
		_, err := f(edge.Env{Name: "voice"}, drivertest.Options(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), "options."+tc.field+":") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want options.%s: ...%s", tc.yaml, err, tc.field, tc.want)
		}
	}
	if _, err := f(edge.Env{Name: "voice"}, drivertest.Options(`{port: /dev/x, protocol: dy, volume: 20, bogus: 1}`)); err == nil {
		t.Error("unknown key accepted")
	}
}

// The output is an actions.Tester, so `edgegw output test` and the status
// page's button play the test track rather than a bare OpSend.
var _ actions.Tester = (*Output)(nil)
