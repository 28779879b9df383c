// Package wire is version 1 of the protocol between an edgegw gateway and the
// central platform: the batch encoding, request and response signing, the
// downlink messages and the error classification. It imports nothing of the
// edgegw project, so a central team can use it on its own; sync/PROTOCOL.md
// describes the same protocol for implementers in other languages.
package wire

import (
	"strconv"
)

// Version is the protocol version this package speaks. It appears in the
// URL paths (/v1/...), in the X-Edgegw-Protocol header and in every batch.
const Version = 1

// HTTP headers of the protocol.
const (
	HeaderGateway   = "X-Edgegw-Gateway"   // gateway id (requests)
	HeaderTimestamp = "X-Edgegw-Timestamp" // unix seconds (or RFC 3339) at signing
	HeaderNonce     = "X-Edgegw-Nonce"     // random, 16+ hex chars; responses echo the request's
	HeaderSignature = "X-Edgegw-Signature" // hex HMAC-SHA256, see Sign and SignResponse
	HeaderProtocol  = "X-Edgegw-Protocol"  // "1"
	// HeaderContentSHA256 is hex(sha256(body)) of a request, as signed: a
	// receiver checks the signature before it reads the body
	// (VerifyRequestHeaders), then checks the body against it.
	HeaderContentSHA256 = "X-Edgegw-Content-Sha256"
)

// Paths of the gateway-facing endpoints.
const (
	PathBatches   = "/v1/batches"   // POST: upload a batch of events
	PathConfig    = "/v1/config"    // GET: the gateway's config bundle (If-None-Match)
	PathCommands  = "/v1/commands"  // GET ?after=<id>: queued commands
	PathHeartbeat = "/v1/heartbeat" // POST: status summary
	PathFiles     = "/v1/files"     // PUT /{name}: a file an event names (a camera picture)
	PathReleases  = "/v1/releases"  // GET /{sha256} with Range: a chunk of a release artifact
	// PathReleaseReport is where a gateway posts an UpdateReport.
	PathReleaseReport = "/v1/releases/report"
)

// FilePath is the path a gateway puts a file to: /v1/files/{name}.
func FilePath(name string) string { return PathFiles + "/" + name }

// ValidFileName reports whether name may be uploaded with PUT /v1/files:
// 1 to 128 of A-Z a-z 0-9 . _ -, not starting with a dot (no path, no
// hidden file, no "..").
func ValidFileName(name string) bool {
	if len(name) == 0 || len(name) > 128 || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '.' || c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// CommandResultPath is the path a gateway posts a command's result to:
// /v1/commands/{id}/result.
func CommandResultPath(id uint64) string {
	return PathCommands + "/" + strconv.FormatUint(id, 10) + "/result"
}

// ContentTypeBatch is the media type of an uncompressed batch.
const ContentTypeBatch = "application/vnd.edgegw.batch.v1+json"
