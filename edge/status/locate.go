package status

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/edgegw/edgegw/edge/config"
)

// Target says how `edgegw status` and `edgegw diag` find the gateway to
// ask: URL, else ConfigPath's status.listen, else DefaultConfigPath's when
// that file exists, else DefaultStatusListen on this box.
type Target struct {
	URL               string
	ConfigPath        string
	DefaultConfigPath string // where the packages put the config; may be ""
	PasswordFile      string
	Password          string // EDGEGW_PASSWORD; PasswordFile wins
}

// Client returns a client for the gateway t names, and the config file it
// used (empty when none). Given a config, it also takes the local token
// the running gateway keeps in its data directory, when this user may read
// it (root or the service's user), so no password is needed on the box.
func (t Target) Client() (*Client, string, error) {
	path := t.ConfigPath
	if path == "" && t.URL == "" && t.DefaultConfigPath != "" {
		if fi, err := os.Stat(t.DefaultConfigPath); err == nil && fi.Mode().IsRegular() {
			path = t.DefaultConfigPath
		}
	}
	c := &Client{BaseURL: t.URL, Password: t.Password}
	if path != "" {
		sec, err := readSections(path)
		if err != nil {
			return nil, path, err
		}
		if c.BaseURL == "" {
			if sec.Status.Disabled() {
				return nil, path, fmt.Errorf("%s: status.listen is off: the gateway serves no status", path)
			}
			c.BaseURL = URLFromListen(sec.Status.Listen)
		}
		if tok, err := ReadLocalToken(filepath.Join(sec.dataDir(), LocalTokenFile)); err == nil {
			c.LocalToken = tok
		}
	}
	if c.BaseURL == "" {
		c.BaseURL = URLFromListen(config.DefaultStatusListen)
	}
	if t.PasswordFile != "" {
		f, err := os.Open(t.PasswordFile)
		if err != nil {
			return nil, path, err
		}
		defer f.Close()
		b := make([]byte, 4096)
		n, err := f.Read(b)
		if err != nil && n == 0 {
			return nil, path, fmt.Errorf("%s: %w", t.PasswordFile, err)
		}
		line, _, _ := strings.Cut(string(b[:n]), "\n")
		c.Password = strings.TrimRight(line, "\r")
	}
	return c, path, nil
}

// sections are the parts of a config that status and diag read. They must
// work on a config that `run` would refuse, so nothing else is checked.
type sections struct {
	Status config.Status `yaml:"status"`
	Store  struct {
		Dir string `yaml:"dir"`
	} `yaml:"store"`
}

// dataDir is store.dir as the gateway takes it (a relative path is
// relative to the working directory).
func (s *sections) dataDir() string {
	if s.Store.Dir == "" {
		return config.DefaultDataDir()
	}
	return s.Store.Dir
}

func readSections(path string) (*sections, error) {
	b, err := config.ReadFile(path) // bounded: the file may be anything
	if err != nil {
		return nil, err
	}
	if err := config.Precheck(path, b); err != nil {
		return nil, err
	}
	var s sections
	if err := yaml.Unmarshal(b, &s); err != nil {
		var ye interface{ GetMessage() string }
		msg := err.Error()
		if errors.As(err, &ye) {
			msg = ye.GetMessage()
		}
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		return nil, fmt.Errorf("%s: %s", path, strings.ToValidUTF8(msg, "?"))
	}
	s.Status.SetDefaults()
	return &s, nil
}
