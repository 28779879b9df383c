package camera

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge"
)

// Options is the "camera" input's part of the config.
type Options struct {
	// Listen is the address the push listener binds, such as ":8090" or
	// "192.168.1.10:8090". Required when a camera posts (pull empty).
	Listen string `yaml:"listen"`
	// Path is the only URL path accepted, such as "/alarm"; others get
	// 404. Default: any path (the camera's "URL" field may hold anything).
	Path string `yaml:"path"`
	// MaxBody bounds one posted body, picture included; a larger one gets
	// 413. Default: 2MiB.
	MaxBody Size `yaml:"max_body"`
	// MaxPart bounds one XML/JSON document, and one part of a pull
	// stream that is not a picture. Default: 64KiB.
	MaxPart Size `yaml:"max_part"`
	// ReadTimeout bounds the time a post may take, headers and body: a
	// stalled or slow sender holds one of the listener's few slots no
	// longer. Default: 10s.
	ReadTimeout edge.Duration `yaml:"read_timeout"`
	// Hold is how long an alarm stays active after the camera's last
	// "active" for it: cameras resend an ongoing alarm every second and
	// most never send its end, so the alarm ends Hold after the last
	// resend. Default: 5s.
	Hold edge.Duration `yaml:"hold"`
	// IdleTimeout: a pull stream that brings nothing (not even a
	// keep-alive) for this long is dropped and reopened. Default: 90s.
	IdleTimeout edge.Duration `yaml:"idle_timeout"`
	// ReconnectMin and ReconnectMax bound the backoff between pull
	// connections. Defaults: 1s and 1m.
	ReconnectMin edge.Duration `yaml:"reconnect_min"`
	ReconnectMax edge.Duration `yaml:"reconnect_max"`
	// LogInterval rate-limits repeated warnings (bad posts, lost streams).
	// Default: 1m.
	LogInterval edge.Duration `yaml:"log_interval"`
	// Pictures, when Dir is set, keeps the JPEGs that come with alarms.
	// Default: pictures are dropped.
	Pictures PictureOptions `yaml:"pictures"`
	// Cameras are the cameras and NVRs. At least one.
	Cameras []CameraConfig `yaml:"cameras"`
}

// PictureOptions bound the picture folder.
type PictureOptions struct {
	// Dir is the folder; created when missing. Default: none (no pictures).
	Dir string `yaml:"dir"`
	// MaxPicture: a larger picture is dropped (the alarm is kept).
	// Default: 1MiB, or max_body when that is smaller.
	MaxPicture Size `yaml:"max_picture"`
	// MaxBytes and MaxFiles bound the folder; the oldest pictures go
	// first. Defaults: 256MiB and 2000.
	MaxBytes Size `yaml:"max_bytes"`
	MaxFiles int  `yaml:"max_files"`
}

// CameraConfig is one camera or NVR.
type CameraConfig struct {
	// ID names the camera in logs and counters. Required, unique.
	ID string `yaml:"id"`
	// Address is the camera's IP address (or host name for pull). Push:
	// posts from this address are this camera's. Pull: the host of the
	// default URL. Required unless pull sets url or push sets a credential.
	Address string `yaml:"address"`
	// Pull is how the gateway subscribes: "isapi" (Hikvision alertStream),
	// "dahua" (eventManager.cgi attach), or empty: the camera posts to
	// the listener (push). Default: push.
	Pull string `yaml:"pull"`
	// URL overrides the pull URL. Default:
	// http://ADDRESS/ISAPI/Event/notification/alertStream (isapi),
	// http://ADDRESS/cgi-bin/eventManager.cgi?action=attach&codes=[All]&heartbeat=20 (dahua).
	URL string `yaml:"url"`
	// User and Password: pull logs in with them (digest, or basic when
	// that is all the camera offers); push requires them of every post
	// (basic or digest) when set. Default: none.
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	// Token: push requires it of every post, as ?token=... in the URL
	// set in the camera, or an "Authorization: Bearer" header. Default: none.
	Token string `yaml:"token"`
	// OfflineAfter: the camera's devices go offline when nothing came
	// from it for this long (set it above the NVR's keep-alive period).
	// Pull cameras also go offline when their stream is lost.
	// Default: 0, never for silence alone.
	OfflineAfter edge.Duration `yaml:"offline_after"`
	// Devices map the camera's channels and event types to devices.
	Devices []DeviceConfig `yaml:"devices"`
}

