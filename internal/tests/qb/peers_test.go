package qb_test

import (
	"context"
	"slices"
	"testing"

	sq "github.com/Masterminds/squirrel"
	"github.com/jmoiron/sqlx"

	"github.com/mikrogo/mikro/internal/dbtest"
	"github.com/mikrogo/mikro/qb"
)

func mustBuild(t *testing.T, q stmt) (string, []any) {
	t.Helper()
	sql, args, err := q.Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return sql, args
}

// TestToSqlForSquirrel: qb's ToSql uses '?' so a squirrel statement can number
// the placeholders; a qb statement nested in a squirrel one comes out right.
func TestQueryInsideSquirrel(t *testing.T) {
	sub := qb.Postgres.Select("user_id").From("posts").Where(qb.Gt("score", 10), qb.Raw("title <> '?'"))
	q := sq.Select("name").From("users").Where(sq.Eq{"active": true}).
		Where(sq.Expr("id IN (?)", sub)).
		Where(qb.Postgres.Fragment(qb.Eq("name", "x"))).
		PlaceholderFormat(sq.Dollar)
	sql, args, err := q.ToSql()
	if err != nil {
		t.Fatal(err)
	}
	want := `SELECT name FROM users WHERE active = $1 AND id IN (SELECT "user_id" FROM "posts" WHERE "score" > $2 AND (title <> '?')) AND "name" = $3`
	if sql != want || !slices.Equal(args, []any{true, 10, "x"}) {
		t.Errorf("got  %s %v\nwant %s", sql, args, want)
	}
	// A bare condition's ToSql is standard SQL.
	csql, cargs, err := qb.And(qb.Eq("a", 1), qb.In("b", []string{"x", "y"})).ToSql()
	if err != nil || csql != `"a" = ? AND "b" IN (?, ?)` || len(cargs) != 3 {
		t.Errorf("bare condition ToSql = %q %v %v", csql, cargs, err)
	}
}

type sqlxUser struct {
	ID    int64  `db:"id"`
	Name  string `db:"name"`
	Email string `db:"email"`
	Age   *int64 `db:"age"`
}

// TestRunsThroughSqlx: a built query runs through sqlx into structs, on every
// database, and a squirrel condition nested in it works there too.
func TestRunsThroughSqlx(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		ctx := context.Background()
		loadFixtures(t, ctx, tg)
		d := map[string]*qb.Dialect{dbtest.Postgres: qb.Postgres, dbtest.MariaDB: qb.MariaDB, dbtest.SQLite: qb.SQLite}[tg.Name]
		db := sqlx.NewDb(tg.DB, tg.Driver)
		q := d.Select("id", "name", "email", "age").From(users).
			Where(qb.Or(qb.IsNull("age"), qb.Gt("age", 30)), sq.NotEq{"name": "Dee"}).OrderBy("id")
		sql, args := mustBuild(t, q)
		var got []sqlxUser
		if err := sqlx.SelectContext(ctx, db, &got, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if len(got) != 2 || got[0].Name != "Ann" || got[0].Age == nil || *got[0].Age != 31 || got[1].Name != "Cid" || got[1].Age != nil {
			t.Fatalf("got %+v", got)
		}
	})
}
