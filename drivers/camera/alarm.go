package camera

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"strconv"
	"strings"
	"time"
)

// Alarm is one notification of a camera or NVR, whatever its wire form.
type Alarm struct {
	// Source is the camera's address as the notification states it (the
	// ISAPI ipAddress); empty for Dahua, whose lines carry none.
	Source string
	// Channel is 1-based, as the camera's web page numbers channels
	// (Dahua's 0-based index 0 is channel 1).
	Channel int
	// Type is the event type as the camera names it: linedetection,
	// fielddetection, objectsThrownDetection, videoloss, CrossLineDetection...
	Type string
	// Active is true for an alarm that is on (ISAPI eventState active,
	// Dahua action Start or Pulse), false for its end.
	Active bool
	// Time is the camera's own time of the alarm; zero when it sent none.
	Time        time.Time
	Description string
	// Picture is the first image/jpeg part that came with the alarm.
	Picture []byte
}

// KeepAlive reports whether a is one of the keep-alives NVRs and cameras
// send on an idle stream (heartBeat, videoloss inactive, Dahua Heartbeat):
// proof of life, not an alarm.
func (a Alarm) KeepAlive() bool {
	t := strings.ToLower(a.Type)
	return t == "heartbeat" || (t == "videoloss" && !a.Active)
}

// ErrMalformed is wrapped by every parse failure of a camera's bytes.
var ErrMalformed = errors.New("malformed alarm")

// isapiAlert is EventNotificationAlert with local names only, so that any
// namespace (none, ver10, ver20, isapi.org) decodes the same.
type isapiAlert struct {
	XMLName          xml.Name
	IPAddress        string `xml:"ipAddress"`
	IPv6Address      string `xml:"ipv6Address"`
	ChannelID        string `xml:"channelID"`
	DynChannelID     string `xml:"dynChannelID"`
	DateTime         string `xml:"dateTime"`
	EventType        string `xml:"eventType"`
	EventState       string `xml:"eventState"`
	EventDescription string `xml:"eventDescription"`
}

// ParseISAPIXML parses one EventNotificationAlert document, regardless of
// its namespace and version.
func ParseISAPIXML(b []byte) (Alarm, error) {
	d := xml.NewDecoder(bytes.NewReader(trimBOM(b)))
	// Firmware declares UTF-8, GB2312 or nothing; the fields read here are
	// ASCII in all of them.
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	var x isapiAlert
	if err := d.Decode(&x); err != nil {
		return Alarm{}, fmt.Errorf("%w: xml: %v", ErrMalformed, err)
	}
	if x.XMLName.Local != "EventNotificationAlert" {
		return Alarm{}, fmt.Errorf("%w: xml root <%s>, want <EventNotificationAlert>", ErrMalformed, x.XMLName.Local)
	}
	return isapiFields(x.IPAddress, x.IPv6Address, x.ChannelID, x.DynChannelID, x.DateTime,
		x.EventType, x.EventState, x.EventDescription)
}

func isapiFields(ip, ip6, ch, dynCh, at, typ, state, desc string) (Alarm, error) {
	a := Alarm{Source: strings.TrimSpace(ip), Type: strings.TrimSpace(typ), Description: strings.TrimSpace(desc)}
	if a.Source == "" {
		a.Source = strings.TrimSpace(ip6)
	}
	if a.Type == "" {
		return Alarm{}, fmt.Errorf("%w: no eventType", ErrMalformed)
	}
	if len(a.Type) > 64 {
		return Alarm{}, fmt.Errorf("%w: eventType longer than 64 bytes", ErrMalformed)
	}
	switch strings.ToLower(strings.TrimSpace(state)) {
	case "active":
		a.Active = true
	case "inactive":
	default:
		return Alarm{}, fmt.Errorf("%w: eventState %q, want active or inactive", ErrMalformed, clip(state))
	}
	a.Channel = 1
	for _, s := range []string{ch, dynCh} {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 4096 {
			return Alarm{}, fmt.Errorf("%w: channelID %q", ErrMalformed, clip(s))
		}
		a.Channel = max(n, 1)
		break
	}
	if at = strings.TrimSpace(at); at != "" {
		// Cameras with no time zone set send no offset; the time is a hint.
		for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05"} {
			if t, err := time.Parse(layout, at); err == nil {
				a.Time = t
				break
			}
		}
	}
	return a, nil
}

