//go:build linux

package deps

import _ "github.com/warthog618/go-gpiocdev"
