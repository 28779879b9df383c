package update

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/edgegw/edgegw/edge/i18n"
	"github.com/edgegw/edgegw/sync/wire"
)

// Local is what an update directory says, for `edgegw update status`.
type Local struct {
	Dir string `json:"dir"`
	// Running is the version the loader runs: current, or the installed
	// binary's (Installed) when current is unset.
	Running   string   `json:"running"`
	Installed string   `json:"installed"`
	Current   string   `json:"current,omitempty"`
	Previous  string   `json:"previous,omitempty"`
	Staged    string   `json:"staged,omitempty"` // the new pointer
	Broken    string   `json:"broken,omitempty"`
	Versions  []string `json:"versions,omitempty"`
	// Trial is the staged version's trial, when one began.
	Trial *Trial `json:"trial,omitempty"`
	// Downloads are partial downloads: sha256 and bytes held.
	Downloads map[string]int64 `json:"downloads,omitempty"`
	// Reports are the reports not yet delivered to the central platform.
	Reports []wire.UpdateReport `json:"pending_reports"`
}

// ReadLocal reads the update directory; installed is this binary's
// version.
func ReadLocal(d Dir, installed string) (Local, error) {
	l := Local{Dir: string(d), Installed: installed, Reports: []wire.UpdateReport{}}
	p, err := d.Pointers()
	if err != nil {
		return l, err
	}
	l.Current, l.Previous, l.Staged, l.Broken = p.Current, p.Previous, p.New, p.Broken
	l.Running = p.Current
	if l.Running == "" {
		l.Running = installed
	}
	if l.Versions, err = d.Versions(); err != nil {
		return l, err
	}
	if t, ok, err := d.Trial(); err != nil {
		return l, err
	} else if ok && t.Version != "" && t.Version == p.New {
		l.Trial = &t
	}
	es, err := os.ReadDir(d.path("download"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return l, err
	}
	for _, e := range es {
		if sha, ok := strings.CutSuffix(e.Name(), ".part"); ok {
			if info, err := e.Info(); err == nil {
				if l.Downloads == nil {
					l.Downloads = map[string]int64{}
				}
				l.Downloads[sha] = info.Size()
			}
		}
	}
	names, err := d.Reports()
	if err != nil {
		return l, err
	}
	for _, n := range names {
		r, err := ReadReport(n)
		if err != nil {
			return l, fmt.Errorf("%s: %w", filepath.Base(n), err)
		}
		r.LogTail = "" // the text view shows none; --json readers open the file
		l.Reports = append(l.Reports, r)
	}
	return l, nil
}

// Print writes l for a person, in lang.
func (l Local) Print(w io.Writer, lang i18n.Lang) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	if l.Current == "" {
		i18n.Fprintf(tw, lang, "running\t%s (the installed binary)\n", l.Running)
	} else {
		i18n.Fprintf(tw, lang, "running\t%s\n", l.Running)
	}
	i18n.Fprintf(tw, lang, "previous\t%s\n", dash(l.Previous))
	i18n.Fprintf(tw, lang, "staged\t%s\n", dash(l.Staged))
	if l.Trial != nil {
		i18n.Fprintf(tw, lang, "trial\t%d attempt(s), exit codes %v\n", l.Trial.Attempts, l.Trial.ExitCodes)
	}
	i18n.Fprintf(tw, lang, "broken\t%s\n", dash(l.Broken))
	i18n.Fprintf(tw, lang, "versions kept\t%s\n", dash(strings.Join(l.Versions, " ")))
	for sha, n := range l.Downloads {
		i18n.Fprintf(tw, lang, "partial download\t%s: %d bytes\n", sha, n)
	}
	i18n.Fprintf(tw, lang, "update dir\t%s\n", l.Dir)
	i18n.Fprintf(tw, lang, "pending reports\t%d\n", len(l.Reports))
	for _, r := range l.Reports {
		fmt.Fprintf(tw, "  %s\t%s -> %s: %s\n", r.Outcome, dash(r.From), r.To, r.Reason)
	}
	return tw.Flush()
}