// jsonText is a JSON value that may be a string or a number (channelID is
// either, depending on the firmware).
type jsonText string

func (j *jsonText) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*j = jsonText(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*j = jsonText(n.String())
	return nil
}

type isapiJSON struct {
	IPAddress        jsonText `json:"ipAddress"`
	IPv6Address      jsonText `json:"ipv6Address"`
	ChannelID        jsonText `json:"channelID"`
	DynChannelID     jsonText `json:"dynChannelID"`
	DateTime         jsonText `json:"dateTime"`
	EventType        jsonText `json:"eventType"`
	EventState       jsonText `json:"eventState"`
	EventDescription jsonText `json:"eventDescription"`
}

// ParseISAPIJSON parses the JSON form of an event notification that newer
// smart events use, bare or wrapped in {"EventNotificationAlert": {...}}.
func ParseISAPIJSON(b []byte) (Alarm, error) {
	b = trimBOM(b)
	var wrap struct {
		Alert *isapiJSON `json:"EventNotificationAlert"`
	}
	var x isapiJSON
	if err := json.Unmarshal(b, &wrap); err != nil {
		return Alarm{}, fmt.Errorf("%w: json: %v", ErrMalformed, err)
	}
	if wrap.Alert != nil {
		x = *wrap.Alert
	} else if err := json.Unmarshal(b, &x); err != nil {
		return Alarm{}, fmt.Errorf("%w: json: %v", ErrMalformed, err)
	}
	return isapiFields(string(x.IPAddress), string(x.IPv6Address), string(x.ChannelID), string(x.DynChannelID),
		string(x.DateTime), string(x.EventType), string(x.EventState), string(x.EventDescription))
}

// ParseDahua parses the body of one part of a Dahua attach stream:
// "Code=CrossLineDetection;action=Start;index=0" lines, each with an
// optional ";data={...}" tail that may span lines, or "Heartbeat". A part
// may hold several Code lines.
func ParseDahua(b []byte) ([]Alarm, error) {
	s := strings.TrimSpace(string(trimBOM(b)))
	if strings.EqualFold(s, "heartbeat") {
		return []Alarm{{Type: "Heartbeat", Channel: 1}}, nil
	}
	if !strings.HasPrefix(s, "Code=") {
		return nil, fmt.Errorf("%w: dahua part does not start with Code=: %q", ErrMalformed, clip(s))
	}
	var out []Alarm
	for rest := s; rest != ""; {
		// The next record starts at the next line that begins with Code=.
		line := rest
		rest = ""
		if i := strings.Index(line, "\nCode="); i >= 0 {
			line, rest = line[:i], line[i+1:]
		}
		a, err := parseDahuaLine(strings.TrimSpace(line))
		if err != nil {
			return nil, err
		}
		out = append(out, a)
		if len(out) > 64 {
			return nil, fmt.Errorf("%w: more than 64 records in one dahua part", ErrMalformed)
		}
	}
	return out, nil
}

func parseDahuaLine(line string) (Alarm, error) {
	a := Alarm{Channel: 1}
	var haveAction bool
	for line != "" {
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			return Alarm{}, fmt.Errorf("%w: dahua field %q has no =", ErrMalformed, clip(line))
		}
		key := strings.TrimSpace(line[:eq])
		val := line[eq+1:]
		if strings.EqualFold(key, "data") {
			line = "" // the JSON tail: the rest of the record
		} else if semi := strings.IndexByte(val, ';'); semi >= 0 {
			val, line = val[:semi], val[semi+1:]
		} else {
			line = ""
		}
		val = strings.TrimSpace(val)
		switch strings.ToLower(key) {
		case "code":
			a.Type = val
		case "action":
			haveAction = true
			switch strings.ToLower(val) {
			case "start", "pulse":
				a.Active = true
			case "stop":
			default:
				return Alarm{}, fmt.Errorf("%w: dahua action %q, want Start, Stop or Pulse", ErrMalformed, clip(val))
			}
		case "index":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || n > 4095 {
				return Alarm{}, fmt.Errorf("%w: dahua index %q", ErrMalformed, clip(val))
			}
			a.Channel = n + 1
		}
	}
	if a.Type == "" || len(a.Type) > 64 || !haveAction {
		return Alarm{}, fmt.Errorf("%w: dahua record needs Code (at most 64 bytes) and action", ErrMalformed)
	}
	return a, nil
}

