package voice

import (
	"bytes"
	"testing"
)

// FuzzMP3Parser: any bytes from an MP3 module are cut into checked frames
// or counted as garbage, never a panic, never a frame that fails its sum,
// and the parser never holds more than one frame's worth.
func FuzzMP3Parser(f *testing.F) {
	for _, s := range []string{"AA 01 01 01 AD", "AA 0C 02 00 10 C8", "00 AA AA 01 01 00 AC", "AA FF", "AA 01 01 01 00 AA 01 01 02 AE"} {
		f.Add(hx(s), 3)
	}
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		var p MP3Parser
		if cut < 0 || cut > len(b) {
			cut = len(b) / 2
		}
		frames := append(p.Feed(b[:cut]), p.Feed(b[cut:])...)
		for _, a := range frames {
			raw := mp3Frame(a.Cmd, a.Data...)
			if !bytes.Contains(b, raw) {
				t.Fatalf("frame % X is not in the input % X", raw, b)
			}
		}
		if len(p.buf) > 4+255 {
			t.Fatalf("parser holds %d bytes", len(p.buf))
		}
		if int(p.Frames) != len(frames) {
			t.Fatalf("counted %d frames, returned %d", p.Frames, len(frames))
		}
	})
}

// FuzzTTSStatus: any bytes from a TTS module update the status without a
// panic; every byte is counted once, as a status or as garbage.
func FuzzTTSStatus(f *testing.F) {
	for _, s := range []string{"41 4F", "4A", "41 4E 4E 4F", "45", "00 FF 41"} {
		f.Add(hx(s), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, pending bool) {
		var s ttsStatus
		s.feed(b, pending)
		if n := s.received + s.errors + s.busy + s.idle + s.inits + s.garbage; n != uint64(len(b)) {
			t.Fatalf("counted %d bytes of %d", n, len(b))
		}
		if len(b) > 0 {
			switch b[len(b)-1] {
			case StatusIdle, StatusInit:
				if s.speaking {
					t.Fatal("speaking after an idle byte")
				}
			case StatusBusy:
				if !s.speaking {
					t.Fatal("not speaking after a busy byte")
				}
			}
		}
	})
}

// FuzzSplitText: any text is cut into pieces under the limit that decode
// back to it (less the characters GBK lacks).
func FuzzSplitText(f *testing.F) {
	for _, s := range []string{"请按时分类投放垃圾，谢谢！", "abc", "注意🚨", "\xff\xfe"} {
		f.Add(s, 20)
	}
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < 8 || limit > 4000 || len(s) > 8192 {
			return
		}
		pieces, _, err := SplitText(s, "[v5]", limit)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pieces {
			if len(p) > limit {
				t.Fatalf("piece of %d bytes over %d", len(p), limit)
			}
		}
	})
}
