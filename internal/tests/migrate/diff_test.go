package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/internal/dbtest"
	"github.com/mikrogo/mikro/internal/emtest"
	"github.com/mikrogo/mikro/migrate"
	"github.com/mikrogo/mikro/qb"
)

var dialectOf = map[string]*qb.Dialect{dbtest.Postgres: qb.Postgres, dbtest.MariaDB: qb.MariaDB, dbtest.SQLite: qb.SQLite}

// devFor opens the dev database next to tg: mikro_dev on the same server,
// created if missing, or a second SQLite database.
func devFor(t *testing.T, tg dbtest.Target) *sql.DB {
	t.Helper()
	ctx := context.Background()
	var dsn string
	switch tg.Name {
	case dbtest.Postgres:
		var n int
		_ = tg.DB.QueryRowContext(ctx, "SELECT count(*) FROM pg_database WHERE datname = 'mikro_dev'").Scan(&n)
		if n == 0 {
			if _, err := tg.DB.ExecContext(ctx, "CREATE DATABASE mikro_dev"); err != nil && !strings.Contains(err.Error(), "already exists") {
				t.Fatal(err)
			}
		}
		u, err := url.Parse(tg.DSN)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/mikro_dev"
		dsn = u.String()
	case dbtest.MariaDB:
		if _, err := tg.DB.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS mikro_dev"); err != nil {
			t.Fatal(err)
		}
		slash, q := strings.LastIndex(tg.DSN, "/"), strings.Index(tg.DSN, "?")
		if q < 0 {
			q = len(tg.DSN)
		}
		dsn = tg.DSN[:slash+1] + "mikro_dev" + tg.DSN[q:]
	default:
		dsn = "file:" + t.TempDir() + "/dev.db?_pragma=foreign_keys(1)"
	}
	db, err := sql.Open(tg.Driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestNoNoisyDiffs: the schema created from the entities (em's behaviour
// suite model and emtest.AllKinds: every type and option) diffs empty against itself on every database, a real change
// is found and planned both ways, and applying the plan makes the diff
// empty again.
func TestNoNoisyDiffs(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		ctx := context.Background()
		orm, err := em.Open(ctx, em.Config{DB: tg.DB, Dialect: dialectOf[tg.Name], Entities: emtest.SchemaEntities})
		if err != nil {
			t.Fatal(err)
		}
		if err := orm.RefreshSchema(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = orm.DropSchema(context.Background()) })
		dev := devFor(t, tg)
		if err := migrate.Check(ctx, orm, tg.DB, dev); err != nil {
			t.Fatalf("a schema created from the entities must diff empty:\n%v", err)
		}
		// A real difference: an index dropped behind the entities' back.
		drop := "DROP INDEX idx_em_book_title"
		if tg.Name == dbtest.MariaDB {
			drop += " ON em_book"
		}
		if _, err := tg.DB.ExecContext(ctx, drop); err != nil {
			t.Fatal(err)
		}
		c, err := migrate.Diff(ctx, orm, tg.DB, dev)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Up) != 1 || !strings.Contains(c.Up[0], "idx_em_book_title") || len(c.Down) != 1 {
			t.Fatalf("the dropped index: up %q, down %q", c.Up, c.Down)
		}
		var drift *migrate.DriftError
		if err := migrate.Check(ctx, orm, tg.DB, dev); !errors.As(err, &drift) || len(drift.Statements) != 1 {
			t.Fatalf("Check must report the drift: %v", err)
		}
		if err := migrate.Apply(ctx, tg.DB, c); err != nil {
			t.Fatal(err)
		}
		if err := migrate.Check(ctx, orm, tg.DB, dev); err != nil {
			t.Fatalf("after applying the plan: %v", err)
		}
	})
}
