package receiver

import (
	_ "embed"
	"net/http"
	"sort"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

// The district view: the hierarchy district → street → committee →
// compound → gateway as a tree, each node with its gateways online and
// offline, its active alerts by severity, its backlog and its last sync.
// GET /v1/admin/tree serves it as JSON; GET /district is the page that
// shows it (and polls it), in Chinese and English.

// OnlineWithin is how recent a gateway's heartbeat or batch must be for it
// to count as online (three heartbeats at the default 60 s, and a margin).
const OnlineWithin = 200 * time.Second

// TreeNode is one node of the district view.
type TreeNode struct {
	Level    string         `json:"level"` // district, street, committee, compound, gateway
	Code     string         `json:"code"`
	Path     string         `json:"path"`
	Online   int            `json:"online"`
	Offline  int            `json:"offline"`
	Alerts   map[string]int `json:"alerts"` // by severity
	Backlog  uint64         `json:"backlog_events"`
	LastSync time.Time      `json:"last_sync,omitzero"`
	Children []*TreeNode    `json:"children,omitempty"`
}

// Tree builds the district view from the gateways and the active alerts.
func Tree(gws []GatewayStatus, alerts []ActiveAlert, now time.Time) *TreeNode {
	root := &TreeNode{Level: "all", Code: "", Alerts: map[string]int{}}
	bySev := map[string]map[string]int{} // gateway -> severity -> n
	for _, a := range alerts {
		if bySev[a.Gateway] == nil {
			bySev[a.Gateway] = map[string]int{}
		}
		sev := a.Alert.Severity
		if sev == "" {
			sev = "info"
		}
		bySev[a.Gateway][sev]++
	}
	for _, g := range gws {
		if g.Disabled {
			continue
		}
		place, err := FullPlace(g.Place)
		if err != nil {
			place, _ = FullPlace("")
		}
		last := g.LastBatchAt
		if g.HeartbeatAt.After(last) {
			last = g.HeartbeatAt
		}
		online := !last.IsZero() && now.Sub(last) <= OnlineWithin
		var backlog uint64
		if g.LastHeartbeat != nil {
			backlog = g.LastHeartbeat.BacklogEvents
		}
		leaf := &TreeNode{Level: "gateway", Code: g.ID, Alerts: map[string]int{}, Backlog: backlog, LastSync: g.LastBatchAt}
		for sev, n := range bySev[g.ID] {
			leaf.Alerts[sev] = n
		}
		if online {
			leaf.Online = 1
		} else {
			leaf.Offline = 1
		}
		node := root
		path := ""
		for i, code := range place {
			if path != "" {
				path += "/"
			}
			path += code
			node = child(node, Levels[i], code, path)
		}
		leaf.Path = path + "/" + g.ID
		node.Children = append(node.Children, leaf)
	}
	sum(root)
	return root
}

func child(n *TreeNode, level, code, path string) *TreeNode {
	for _, c := range n.Children {
		if c.Code == code {
			return c
		}
	}
	c := &TreeNode{Level: level, Code: code, Path: path, Alerts: map[string]int{}}
	n.Children = append(n.Children, c)
	return c
}

// sum adds every node's children up into it and sorts them by code.
func sum(n *TreeNode) {
	if len(n.Children) == 0 {
		return
	}
	n.Online, n.Offline, n.Backlog = 0, 0, 0
	for _, c := range n.Children {
		sum(c)
		n.Online += c.Online
		n.Offline += c.Offline
		n.Backlog += c.Backlog
		for sev, k := range c.Alerts {
			n.Alerts[sev] += k
		}
		if c.LastSync.After(n.LastSync) {
			n.LastSync = c.LastSync
		}
	}
	sort.Slice(n.Children, func(i, j int) bool { return n.Children[i].Code < n.Children[j].Code })
}

func (r *Receiver) adminTree(w http.ResponseWriter, req *http.Request) {
	gws, err := r.store.Gateways()
	if err != nil {
		r.adminErr(w, req, wire.CodeInternal, "list gateways: "+err.Error())
		return
	}
	alerts, err := r.store.ActiveAlerts("")
	if err != nil {
		r.adminErr(w, req, wire.CodeInternal, "active alerts: "+err.Error())
		return
	}
	now := r.clk.Now()
	r.adminOK(w, req, map[string]any{"now": now, "tree": Tree(gws, alerts, now)})
}

//go:embed district.html
var districtHTML []byte

func (r *Receiver) districtPage(w http.ResponseWriter, req *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	w.Write(districtHTML)
}