// maxParts bounds the parts of one posted multipart body.
const maxParts = 16

// ParseBody parses a body a camera posted (push mode) or one part of an
// alertStream, by its Content-Type: ISAPI XML, ISAPI JSON, or
// multipart/form-data holding one of those and a JPEG picture. Parts and
// pictures are read up to maxPart and maxPicture bytes; the body itself
// must already be bounded by the caller.
func ParseBody(contentType string, body io.Reader, maxPart, maxPicture int64) (Alarm, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = "" // sniff
	}
	if strings.HasPrefix(mt, "multipart/") {
		return parseMultipart(body, params["boundary"], maxPart, maxPicture)
	}
	b, err := readAtMost(body, maxPart)
	if err != nil {
		return Alarm{}, err
	}
	return parseDoc(mt, b)
}

// parseDoc parses one XML or JSON document, by its media type or, when
// that says nothing useful (text/plain, none), by its first byte.
func parseDoc(mt string, b []byte) (Alarm, error) {
	switch {
	case strings.HasSuffix(mt, "/xml"):
		return ParseISAPIXML(b)
	case strings.HasSuffix(mt, "/json"):
		return ParseISAPIJSON(b)
	}
	t := bytes.TrimSpace(trimBOM(b))
	if len(t) > 0 && t[0] == '<' {
		return ParseISAPIXML(b)
	}
	if len(t) > 0 && t[0] == '{' {
		return ParseISAPIJSON(b)
	}
	return Alarm{}, fmt.Errorf("%w: body is neither xml nor json (content type %q)", ErrMalformed, mt)
}

func parseMultipart(body io.Reader, boundary string, maxPart, maxPicture int64) (Alarm, error) {
	if boundary == "" {
		return Alarm{}, fmt.Errorf("%w: multipart without boundary", ErrMalformed)
	}
	mr := multipart.NewReader(body, boundary)
	var (
		a       Alarm
		have    bool
		picture []byte
	)
	for i := 0; ; i++ {
		if i >= maxParts {
			return Alarm{}, fmt.Errorf("%w: more than %d parts", ErrMalformed, maxParts)
		}
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var mbe *httpMaxBytesError
			if errors.As(err, &mbe) {
				return Alarm{}, fmt.Errorf("%w: body over %d bytes", ErrTooLarge, mbe.Limit)
			}
			return Alarm{}, fmt.Errorf("%w: multipart: %v", ErrMalformed, err)
		}
		mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if strings.HasPrefix(mt, "image/") {
			b, err := readAtMost(p, maxPicture)
			if errors.Is(err, ErrTooLarge) {
				continue // the alarm counts more than its picture
			}
			if err != nil {
				return Alarm{}, err
			}
			if picture == nil && isJPEG(b) {
				picture = b
			}
			continue
		}
		b, err := readAtMost(p, maxPart)
		if err != nil {
			return Alarm{}, err
		}
		if have {
			continue
		}
		if a, err = parseDoc(mt, b); err != nil {
			return Alarm{}, err
		}
		have = true
	}
	if !have {
		return Alarm{}, fmt.Errorf("%w: multipart body without an xml or json part", ErrMalformed)
	}
	a.Picture = picture
	return a, nil
}

// ErrTooLarge is wrapped when a body or part is larger than its limit.
var ErrTooLarge = errors.New("too large")

func readAtMost(r io.Reader, n int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, n+1))
	if err != nil {
		var mbe *httpMaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: body over %d bytes", ErrTooLarge, mbe.Limit)
		}
		return nil, fmt.Errorf("%w: read: %v", ErrMalformed, err)
	}
	if int64(len(b)) > n {
		return nil, fmt.Errorf("%w: part over %d bytes", ErrTooLarge, n)
	}
	return b, nil
}

func isJPEG(b []byte) bool { return len(b) > 3 && b[0] == 0xFF && b[1] == 0xD8 }

func trimBOM(b []byte) []byte { return bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) }

// clip shortens outside text quoted in an error.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