// DeviceConfig is one device fed by a channel of a camera.
type DeviceConfig struct {
	ID       string   `yaml:"id"`       // required, unique in the config
	Location string   `yaml:"location"` // compound/building/unit/household
	Tags     []string `yaml:"tags"`
	Type     string   `yaml:"type"` // default: camera
	// Channel is the camera's channel, 1-based as on its web page (Dahua's
	// index 0 is channel 1). Default: 1.
	Channel int `yaml:"channel"`
	// Events map the camera's event types to points. At least one.
	Events []EventConfig `yaml:"events"`
}

// EventConfig maps one event type to a point and its state names.
type EventConfig struct {
	// Type is the camera's event type, case-insensitive: ISAPI
	// objectsThrownDetection, linedetection, fielddetection, videoloss...;
	// Dahua CrossLineDetection, CrossRegionDetection, VideoLoss... Required.
	Type string `yaml:"type"`
	// Point is the point name. Default: the type, lowercased.
	Point string `yaml:"point"`
	// On and Off are the event texts of the alarm's start and end.
	// Defaults: "active" and "inactive".
	On  string `yaml:"on"`
	Off string `yaml:"off"`
}

// Size is a byte count written as 2MiB, 512KiB, 64KB or a number.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(t []byte) error {
	str := strings.TrimSpace(string(t))
	num, mult := str, int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(str, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(str, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || !(f >= 0) || f*float64(mult) > 1<<40 {
		return fmt.Errorf("invalid size %q: want a number with an optional unit such as 512KiB, 2MiB", clip(str))
	}
	*s = Size(f * float64(mult))
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (s Size) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(int64(s), 10)), nil }

// Pull modes.
const (
	PullISAPI = "isapi"
	PullDahua = "dahua"
)

// DefaultURL is the stream URL of a pull camera at address.
func DefaultURL(mode, address string) string {
	if mode == PullDahua {
		return "http://" + address + "/cgi-bin/eventManager.cgi?action=attach&codes=[All]&heartbeat=20"
	}
	return "http://" + address + "/ISAPI/Event/notification/alertStream"
}

type errorf func(field, format string, args ...any) error

func plainErrorf(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}

func (o *Options) defaults() {
	def := func(d *edge.Duration, v time.Duration) {
		if *d == 0 {
			*d = edge.Duration(v)
		}
	}
	if o.MaxBody == 0 {
		o.MaxBody = 2 << 20
	}
	if o.MaxPart == 0 {
		o.MaxPart = 64 << 10
	}
	def(&o.Hold, 5*time.Second)
	def(&o.ReadTimeout, 10*time.Second)
	def(&o.IdleTimeout, 90*time.Second)
	def(&o.ReconnectMin, time.Second)
	def(&o.ReconnectMax, time.Minute)
	def(&o.LogInterval, time.Minute)
	if o.Pictures.MaxPicture == 0 {
		o.Pictures.MaxPicture = min(1<<20, o.MaxBody)
	}
	if o.Pictures.MaxBytes == 0 {
		o.Pictures.MaxBytes = 256 << 20
	}
	if o.Pictures.MaxFiles == 0 {
		o.Pictures.MaxFiles = 2000
	}
	for i := range o.Cameras {
		c := &o.Cameras[i]
		if c.Pull != "" && c.URL == "" && c.Address != "" {
			c.URL = DefaultURL(c.Pull, c.Address)
		}
		for j := range c.Devices {
			d := &c.Devices[j]
			if d.Type == "" {
				d.Type = "camera"
			}
			if d.Channel == 0 {
				d.Channel = 1
			}
			for k := range d.Events {
				e := &d.Events[k]
				if e.Point == "" {
					e.Point = strings.ToLower(e.Type)
				}
				if e.On == "" {
					e.On = "active"
				}
				if e.Off == "" {
					e.Off = "inactive"
				}
			}
		}
	}
}

