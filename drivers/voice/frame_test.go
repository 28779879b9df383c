package voice

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func hx(s string) []byte {
	var out []byte
	for _, f := range strings.Fields(s) {
		var b byte
		for _, c := range f {
			b <<= 4
			switch {
			case c >= '0' && c <= '9':
				b |= byte(c - '0')
			case c >= 'A' && c <= 'F':
				b |= byte(c - 'A' + 10)
			}
		}
		out = append(out, b)
	}
	return out
}

// TestMP3FramesGolden: the datasheets' own examples, byte for byte.
func TestMP3FramesGolden(t *testing.T) {
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"play track 1", must(PlayTrackFrame(1)), "AA 07 02 00 01 B4"},
		{"play track 8 (DY datasheet example)", must(PlayTrackFrame(8)), "AA 07 02 00 08 BB"},
		{"play track 300", must(PlayTrackFrame(300)), "AA 07 02 01 2C E0"},
		{"volume 20", must(VolumeFrame(20)), "AA 13 01 14 D2"},
		{"volume 0", must(VolumeFrame(0)), "AA 13 01 00 BE"},
		{"volume 30", must(VolumeFrame(30)), "AA 13 01 1E DC"},
		{"combination 01 02", must(CombinationFrame([]int{1, 2})), "AA 1B 04 30 31 30 32 8C"},
		{"combination 1,5,9", must(CombinationFrame([]int{1, 5, 9})), "AA 1B 06 30 31 30 35 30 39 FA"},
		{"query state", QueryFrame(), "AA 01 00 AB"},
		{"dy stop", StopFrame(DY), "AA 04 00 AE"},
		{"jq8400 end playback", StopFrame(JQ8400), "AA 10 00 BA"},
	} {
		if want := hx(tc.want); !bytes.Equal(tc.got, want) {
			t.Errorf("%s: got % X, want % X", tc.name, tc.got, want)
		}
	}
	for _, bad := range []func() ([]byte, error){
		func() ([]byte, error) { return PlayTrackFrame(0) },
		func() ([]byte, error) { return PlayTrackFrame(65536) },
		func() ([]byte, error) { return VolumeFrame(31) },
		func() ([]byte, error) { return VolumeFrame(-1) },
		func() ([]byte, error) { return CombinationFrame(nil) },
		func() ([]byte, error) { return CombinationFrame([]int{100}) },
		func() ([]byte, error) { return CombinationFrame(make([]int, MaxTracks+1)) },
	} {
		if f, err := bad(); err == nil {
			t.Errorf("got % X, want an error", f)
		}
	}
}

// TestTTSFramesGolden: the SYN6288 datasheet's example ("宇音天下" in
// GB2312) byte for byte, the same text as we send it (GBK parameter), and
// the XFS5152CE's ("科大讯飞").
func TestTTSFramesGolden(t *testing.T) {
	gbk := func(s string) []byte {
		b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if got, want := gbk("宇音天下"), hx("D3 EE D2 F4 CC EC CF C2"); !bytes.Equal(got, want) {
		t.Fatalf("GBK of 宇音天下: got % X, want % X", got, want)
	}
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"syn6288 datasheet, GB2312", ttsFrame(SYN6288, 0x01, []byte{0x00}, gbk("宇音天下")), "FD 00 0B 01 00 D3 EE D2 F4 CC EC CF C2 C1"},
		{"syn6288 GBK", SynthFrame(SYN6288, gbk("宇音天下")), "FD 00 0B 01 01 D3 EE D2 F4 CC EC CF C2 C0"},
		{"xfs5152 datasheet, GB2312", ttsFrame(XFS5152, 0x01, []byte{0x00}, gbk("科大讯飞")), "FD 00 0A 01 00 BF C6 B4 F3 D1 B6 B7 C9"},
		{"xfs5152 GBK", SynthFrame(XFS5152, gbk("科大讯飞")), "FD 00 0A 01 01 BF C6 B4 F3 D1 B6 B7 C9"},
		{"syn6288 query", TTSQueryFrame(SYN6288), "FD 00 02 21 DE"},
		{"syn6288 stop", TTSStopFrame(SYN6288), "FD 00 02 02 FD"},
		{"xfs5152 query", TTSQueryFrame(XFS5152), "FD 00 01 21"},
		{"xfs5152 stop", TTSStopFrame(XFS5152), "FD 00 01 02"},
	} {
		if want := hx(tc.want); !bytes.Equal(tc.got, want) {
			t.Errorf("%s: got % X, want % X", tc.name, tc.got, want)
		}
	}
	// The 7-bit HZ form is not what the modules read.
	hz, _ := simplifiedchinese.HZGB2312.NewEncoder().Bytes([]byte("宇音天下"))
	if bytes.Equal(hz, gbk("宇音天下")) {
		t.Error("HZ-GB2312 and GBK gave the same bytes")
	}
}

