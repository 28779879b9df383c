package rules

import (
	"strings"
	"time"

	"github.com/edgegw/edgegw/edge/config"
)

// schedule is a compiled RuleSchedule. Windows are minutes after local
// midnight in loc, so they follow the site's wall clock across daylight
// saving changes: on the day clocks go forward an hour that does not exist
// is in no window, and on the day they go back the repeated hour is in the
// window twice.
type schedule struct {
	loc     *time.Location
	windows [][2]int // [from, to) minutes; to <= from crosses midnight
	days    uint8    // bit per time.Weekday; 0: every day
	outside bool
}

func compileSchedule(c *config.RuleSchedule, def *time.Location) (*schedule, error) {
	s := &schedule{loc: def, outside: c.Outside}
	if c.Timezone != "" {
		loc, err := loadZone(c.Timezone)
		if err != nil {
			return nil, err
		}
		s.loc = loc
	}
	for _, w := range c.Windows {
		from, to, err := config.ParseWindow(w)
		if err != nil {
			return nil, err // reported by ValidateRules already
		}
		s.windows = append(s.windows, [2]int{from, to})
	}
	for _, d := range c.Days {
		if n, ok := config.Weekdays[strings.ToLower(d)]; ok {
			s.days |= 1 << n
		}
	}
	return s, nil
}

func (s *schedule) dayOK(wd time.Weekday) bool {
	return s.days == 0 || s.days&(1<<uint(wd)) != 0
}

// active reports whether the rule may fire at t.
func (s *schedule) active(t time.Time) bool {
	lt := t.In(s.loc)
	mins := lt.Hour()*60 + lt.Minute()
	wd := lt.Weekday()
	inside := false
	if len(s.windows) == 0 {
		inside = s.dayOK(wd)
	}
	for _, w := range s.windows {
		from, to := w[0], w[1]
		if from < to {
			if mins >= from && mins < to && s.dayOK(wd) {
				inside = true
			}
		} else { // across midnight; the part after midnight belongs to the day before
			if mins >= from && s.dayOK(wd) {
				inside = true
			}
			if mins < to && s.dayOK((wd+6)%7) {
				inside = true
			}
		}
		if inside {
			break
		}
	}
	return inside != s.outside
}

// next returns the first minute boundary after t at which active changes,
// or the zero time when it does not change within 8 days.
func (s *schedule) next(t time.Time) time.Time {
	cur := s.active(t)
	m := t.Truncate(time.Minute)
	for i := 0; i < 8*24*60; i++ {
		m = m.Add(time.Minute)
		if s.active(m) != cur {
			return m
		}
	}
	return time.Time{}
}
