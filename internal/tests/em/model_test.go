package em_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/em/pgxdriver"
	"github.com/mikrogo/mikro/internal/dbtest"
	"github.com/mikrogo/mikro/internal/emtest"
)

// TestModel runs the model-based test of the unit of work (emtest.RunModel)
// on every SQL database, and on PostgreSQL both through database/sql and
// natively on pgx.
func TestModel(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		store := emtest.ModelStore{Name: tg.Name, SQL: true, Transactions: true}
		if tg.Name != dbtest.Postgres {
			emtest.RunModel(t, store, modelOpener(tg, false))
			return
		}
		// Two subtests, so that -run can pick either driver.
		t.Run("sql", func(t *testing.T) { emtest.RunModel(t, store, modelOpener(tg, false)) })
		t.Run("pgx", func(t *testing.T) { emtest.RunModel(t, store, modelOpener(tg, true)) })
	})
}

// modelApp names the model's connections on PostgreSQL, so that a kill
// reaches only them.
var modelApp = fmt.Sprintf("mikro_model_%d", os.Getpid())

// modelOpener opens the model's ORM on its own pool (through the faulting
// connector on database/sql), with the model's tables created; the
// target's own pool is the one that kills.
func modelOpener(tg dbtest.Target, native bool) emtest.ModelOpener {
	return func(t *testing.T, cfg em.Config) (*em.ORM, emtest.ModelKit) {
		t.Helper()
		ctx := context.Background()
		var (
			kit  emtest.ModelKit
			exec func(ctx context.Context, q string) error
			o    *em.ORM
			err  error
		)
		cfg.Dialect = dialectOf[tg.Name]
		if native {
			pc, perr := pgxpool.ParseConfig(tg.DSN)
			if perr != nil {
				t.Fatal(perr)
			}
			pc.ConnConfig.RuntimeParams["application_name"] = modelApp
			pool, perr := pgxpool.NewWithConfig(ctx, pc)
			if perr != nil {
				t.Fatal(perr)
			}
			t.Cleanup(pool.Close)
			exec = func(ctx context.Context, q string) error { _, err := pool.Exec(ctx, q); return err }
			o, err = pgxdriver.Open(ctx, pool, cfg)
		} else {
			dsn := tg.DSN
			if tg.Name == dbtest.Postgres {
				sep := "?"
				if strings.Contains(dsn, "?") {
					sep = "&"
				}
				dsn += sep + "application_name=" + modelApp
			}
			base, oerr := sql.Open(tg.Driver, dsn)
			if oerr != nil {
				t.Fatal(oerr)
			}
			fc := emtest.NewFaultConnector(base.Driver(), dsn)
			_ = base.Close()
			db := sql.OpenDB(fc)
			if tg.Name == dbtest.SQLite {
				db.SetMaxOpenConns(1)
			}
			t.Cleanup(func() { _ = db.Close() })
			kit.FailNth, kit.Hit, kit.LoseCommitAck, kit.AbortNth = fc.FailNth, fc.Hit, fc.LoseCommitAck, fc.AbortNth
			exec = func(ctx context.Context, q string) error { _, err := db.ExecContext(ctx, q); return err }
			cfg.DB = db
			o, err = em.Open(ctx, cfg)
		}
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = o.Close() })
		if err := o.RefreshSchema(ctx); err != nil {
			t.Fatalf("RefreshSchema: %v", err)
		}
		m, err := o.Meta(emtest.MParent{})
		if err != nil {
			t.Fatal(err)
		}
		var tables []string
		for _, rel := range m.Relations {
			if rel.Pivot != "" {
				tables = append(tables, rel.Pivot)
			}
		}
		tables = append(tables, "em_m_child", "em_m_parent", "em_m_label")
		kit.Reset = func(ctx context.Context) error {
			for _, tb := range tables {
				if err := exec(ctx, "DELETE FROM "+tb); err != nil {
					return err
				}
			}
			return nil
		}
		switch tg.Name {
		case dbtest.Postgres:
			kit.Kill = func(ctx context.Context) (int, error) {
				return killAndWait(ctx, tg.DB,
					`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND state LIKE 'idle in transaction%'`,
					`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND state LIKE 'idle in transaction%'`, modelApp)
			}
		case dbtest.MariaDB:
			kit.Kill = func(ctx context.Context) (int, error) { return killMariaDB(ctx, tg.DB) }
		}
		return o, kit
	}
}

// killAndWait runs kill and waits until count says the connections are gone.
// A backend that was still finishing its statement when kill ran (its
// state not yet "idle in transaction") is killed on a later round.
func killAndWait(ctx context.Context, db *sql.DB, kill, count string, args ...any) (int, error) {
	killed, left := 0, 0
	for round := range 5000 {
		if round%50 == 0 {
			var n int
			if err := db.QueryRowContext(ctx, kill, args...).Scan(&n); err != nil {
				return killed, fmt.Errorf("kill: %w", err)
			}
			killed += n
		}
		if err := db.QueryRowContext(ctx, count, args...).Scan(&left); err != nil {
			return killed, fmt.Errorf("count the killed: %w", err)
		}
		if left == 0 {
			return killed, nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return killed, fmt.Errorf("%d connections still there 10 s after killing %d", left, killed)
}

// killMariaDB kills every connection of this database but the killer's,
// and waits until they are gone. It used to kill only those inside an
// InnoDB transaction, which missed the model's own transaction while it had
// not yet touched a table (BEGIN and SAVEPOINT start none), and counted
// instead a connection of an earlier step whose rollback database/sql was
// still finishing in the background: the model then believed a live
// transaction dead. Idle connections of the pools die too; database/sql
// replaces them.
func killMariaDB(ctx context.Context, db *sql.DB) (int, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, `SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID() AND COMMAND NOT IN ('Killed', 'Daemon')`)
	if err != nil {
		return 0, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		_, err := conn.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id))
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == 1094 {
			continue // unknown thread: it closed on its own meanwhile
		}
		if err != nil {
			return 0, fmt.Errorf("KILL %d: %w", id, err)
		}
	}
	for _, id := range ids {
		for i := 0; ; i++ {
			var left int
			if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = ?`, id).Scan(&left); err != nil {
				return 0, err
			}
			if left == 0 {
				break
			}
			if i == 500 {
				return 0, fmt.Errorf("connection %d still there after KILL", id)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	return len(ids), nil
}
