package receiver

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgegw/edgegw/sync/wire"
)

func TestTree(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	gws := []GatewayStatus{
		{ID: "gw-a", Place: "putuo/caoyang/c012/cp07", HeartbeatAt: now.Add(-time.Minute), LastHeartbeat: &wire.Heartbeat{BacklogEvents: 5}, LastBatchAt: now.Add(-10 * time.Second)},
		{ID: "gw-b", Place: "putuo/caoyang/c012/cp08", HeartbeatAt: now.Add(-time.Hour)},
		{ID: "gw-c", Place: "putuo/ganquan/c001/cp01", LastBatchAt: now.Add(-5 * time.Second)},
		{ID: "gw-d"}, // not placed
		{ID: "gw-off", Disabled: true},
	}
	alerts := []ActiveAlert{
		{Gateway: "gw-a", Alert: wire.Alert{Severity: "critical"}},
		{Gateway: "gw-a", Alert: wire.Alert{Severity: "warning"}},
		{Gateway: "gw-c", Alert: wire.Alert{Severity: "critical"}},
	}
	root := Tree(gws, alerts, now)
	if root.Online != 2 || root.Offline != 2 || root.Alerts["critical"] != 2 || root.Backlog != 5 {
		t.Fatalf("root %+v", root)
	}
	var putuo *TreeNode
	for _, c := range root.Children {
		if c.Code == "putuo" {
			putuo = c
		}
	}
	if putuo == nil || len(putuo.Children) != 2 || putuo.Children[0].Code != "caoyang" {
		t.Fatalf("putuo %+v", putuo)
	}
	cy := putuo.Children[0]
	if cy.Online != 1 || cy.Offline != 1 || cy.Alerts["warning"] != 1 || !cy.LastSync.Equal(now.Add(-10*time.Second)) {
		t.Errorf("caoyang %+v", cy)
	}
	leaf := cy.Children[0].Children[0].Children[0]
	if leaf.Level != "gateway" || leaf.Code != "gw-a" || leaf.Path != "putuo/caoyang/c012/cp07/gw-a" {
		t.Errorf("leaf %+v", leaf)
	}
}

// The page's two languages have the same messages.
func TestDistrictPageLanguages(t *testing.T) {
	page := string(districtHTML)
	block := func(lang string) []string {
		i := strings.Index(page, `"`+lang+`": {`)
		if i < 0 {
			t.Fatalf("no %s messages", lang)
		}
		body := page[i+len(lang)+5:]
		body = body[:strings.Index(body, "\n  }")]
		var keys []string
		for _, m := range regexp.MustCompile(`"([a-z_]+)": "`).FindAllStringSubmatch(body, -1) {
			keys = append(keys, m[1])
		}
		slices.Sort(keys)
		return keys
	}
	en, zh := block("en"), block("zh-CN")
	if len(en) < 15 || !slices.Equal(en, zh) {
		t.Fatalf("en %v\nzh %v", en, zh)
	}
}
