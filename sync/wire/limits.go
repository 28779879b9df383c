package wire

// Size limits of the protocol (PROTOCOL.md §1). Each side reads at most
// this much of what the other sends, and checks a declared Content-Length
// against the limit before reading anything, so a broken or hostile peer
// costs a bounded amount of memory.
const (
	// MaxLocation is the longest device location an event may carry (the
	// gateway's config check refuses longer ones); a batch with a longer
	// one is malformed.
	MaxLocation = 256
	// MaxBoot bounds an event's boot id (Event.Boot): a UUID is 36 bytes.
	MaxBoot = 64
	// MaxBatchBody is the default limit of a compressed batch body.
	MaxBatchBody = 8 << 20
	// MaxBatchDecoded is the default limit of a decompressed batch. A
	// gateway's batch of 5,000 readings is about 200 kB of JSON; a batch a
	// receiver refuses as too large is split in two by the gateway.
	MaxBatchDecoded = 16 << 20
	// MaxAttachment is the largest attachment of a command result (the
	// diagnostics zip of send_diagnostics). A bundle of logs, status and
	// config zips to well under 1 MiB; the limit keeps one upload (the body
	// in base64, the decoded zip, its copy into storage) within half of the
	// reference receiver's default memory budget.
	MaxAttachment = 4 << 20
	// MaxResultBody is the largest command result body: the attachment in
	// base64 and the rest of the result.
	MaxResultBody = MaxAttachment/3*4 + 8 + 64<<10
	// MaxFileBody is the largest file a gateway may put (PUT /v1/files): a
	// camera picture is well under 1 MiB.
	MaxFileBody = 2 << 20
	// MaxJSONBody is the largest heartbeat body (and of other small JSON
	// requests).
	MaxJSONBody = 64 << 10
	// MaxConfigYAML is the largest config file a central platform may push
	// (the gateway's own loader refuses larger files too).
	MaxConfigYAML = 4 << 20
	// MaxConfigResponse is the largest answer to GET /v1/config: the YAML as
	// a JSON string (escaping may double it) and the bundle's other members.
	MaxConfigResponse = 2*MaxConfigYAML + 64<<10
	// MaxCommandBytes is the largest command (as JSON) a receiver queues.
	MaxCommandBytes = 8 << 10
	// MaxCommands is the most commands one GET /v1/commands returns.
	MaxCommands = 100
	// MaxCommandListResponse is the largest answer to GET /v1/commands.
	MaxCommandListResponse = MaxCommands*MaxCommandBytes + 4<<10
	// MaxSmallResponse is the largest answer to a heartbeat or a command
	// result.
	MaxSmallResponse = 64 << 10
	// MaxErrorBody is how much of an error answer a gateway reads.
	MaxErrorBody = 4 << 10
)

// MaxAckResponse is the largest answer to a batch of n events: at worst one
// acknowledged range per event.
func MaxAckResponse(n int) int64 { return 4<<10 + 96*int64(max(n, 0)) }
