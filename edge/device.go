package edge

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Device is one physical device of the compound. Drivers declare the devices
// they serve; rules and the central platform match on Location and Tags.
type Device struct {
	ID string `json:"id"`
	// Location is a slash-separated path: compound/building/unit/household.
	Location string   `json:"location,omitempty"`
	Tags     []string `json:"tags,omitempty"`
	// Type is a free-form device type: "door_contact", "temperature", "camera".
	Type   string `json:"type,omitempty"`
	Driver string `json:"driver,omitempty"` // name of the input that serves it
}

// HasTag reports whether d carries tag t.
func (d *Device) HasTag(t string) bool {
	for _, x := range d.Tags {
		if x == t {
			return true
		}
	}
	return false
}

// InLocation reports whether d's location equals prefix or lies under it,
// segment-wise: "a/b" is under "a" but "ab" is not.
func (d *Device) InLocation(prefix string) bool {
	prefix = strings.Trim(prefix, "/")
	loc := strings.Trim(d.Location, "/")
	if prefix == "" {
		return true
	}
	return loc == prefix || strings.HasPrefix(loc, prefix+"/")
}

// LocationPart returns the i-th segment of the location (0: compound,
// 1: building, 2: unit, 3: household), or "" when there is none.
func (d *Device) LocationPart(i int) string {
	parts := strings.Split(strings.Trim(d.Location, "/"), "/")
	if i < 0 || i >= len(parts) {
		return ""
	}
	return parts[i]
}

// MaxLocation bounds a device's location in bytes: it travels with every
// event of the device, to the log and to the central.
const MaxLocation = 256

// CheckLocation reports what is wrong with a device location: longer than
// MaxLocation, not UTF-8, or holding a control character. Any number of
// segments is accepted; the central reads the first four as compound,
// building, unit and household.
func CheckLocation(loc string) error {
	switch {
	case len(loc) > MaxLocation:
		return Msgf("location of %d bytes: at most %d", len(loc), MaxLocation)
	case !utf8.ValidString(loc):
		return Msgf("location %q: not UTF-8", loc)
	case strings.ContainsFunc(loc, unicode.IsControl):
		return Msgf("location %q: control character", loc)
	}
	return nil
}
