//go:build !linux

package gateway

import "github.com/edgegw/edgegw/edge"

// On other systems the OS gives no portable sync status; the clock is judged
// by jumps and by the central platform's skew alone.
func platformTrust() edge.TrustSource { return nil }
