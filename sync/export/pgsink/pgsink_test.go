//go:build linux

package pgsink

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/edgegw/edgegw/sync/export"
	"github.com/edgegw/edgegw/sync/export/exporttest"
	"github.com/edgegw/edgegw/sync/wire"
)

// postgres is a real PostgreSQL in a temp dir, run as nobody when the
// test runs as root (initdb refuses root).
type postgres struct {
	bin, dir, data string
	port           string
	cred           *syscall.Credential
}

func pgBin() string {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p)
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(m) > 0 {
		return filepath.Dir(m[len(m)-1])
	}
	return ""
}

func startPostgres(t *testing.T) *postgres {
	t.Helper()
	bin := pgBin()
	if bin == "" {
		t.Skip("PostgreSQL not installed (pg_ctl, initdb): apt-get install postgresql")
	}
	dir, err := os.MkdirTemp("", "pgsink-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &postgres{bin: bin, dir: dir, data: filepath.Join(dir, "data")}
	if os.Geteuid() == 0 {
		p.cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Skipf("cannot hand %s to nobody to run PostgreSQL as non-root: %v", dir, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, p.port, _ = net.SplitHostPort(ln.Addr().String())
	ln.Close()
	if out, err := p.run("initdb", "-D", p.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		t.Skipf("initdb cannot run here: %v\n%s", err, out)
	}
	p.start(t)
	t.Cleanup(p.stop)
	return p
}

func (p *postgres) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = p.dir
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

func (p *postgres) start(t *testing.T) {
	t.Helper()
	opts := fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1 -c fsync=off", p.port, p.dir)
	if out, err := p.run("pg_ctl", "-D", p.data, "-o", opts, "-l", filepath.Join(p.dir, "log"), "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "log"))
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

func (p *postgres) stop() { p.run("pg_ctl", "-D", p.data, "-m", "fast", "-w", "stop") }

func (p *postgres) dsn() string {
	return "postgres://postgres@127.0.0.1:" + p.port + "/postgres?sslmode=disable"
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	exporttest.WaitFor(t, 60*time.Second, what, cond)
}

func count(t *testing.T, dsn, table string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return -1
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		return -1
	}
	return n
}

func run(t *testing.T, c *exporttest.Central, dsn, name string) (*Sink, func()) {
	s, err := New(Config{DSN: dsn, Timeout: 5 * time.Second, Options: export.Options{Name: name, MaxAttempts: 10000,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, c.Store.JetStream()) }()
	return s, func() { cancel(); <-done }
}

// Events and alerts land once each, through a restart of PostgreSQL and a
// second consumer that delivers everything again.
func TestSink(t *testing.T) {
	pg := startPostgres(t)
	c := exporttest.Open(t, t.TempDir())
	c.AddGateway(t, "gw1", "putuo/caoyang/c012/cp07")
	// An epoch above 2^63: numeric(20), not bigint.
	const epoch = 1<<63 + 5
	c.Put(t, "gw1", append(exporttest.Readings(epoch, 1, 200), exporttest.Alert(epoch, 201, wire.AlertFiring)))

	s, stop := run(t, c, pg.dsn(), "export-postgres")
	waitFor(t, "201 rows", func() bool { return count(t, pg.dsn(), "edgegw_events") == 201 })

	pg.stop()
	c.Put(t, "gw1", append(exporttest.Readings(epoch, 202, 99), exporttest.Alert(epoch, 301, wire.AlertResolved)))
	waitFor(t, "a failed attempt", func() bool { return s.Metrics().Failed.Load() > 0 })
	pg.start(t)
	waitFor(t, "301 rows after the restart", func() bool { return count(t, pg.dsn(), "edgegw_events") == 301 })
	stop()

	// Everything again, under another consumer: nothing is added.
	s2, stop2 := run(t, c, pg.dsn(), "export-postgres-2")
	defer stop2()
	waitFor(t, "the second pass", func() bool { return s2.Metrics().Delivered.Load() == 301 })
	if n := count(t, pg.dsn(), "edgegw_events"); n != 301 {
		t.Errorf("events: got %d rows, want 301", n)
	}
	if n := count(t, pg.dsn(), "edgegw_alerts"); n != 2 {
		t.Errorf("alerts: got %d rows, want 2", n)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.dsn())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var ep, path, kind string
	var v float64
	if err := conn.QueryRow(ctx, "SELECT epoch::text, path, kind, v FROM edgegw_events WHERE gateway='gw1' AND seq=2").Scan(&ep, &path, &kind, &v); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint(uint64(epoch)); ep != want || path != "putuo/caoyang/c012/cp07/5" || kind != "reading" || v != 20.1 {
		t.Errorf("row: got %s %s %s %v, want %s putuo/caoyang/c012/cp07/5 reading 20.1", ep, path, kind, v, want)
	}
	checkLoc(t, conn, "edgegw_events", 1, [5]*string{ptr("putuo/caoyang/c012/cp07/3/2/301"), ptr("cp07/3/2/301"), ptr("3"), ptr("2"), ptr("301")})
	checkLoc(t, conn, "edgegw_events", 2, [5]*string{ptr("putuo/caoyang/c012/cp07/5"), ptr("cp07/5"), ptr("5"), nil, nil})
	checkLoc(t, conn, "edgegw_events", 3, [5]*string{ptr("putuo/caoyang/c012/cp07"), nil, nil, nil, nil})
	checkLoc(t, conn, "edgegw_alerts", 201, [5]*string{ptr("putuo/caoyang/c012/cp07/3/2/302"), ptr("cp07/3/2/302"), ptr("3"), ptr("2"), ptr("302")})
}

func ptr(s string) *string { return &s }

// checkLoc checks the path and loc columns of gw1's row seq in table.
func checkLoc(t *testing.T, conn *pgx.Conn, table string, seq int, want [5]*string) {
	t.Helper()
	var got [5]*string
	err := conn.QueryRow(context.Background(), "SELECT path, loc, loc_building, loc_unit, loc_household FROM "+table+
		" WHERE gateway='gw1' AND seq=$1", seq).Scan(&got[0], &got[1], &got[2], &got[3], &got[4])
	if err != nil {
		t.Fatalf("%s seq %d: %v", table, seq, err)
	}
	str := func(v [5]*string) string {
		out := ""
		for _, p := range v {
			if p == nil {
				out += " NULL"
			} else {
				out += " " + *p
			}
		}
		return out
	}
	if str(got) != str(want) {
		t.Errorf("%s seq %d: got path, loc, building, unit, household%s; want%s", table, seq, str(got), str(want))
	}
}

// oldSchema is the sink's schema before events carried a location.
const oldSchema = `
CREATE TABLE IF NOT EXISTS edgegw_events (
	gateway  text NOT NULL,
	epoch    numeric(20,0) NOT NULL,
	seq      bigint NOT NULL,
	path     text NOT NULL,
	received timestamptz NOT NULL,
	ts       timestamptz NOT NULL,
	trusted  boolean NOT NULL,
	kind     text NOT NULL,
	prio     smallint NOT NULL,
	dev      text,
	pt       text,
	v        double precision,
	unit     text,
	q        smallint,
	text     text,
	event    jsonb NOT NULL,
	PRIMARY KEY (gateway, epoch, seq)
);
CREATE INDEX IF NOT EXISTS edgegw_events_received ON edgegw_events (received);
CREATE INDEX IF NOT EXISTS edgegw_events_path_ts ON edgegw_events (path, ts);
CREATE TABLE IF NOT EXISTS edgegw_alerts (
	gateway  text NOT NULL,
	epoch    numeric(20,0) NOT NULL,
	seq      bigint NOT NULL,
	path     text NOT NULL,
	ts       timestamptz NOT NULL,
	dev      text,
	alert_id text NOT NULL,
	rule     text,
	state    text NOT NULL,
	severity text,
	message  text,
	by_whom  text,
	PRIMARY KEY (gateway, epoch, seq)
);
CREATE INDEX IF NOT EXISTS edgegw_alerts_alert ON edgegw_alerts (alert_id, ts);
`

// Tables made by a sink of the previous version get the loc columns; their
// rows stay, with NULL locations, and the new rows have them.
func TestOldTables(t *testing.T) {
	pg := startPostgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.dsn())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, oldSchema); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO edgegw_events (gateway, epoch, seq, path, received, ts, trusted, kind, prio, event)
VALUES ('gw0', 1, 1, 'putuo/caoyang/c012/cp07', now(), now(), true, 'reading', 0, '{}')`); err != nil {
		t.Fatal(err)
	}
	c := exporttest.Open(t, t.TempDir())
	c.AddGateway(t, "gw1", "putuo/caoyang/c012/cp07")
	c.Put(t, "gw1", append(exporttest.Readings(1, 1, 3), exporttest.Alert(1, 4, wire.AlertFiring)))
	s, stop := run(t, c, pg.dsn(), "export-postgres")
	defer stop()
	waitFor(t, "4 events delivered", func() bool { return s.Metrics().Delivered.Load() == 4 })
	if n := count(t, pg.dsn(), "edgegw_events"); n != 5 {
		t.Errorf("events: got %d rows, want 5 (the old one and 4)", n)
	}
	var loc *string
	if err := conn.QueryRow(ctx, "SELECT loc FROM edgegw_events WHERE gateway='gw0'").Scan(&loc); err != nil || loc != nil {
		t.Errorf("old row: loc %v, %v; want NULL", loc, err)
	}
	checkLoc(t, conn, "edgegw_events", 1, [5]*string{ptr("putuo/caoyang/c012/cp07/3/2/301"), ptr("cp07/3/2/301"), ptr("3"), ptr("2"), ptr("301")})
	checkLoc(t, conn, "edgegw_alerts", 4, [5]*string{ptr("putuo/caoyang/c012/cp07/3/2/302"), ptr("cp07/3/2/302"), ptr("3"), ptr("2"), ptr("302")})
}
