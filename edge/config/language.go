package config

import "github.com/goccy/go-yaml"

// Language is the gateway.language of the config file at path, for the
// CLI's messages about that file (`edgegw validate` of a file with
// problems still speaks its language). It reads leniently: "" when the
// file cannot be read or decoded or does not set it, the strict load
// reports the file's problems.
func Language(path string) string {
	data, err := ReadFile(path)
	if err != nil {
		return ""
	}
	var c struct {
		Gateway struct {
			Language string `yaml:"language"`
		} `yaml:"gateway"`
	}
	if yaml.Unmarshal(data, &c) != nil {
		return ""
	}
	return c.Gateway.Language
}
