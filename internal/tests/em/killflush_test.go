package em_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/em/dbconn"
	"github.com/mikrogo/mikro/internal/dbtest"
	"github.com/mikrogo/mikro/internal/faultconn"
)

// TestKilledConnectionMidFlush (issue 11, "Also"): the connection of a
// flush of 20,000 rows is killed while it inserts (PostgreSQL
// pg_terminate_backend, MariaDB KILL, and on SQLite a connection whose 30th
// statement fails). The database holds all or none of the rows, and the
// retry writes each row exactly once. Only this test's own connections are
// killed: by application_name and database on PostgreSQL, by database on
// MariaDB.
func TestKilledConnectionMidFlush(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		const n = 20000
		var (
			o    *em.ORM
			kill func() // kills the flush's connection once it inserts
		)
		switch tg.Name {
		case dbtest.Postgres:
			app := fmt.Sprintf("mikro_killflush_%d", time.Now().UnixNano())
			o = openAccts(t, dbtest.Target{Name: tg.Name, DB: reopen(t, tg.Driver, tg.DSN+"&application_name="+app)}, em.Config{})
			kill = func() {
				killWhenInserting(ctx, t, tg.DB, `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()
					AND pid <> pg_backend_pid() AND query LIKE 'INSERT%' AND state = 'active'`, "SELECT pg_terminate_backend($1)", app)
			}
		case dbtest.MariaDB:
			o = openAccts(t, dbtest.Target{Name: tg.Name, DB: reopen(t, tg.Driver, tg.DSN)}, em.Config{})
			kill = func() {
				killWhenInserting(ctx, t, tg.DB, `SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE()
					AND ID <> CONNECTION_ID() AND INFO LIKE 'INSERT%'`, "KILL CONNECTION ?")
			}
		default:
			db := faultconn.Wrap(dbconn.SQL(tg.DB))
			var err error
			o, err = em.OpenConn(ctx, db, em.Config{Dialect: dialectOf[tg.Name], Entities: []any{Acct{}}})
			must(t, err)
			must(t, o.RefreshSchema(ctx))
			db.FailStatement(30)
			kill = func() {}
		}
		e := o.Fork()
		for i := range n {
			must(t, e.Persist(&Acct{Name: fmt.Sprintf("r%05d", i), Balance: 1}))
		}
		done := make(chan struct{})
		go func() { defer close(done); kill() }()
		err := e.Flush(ctx)
		<-done
		rows, _ := countAccts(t, tg)
		if err == nil {
			t.Logf("the flush finished before its connection was killed")
			if rows != n {
				t.Fatalf("a flush that succeeded left %d rows, want %d", rows, n)
			}
			return
		}
		t.Logf("flush with its connection killed: %v", err)
		if rows != 0 {
			t.Fatalf("a flush whose connection was killed left %d of %d rows: want all or none", rows, n)
		}
		must(t, e.Flush(ctx))
		rows, _ = countAccts(t, tg)
		var distinct int64
		must(t, tg.DB.QueryRow("SELECT COUNT(DISTINCT name) FROM em_fault_acct").Scan(&distinct))
		if rows != n || distinct != n {
			t.Fatalf("after the retry: %d rows, %d distinct; want each of the %d rows once", rows, distinct, n)
		}
	})
}

// killWhenInserting polls find (with args) until it names a connection,
// then kills it with kill.
func killWhenInserting(ctx context.Context, t *testing.T, db *sql.DB, find, kill string, args ...any) {
	for ctx.Err() == nil {
		var id int64
		err := db.QueryRowContext(ctx, find, args...).Scan(&id)
		if err == sql.ErrNoRows {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			t.Errorf("finding the flush's connection: %v", err)
			return
		}
		if _, err := db.ExecContext(ctx, kill, id); err != nil && !strings.Contains(err.Error(), "Unknown thread") {
			t.Errorf("killing connection %d: %v", id, err)
		}
		return
	}
}

// TestKilledConnectionInTransaction (contract C3): the connection of an
// open transaction that has written is killed. The next call fails, every
// later call in the transaction fails with an error matching that one,
// Commit rolls back and returns it, and nothing of the transaction is in
// the database.
func TestKilledConnectionInTransaction(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var (
			o    *em.ORM
			kill func()
		)
		switch tg.Name {
		case dbtest.Postgres:
			app := fmt.Sprintf("mikro_killtx_%d", time.Now().UnixNano())
			o = openAccts(t, dbtest.Target{Name: tg.Name, DB: reopen(t, tg.Driver, tg.DSN+"&application_name="+app)}, em.Config{})
			kill = func() {
				killWhenInserting(ctx, t, tg.DB, `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()
					AND pid <> pg_backend_pid() AND state = 'idle in transaction'`, "SELECT pg_terminate_backend($1)", app)
			}
		case dbtest.MariaDB:
			o = openAccts(t, dbtest.Target{Name: tg.Name, DB: reopen(t, tg.Driver, tg.DSN)}, em.Config{})
			kill = func() {
				killWhenInserting(ctx, t, tg.DB, `SELECT p.ID FROM information_schema.PROCESSLIST p JOIN information_schema.INNODB_TRX x
					ON x.trx_mysql_thread_id = p.ID WHERE p.DB = DATABASE() AND p.ID <> CONNECTION_ID()`, "KILL CONNECTION ?")
			}
		default:
			t.Skip("an embedded SQLite has no connection to lose")
		}
		e := o.Fork()
		must(t, e.Begin(ctx))
		must(t, e.Persist(&Acct{Name: "x"}, &Acct{Name: "y"}))
		must(t, e.Flush(ctx))
		kill()
		_, first := em.Count[Acct](ctx, e, em.F{})
		if first == nil {
			t.Fatal("Count on a transaction whose connection was killed succeeded")
		}
		for what, err := range map[string]error{
			"Find":          func() error { _, err := em.Find[Acct](ctx, e, em.F{}); return err }(),
			"Flush":         func() error { must(t, e.Persist(&Acct{Name: "z"})); return e.Flush(ctx) }(),
			"Transactional": e.Transactional(ctx, func(*em.EntityManager) error { return nil }),
			"Commit":        e.Commit(ctx),
		} {
			if err == nil || !strings.Contains(err.Error(), first.Error()) {
				t.Errorf("%s after the connection was lost: %v; want an error that carries the first one (%v)", what, err, first)
			}
		}
		if e.InTransaction() {
			t.Error("Commit left the dead transaction open")
		}
		if rows, _ := countAccts(t, tg); rows != 0 {
			t.Fatalf("rows of the killed transaction in the database: %d, want 0", rows)
		}
	})
}
