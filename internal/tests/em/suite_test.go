package em_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/em/pgxdriver"
	"github.com/mikrogo/mikro/internal/dbtest"
	"github.com/mikrogo/mikro/internal/emtest"
	"github.com/mikrogo/mikro/qb"
)

var dialectOf = map[string]*qb.Dialect{dbtest.Postgres: qb.Postgres, dbtest.MariaDB: qb.MariaDB, dbtest.SQLite: qb.SQLite}

// opener opens the suite's ORMs on one SQL database, through database/sql
// or natively on pgx, with a fresh schema.
func opener(tg dbtest.Target, native bool) emtest.Opener {
	return func(t *testing.T, cfg em.Config) *em.ORM {
		t.Helper()
		ctx := context.Background()
		cfg.DB, cfg.Dialect = tg.DB, dialectOf[tg.Name]
		var (
			o   *em.ORM
			err error
		)
		if native {
			pool, perr := pgxpool.New(ctx, tg.DSN)
			if perr != nil {
				t.Fatal(perr)
			}
			t.Cleanup(pool.Close)
			o, err = pgxdriver.Open(ctx, pool, cfg)
		} else {
			o, err = em.Open(ctx, cfg)
		}
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if err := o.RefreshSchema(ctx); err != nil {
			t.Fatalf("RefreshSchema: %v", err)
		}
		return o
	}
}

// TestBehaviour runs the shared suite (package emtest) on every database,
// and on PostgreSQL both through database/sql and natively on pgx.
func TestBehaviour(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		emtest.Run(t, emtest.Store{Name: tg.Name, SQL: true}, opener(tg, false))
		if tg.Name == dbtest.Postgres {
			t.Run("pgx", func(t *testing.T) {
				emtest.Run(t, emtest.Store{Name: tg.Name, SQL: true}, opener(tg, true))
			})
		}
	})
}

func ptr[T any](v T) *T { return &v }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
