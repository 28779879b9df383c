package config

// Language is the gateway.language of the config file at path, for the
// CLI's messages about that file (`edgegw validate` of a file with
// problems still speaks its language). It reads leniently, through the
// same guarded parse as Load (size, text, token, nesting and alias
// limits: a hostile file costs no more here than there): "" when the file
// cannot be read or parsed or does not set it; the strict load reports
// the file's problems.
func Language(path string) string {
	data, err := ReadFile(path)
	if err != nil {
		return ""
	}
	cfg, _ := parseLoose(path, data)
	if cfg == nil {
		return ""
	}
	return cfg.Gateway.Language
}