func TestSplitText(t *testing.T) {
	dec := func(b []byte) string {
		s, err := simplifiedchinese.GBK.NewDecoder().Bytes(b)
		if err != nil {
			t.Fatal(err)
		}
		return string(s)
	}
	long := strings.Repeat("请按时分类投放垃圾，", 30) // 300 characters, 600 GBK bytes
	for _, tc := range []struct {
		text, prefix string
		limit        int
		wantPieces   int
	}{
		{"你好", "[v8]", 200, 1},
		{"", "[v8]", 200, 0},
		{long, "[v10]", 200, 4},
		{long, "", 4000, 1},
		{strings.Repeat("垃", 150), "", 200, 2}, // no punctuation: cut between characters
		{"abc,def,ghi,jkl", "", 16, 1},
	} {
		pieces, _, err := SplitText(tc.text, tc.prefix, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(pieces) != tc.wantPieces {
			t.Errorf("%d bytes at limit %d: got %d pieces, want %d", len(tc.text), tc.limit, len(pieces), tc.wantPieces)
		}
		var joined strings.Builder
		for i, p := range pieces {
			if len(p) > tc.limit {
				t.Errorf("piece %d: %d bytes, over the limit %d", i, len(p), tc.limit)
			}
			if !bytes.HasPrefix(p, []byte(tc.prefix)) {
				t.Errorf("piece %d lacks the prefix %q", i, tc.prefix)
			}
			joined.WriteString(dec(p[len(tc.prefix):])) // decodes: cut between characters
		}
		if joined.String() != tc.text {
			t.Errorf("pieces join to %q, want %q", joined.String(), tc.text)
		}
		// Cut after punctuation when the text has it.
		if tc.text == long {
			for i, p := range pieces[:len(pieces)-1] {
				if !strings.HasSuffix(dec(p), "，") {
					t.Errorf("piece %d ends %q, want a cut after ，", i, dec(p)[len(dec(p))-6:])
				}
			}
		}
	}
	if _, n, _ := SplitText("注意🚨安全", "", 200); n != 1 {
		t.Errorf("emoji: got %d replaced, want 1", n)
	}
	if _, _, err := SplitText("x", "[v10]", 6); err == nil {
		t.Error("a limit with no room after the prefix: got no error")
	}
}

func TestMP3Parser(t *testing.T) {
	var p MP3Parser
	// Garbage, a bad-sum frame, a good answer split across feeds.
	got := p.Feed(hx("00 FF AA 01 01 01 00"))
	got = append(got, p.Feed(hx("AA 01"))...)
	got = append(got, p.Feed(hx("01 01 AD"))...)
	if len(got) != 1 || got[0].Cmd != 0x01 || !bytes.Equal(got[0].Data, []byte{1}) {
		t.Fatalf("got %+v, want one play-state answer", got)
	}
	if PlayState(got[0].Data[0]) != "playing" {
		t.Errorf("got %q", PlayState(got[0].Data[0]))
	}
	if p.Garbage == 0 {
		t.Error("garbage not counted")
	}
}

func TestParseWindow(t *testing.T) {
	for _, tc := range []struct {
		s      string
		in     []string
		out    []string
		wantOK bool
	}{
		{"22:00-07:00", []string{"22:00", "23:59", "00:00", "06:59"}, []string{"07:00", "12:00", "21:59"}, true},
		{"12:00-14:00", []string{"12:00", "13:59"}, []string{"11:59", "14:00"}, true},
		{"22:00-24:00", []string{"23:30"}, []string{"00:10"}, true},
		{"22:00", nil, nil, false},
		{"25:00-07:00", nil, nil, false},
		{"07:00-07:00", nil, nil, false},
	} {
		w, err := parseWindow(tc.s)
		if (err == nil) != tc.wantOK {
			t.Errorf("%q: got %v", tc.s, err)
			continue
		}
		for _, m := range tc.in {
			if v, _ := parseHM(m); !w.contains(v) {
				t.Errorf("%q: %s got outside, want inside", tc.s, m)
			}
		}
		for _, m := range tc.out {
			if v, _ := parseHM(m); w.contains(v) {
				t.Errorf("%q: %s got inside, want outside", tc.s, m)
			}
		}
	}
}
