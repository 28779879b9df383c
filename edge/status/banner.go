package status

import (
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge/i18n"
)

// Banner is one fault as the status page shows it at the top: what, since
// when, and what to check, in the page's language.
type Banner struct {
	Check string    `json:"check"`
	Level string    `json:"level"` // info, degraded, critical
	Text  string    `json:"text"`
	Hint  string    `json:"hint,omitempty"`
	Since time.Time `json:"since,omitzero"`
	// Subjects are the devices (or alerts) it is about.
	Subjects []string `json:"subjects,omitempty"`
}

// maxListed bounds the devices named in one banner.
const maxListed = 12

// Banners are the page's faults: the findings of Evaluate with the page's
// thresholds (the central's state at once: the page is a live view), the
// offline devices in one banner, critical alerts first. Active alerts
// that are not critical have their own table, not a banner.
func Banners(s *Snapshot, lang i18n.Lang) []Banner {
	ps := Evaluate(s, Thresholds{MaxBacklogAge: 15 * time.Minute, MaxStorePct: 90})
	var out []Banner
	var off []Problem
	at := -1 // where the devices' banner goes: with the first of them
	for _, p := range ps {
		switch p.Check {
		case CheckAlertFiring:
			continue
		case CheckDeviceOffline:
			if at < 0 {
				at = len(out)
			}
			off = append(off, p)
			continue
		}
		b := Banner{Check: p.Check.String(), Level: levelName[p.Check.Level()], Text: p.In(lang), Hint: p.Check.Hint(lang), Since: p.Since}
		if p.Subject != "" {
			b.Subjects = []string{p.Subject}
		}
		out = append(out, b)
	}
	if len(off) == 0 {
		return out
	}
	var b Banner
	switch {
	case len(off) == 1:
		p := off[0]
		b = Banner{Check: p.Check.String(), Level: levelName[p.Check.Level()], Text: p.In(lang),
			Hint: p.Check.Hint(lang), Since: p.Since, Subjects: []string{p.Subject}}
	default:
		b = Banner{Check: CheckDeviceOffline.String(), Level: levelName[LevelDegraded], Hint: CheckDeviceOffline.Hint(lang)}
		for _, p := range off {
			b.Subjects = append(b.Subjects, p.Subject)
			if !p.Since.IsZero() && (b.Since.IsZero() || p.Since.Before(b.Since)) {
				b.Since = p.Since
			}
		}
		list := b.Subjects
		if len(list) > maxListed {
			list = append(list[:maxListed:maxListed], "…")
		}
		b.Text = i18n.T(lang, "page.banner.devices", map[string]any{"N": len(off), "List": strings.Join(list, ", ")})
	}
	return append(out[:at], append([]Banner{b}, out[at:]...)...)
}

var levelName = map[Level]string{LevelInfo: "info", LevelDegraded: "degraded", LevelCritical: "critical"}