func (o *Options) validate(ef errorf) error {
	if len(o.Cameras) == 0 {
		return ef("cameras", "at least one camera is required")
	}
	for _, d := range []struct {
		field string
		v     edge.Duration
		min   time.Duration
	}{{"hold", o.Hold, 100 * time.Millisecond}, {"idle_timeout", o.IdleTimeout, time.Second},
		{"reconnect_min", o.ReconnectMin, 10 * time.Millisecond}, {"reconnect_max", o.ReconnectMax, 10 * time.Millisecond},
		{"log_interval", o.LogInterval, 0},
		{"read_timeout", o.ReadTimeout, 100 * time.Millisecond}} {
		if d.v.D() < d.min {
			return ef(d.field, "%v is below the minimum %v", d.v, d.min)
		}
	}
	if o.ReconnectMax < o.ReconnectMin {
		return ef("reconnect_max", "%v is below reconnect_min %v", o.ReconnectMax, o.ReconnectMin)
	}
	if o.MaxBody < 1024 || o.MaxBody > 64<<20 {
		return ef("max_body", "%d bytes out of range 1KiB..64MiB", o.MaxBody)
	}
	if o.MaxPart < 256 || o.MaxPart > o.MaxBody {
		return ef("max_part", "%d bytes out of range 256 bytes..max_body", o.MaxPart)
	}
	if o.Path != "" && !strings.HasPrefix(o.Path, "/") {
		return ef("path", "%q must start with /", o.Path)
	}
	p := o.Pictures
	if p.MaxPicture < 1024 || p.MaxPicture > o.MaxBody {
		return ef("pictures.max_picture", "%d bytes out of range 1KiB..max_body", p.MaxPicture)
	}
	if p.MaxBytes < p.MaxPicture {
		return ef("pictures.max_bytes", "%d bytes is below max_picture", p.MaxBytes)
	}
	if p.MaxFiles < 1 || p.MaxFiles > 1000000 {
		return ef("pictures.max_files", "%d out of range 1..1000000", p.MaxFiles)
	}
	push := false
	ids := map[string]string{}
	for i, c := range o.Cameras {
		f := func(s string) string { return fmt.Sprintf("cameras[%d].%s", i, s) }
		if strings.TrimSpace(c.ID) == "" {
			return ef(f("id"), "required")
		}
		if prev, dup := ids["camera "+c.ID]; dup {
			return ef(f("id"), "camera %q is already %s", c.ID, prev)
		}
		ids["camera "+c.ID] = f("id")
		if c.OfflineAfter < 0 {
			return ef(f("offline_after"), "must not be negative")
		}
		switch c.Pull {
		case "":
			push = true
			if c.Address == "" && c.Token == "" && c.User == "" {
				return ef(f("address"), "a camera that posts needs its address, a token or a user to be told apart")
			}
			if c.Address != "" && net.ParseIP(c.Address) == nil {
				return ef(f("address"), "%q: a camera that posts is matched by its IP address", c.Address)
			}
			if c.URL != "" {
				return ef(f("url"), "only for pull cameras")
			}
		case PullISAPI, PullDahua:
			if c.URL == "" {
				return ef(f("address"), "a pull camera needs address or url")
			}
			u, err := url.Parse(c.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return ef(f("url"), "%q: want http://host/path", c.URL)
			}
			if c.Token != "" {
				return ef(f("token"), "only for cameras that post")
			}
		default:
			return ef(f("pull"), "%q: want isapi, dahua, or empty for a camera that posts", c.Pull)
		}
		if (c.User == "") != (c.Password == "") {
			return ef(f("password"), "user and password go together")
		}
		if len(c.Devices) == 0 {
			return ef(f("devices"), "at least one device is required")
		}
		for j, d := range c.Devices {
			g := func(s string) string { return f(fmt.Sprintf("devices[%d].%s", j, s)) }
			if strings.TrimSpace(d.ID) == "" {
				return ef(g("id"), "required")
			}
			if prev, dup := ids[d.ID]; dup {
				return ef(g("id"), "device %q is already %s", d.ID, prev)
			}
			ids[d.ID] = g("id")
			if d.Channel < 1 || d.Channel > 4096 {
				return ef(g("channel"), "%d out of range 1..4096", d.Channel)
			}
			if len(d.Events) == 0 {
				return ef(g("events"), "at least one event type is required")
			}
			for k, e := range d.Events {
				if strings.TrimSpace(e.Type) == "" {
					return ef(g(fmt.Sprintf("events[%d].type", k)), "required: the camera's event type, such as linedetection")
				}
			}
		}
	}
	// Two devices of one camera may not claim one channel's event type.
	for i, c := range o.Cameras {
		seen := map[string]bool{}
		for j, d := range c.Devices {
			for k, e := range d.Events {
				key := fmt.Sprintf("%d/%s", d.Channel, strings.ToLower(e.Type))
				if seen[key] {
					return ef(fmt.Sprintf("cameras[%d].devices[%d].events[%d].type", i, j, k),
						"channel %d's %s is already mapped", d.Channel, e.Type)
				}
				seen[key] = true
			}
		}
	}
	if push && o.Listen == "" {
		return ef("listen", "required when a camera posts (a camera without pull): the address to bind, such as :8090")
	}
	if o.Listen != "" {
		if _, _, err := net.SplitHostPort(o.Listen); err != nil {
			return ef("listen", "%q: want host:port or :port", o.Listen)
		}
	}
	return nil
}
