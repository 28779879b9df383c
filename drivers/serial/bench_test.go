package serial

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/edgegw/edgegw/edge"
)

// benchStream is ~1 MiB of frames for a framing, with noise between some.
func benchStream(mode string) ([]byte, Framing) {
	var b bytes.Buffer
	var fr Framing
	switch mode {
	case "line":
		fr = Framing{MaxLength: 256}
		for i := 0; b.Len() < 1<<20; i++ {
			fmt.Fprintf(&b, "ALARM,CAM%d,FALL,2026-11-29T10:00:%02d\r\n", i%8, i%60)
		}
	case "delimited":
		fr = Framing{Mode: "delimited", MaxLength: 256}
		for i := 0; b.Len() < 1<<20; i++ {
			fmt.Fprintf(&b, "\x02T=%d.5;H=%d\x03", i%40, i%100)
			if i%16 == 0 {
				b.WriteString("\xff\xfe")
			}
		}
	case "fixed":
		fr = Framing{Mode: "fixed", Length: 12, Sync: Bytes{0xAA}}
		for i := 0; b.Len() < 1<<20; i++ {
			b.Write([]byte{0xAA, byte(i), 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
		}
	}
	fr.defaults()
	return b.Bytes(), fr
}

// BenchmarkDecoder measures the frame decoder (framer) throughput, fed in
// 4 KiB reads as the driver does. Target: >= 50 MB/s on one core.
func BenchmarkDecoder(b *testing.B) {
	for _, mode := range []string{"line", "delimited", "fixed"} {
		b.Run(mode, func(b *testing.B) {
			data, fr := benchStream(mode)
			f := NewFramer(fr)
			n := 0
			emit := func(frame []byte) { n += len(frame) }
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for off := 0; off < len(data); off += 4096 {
					f.Feed(data[off:min(off+4096, len(data))], emit)
				}
			}
			if n == 0 {
				b.Fatal("no frames")
			}
		})
	}
}

// BenchmarkDecoderMapped is the framer plus decoding each frame into events
// (regexp, JSON, binary): the driver's whole per-byte cost.
func BenchmarkDecoderMapped(b *testing.B) {
	cases := []struct {
		name string
		mode string
		o    Options
	}{
		{"regexp", "line", cameraOptions},
		{"binary", "fixed", binOptions()},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			data, fr := benchStream(c.mode)
			c.o.Devices = append(c.o.Devices, DeviceConf{ID: "x0", Match: "CAM0"}, DeviceConf{ID: "x1", Match: "CAM1"},
				DeviceConf{ID: "x2", Match: "CAM2"}, DeviceConf{ID: "x5", Match: "CAM5"}, DeviceConf{ID: "x6", Match: "CAM6"}, DeviceConf{ID: "x7", Match: "CAM7"})
			if c.name == "binary" {
				c.o.Devices = c.o.Devices[:1]
			}
			m := mustMapper(b, c.o)
			f := NewFramer(fr)
			good := 0
			var evs []edge.Event // reused per frame, as the driver does
			emit := func(frame []byte) {
				var err error
				evs, _, err = m.Map(frame, evs[:0])
				if err == nil {
					good += len(evs)
				}
			}
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for off := 0; off < len(data); off += 4096 {
					f.Feed(data[off:min(off+4096, len(data))], emit)
				}
			}
			if good == 0 {
				b.Fatal("nothing decoded")
			}
		})
	}
}
