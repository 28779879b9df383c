package config

// Rule is one local alert rule. (Owned by the rules work; see edge/rules.)
type Rule struct {
	Name string `yaml:"name"`
}
