package qb_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mikrogo/mikro/qb"
)

// stmt is what every qb statement builder has.
type stmt interface {
	Build() (string, []any, error)
}

func mustBuild(t *testing.T, q stmt) (string, []any) {
	t.Helper()
	sql, args, err := q.Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return sql, args
}

func TestDerivedQueriesDoNotAffectEachOther(t *testing.T) {
	base := qb.Postgres.Select("id").From("t").Where(qb.Eq("a", 1))
	// Grow base's lists past their first allocation so that both variants
	// extend the same backing array.
	base = base.Where(qb.Eq("b", 2)).Where(qb.Eq("c", 3))
	v1 := base.Where(qb.Eq("x", "one")).OrderBy("id")
	v2 := base.Where(qb.Eq("y", "two")).Limit(5)
	v3 := v1.Where(qb.Eq("z", "three"))

	want := map[string]string{
		"base": `SELECT "id" FROM "t" WHERE "a" = $1 AND "b" = $2 AND "c" = $3`,
		"v1":   `SELECT "id" FROM "t" WHERE "a" = $1 AND "b" = $2 AND "c" = $3 AND "x" = $4 ORDER BY "id"`,
		"v2":   `SELECT "id" FROM "t" WHERE "a" = $1 AND "b" = $2 AND "c" = $3 AND "y" = $4 LIMIT 5`,
		"v3":   `SELECT "id" FROM "t" WHERE "a" = $1 AND "b" = $2 AND "c" = $3 AND "x" = $4 AND "z" = $5 ORDER BY "id"`,
	}
	for name, q := range map[string]qb.SelectQuery{"base": base, "v1": v1, "v2": v2, "v3": v3} {
		if got, _ := mustBuild(t, q); got != want[name] {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want[name])
		}
	}
	ins := qb.SQLite.InsertInto("t").Columns("a")
	r1 := ins.Values(1).Values(2).Values(3)
	r2 := r1.Values(4)
	r3 := r1.Values(5)
	_, a2 := mustBuild(t, r2)
	_, a3 := mustBuild(t, r3)
	if fmt.Sprint(a2) != "[1 2 3 4]" || fmt.Sprint(a3) != "[1 2 3 5]" {
		t.Errorf("insert variants share rows: %v %v", a2, a3)
	}
}

// TestSharedBaseConcurrently derives queries from one shared base in many
// goroutines; under -race it proves the in-place append is safe.
func TestSharedBaseConcurrently(t *testing.T) {
	base := qb.Postgres.Select("id").From("t").Where(qb.Eq("a", 0)).Where(qb.Eq("b", 0))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := base
			for j := range 20 {
				q = q.Where(qb.Eq(fmt.Sprintf("c%d", j), i))
			}
			sql, args, err := q.Build()
			if err != nil {
				errs <- err
				return
			}
			if len(args) != 22 || args[2] != i || args[21] != i || !strings.Contains(sql, `"c19" = $22`) {
				errs <- fmt.Errorf("goroutine %d got %s %v", i, sql, args)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPlaceholdersNumberedThroughNesting(t *testing.T) {
	d := qb.Postgres
	cte := d.Select("id").From("a").Where(qb.Eq("x", 1))
	sub := d.Select("id").From("b").Where(qb.Eq("y", 2))
	q := d.Select("id").With("c", cte).From("c").Where(qb.In("id", sub), qb.Raw("z = ? OR z = ?", 3, d.Select(qb.Raw("?", 4)))).
		Union(d.Select("id").From("d").Where(qb.Eq("w", 5)))
	sql, args := mustBuild(t, q)
	for i := 1; i <= 5; i++ {
		if !strings.Contains(sql, fmt.Sprintf("$%d", i)) {
			t.Errorf("missing $%d in %s", i, sql)
		}
	}
	if strings.Contains(sql, "$6") || !slices.Equal(args, []any{1, 2, 3, 4, 5}) {
		t.Errorf("args out of order: %s %v", sql, args)
	}
}

// toSQLer is a condition from another builder (squirrel's Sqlizer has this
// method): a nil pointer to one must be an error, not a panic.
type toSQLer struct{ sql string }

func (s *toSQLer) ToSql() (string, []any, error) { return s.sql, nil, nil }

func TestErrorsInsteadOfPanics(t *testing.T) {
	var nilQuery *toSQLer
	var zero qb.SelectQuery
	cases := []struct {
		name string
		q    stmt
		is   error
	}{
		{"zero value query", zero, qb.ErrInvalid},
		{"nil dialect", (*qb.Dialect)(nil).Select("a").From("t"), qb.ErrInvalid},
		{"nil condition", qb.Postgres.Select("a").From("t").Where(nil), qb.ErrInvalid},
		{"nil Sqlizer pointer", qb.Postgres.Select("a").From("t").Where(nilQuery), qb.ErrInvalid},
		{"nil in And", qb.Postgres.Select("a").From("t").Where(qb.And(qb.Eq("a", 1), nil)), qb.ErrInvalid},
		{"bad left operand", qb.Postgres.Select("a").From("t").Where(qb.Eq(42, 1)), qb.ErrInvalid},
		{"nil left operand", qb.Postgres.Select("a").From("t").Where(qb.Eq(nil, 1)), qb.ErrInvalid},
		{"empty column list", qb.MySQL.Select().From("t"), qb.ErrInvalid},
		{"empty identifier", qb.MySQL.Select("").From("t"), qb.ErrInvalid},
		{"NUL in identifier", qb.MySQL.Select("a\x00b").From("t"), qb.ErrInvalid},
		{"empty insert", qb.SQLite.InsertInto("t"), qb.ErrInvalid},
		{"insert values without columns", qb.SQLite.InsertInto("t").Values(1), qb.ErrInvalid},
		{"insert two sources", qb.SQLite.InsertInto("t").Columns("a").Values(1).DefaultValues(), qb.ErrInvalid},
		{"upsert without action", qb.Postgres.InsertInto("t").Columns("a").Values(1).OnConflict("a"), qb.ErrInvalid},
		{"upsert update without target", qb.Postgres.InsertInto("t").Columns("a").Values(1).DoUpdateColumns("a"), qb.ErrInvalid},
		{"update without set", qb.Postgres.Update("t"), qb.ErrInvalid},
		{"raw with too few args", qb.Postgres.Select("a").From("t").Where(qb.Raw("a = ? AND b = ?", 1)), qb.ErrInvalid},
		{"raw with too many args", qb.Postgres.Select("a").From("t").Where(qb.Raw("a = ?", 1, 2)), qb.ErrInvalid},
		{"IN with a scalar", qb.Postgres.Select("a").From("t").Where(qb.In("a", 5)), qb.ErrInvalid},
		{"negative limit", qb.Postgres.Select("a").From("t").Limit(-1), qb.ErrInvalid},
		{"join without from", qb.Postgres.Select("a").Join("b", qb.Eq("a", 1)), qb.ErrInvalid},
		{"join without on", qb.Postgres.Select("a").From("t").Join("b", nil), qb.ErrInvalid},
		{"subquery without alias", qb.Postgres.Select("a").FromExpr(qb.Postgres.Select("a").From("t"), ""), qb.ErrInvalid},
		{"subquery of another dialect", qb.Postgres.Select("a").From("t").Where(qb.In("a", qb.MySQL.Select("a").From("u"))), qb.ErrInvalid},
		{"skip locked without lock", qb.Postgres.Select("a").From("t").SkipLocked(), qb.ErrInvalid},
		{"json without path", qb.Postgres.Select("a").From("t").Where(qb.Eq(qb.JSON("doc"), 1)), qb.ErrInvalid},
		{"json bad segment", qb.Postgres.Select("a").From("t").Where(qb.Eq(qb.JSON("doc", 1.5), 1)), qb.ErrInvalid},
		{"filter bad $or", qb.Postgres.Select("a").From("t").Where(qb.Filter(qb.M{"$or": "x"})), qb.ErrInvalid},
		{"filter unknown logical", qb.Postgres.Select("a").From("t").Where(qb.Filter(qb.M{"$nor": []any{}})), qb.ErrInvalid},
		{"filter $in scalar", qb.Postgres.Select("a").From("t").Where(qb.Filter(qb.M{"a": qb.M{"$in": 3}})), qb.ErrInvalid},
		{"sqlite FOR UPDATE", qb.SQLite.Select("a").From("t").ForUpdate(), qb.ErrUnsupported},
		{"mysql RETURNING", qb.MySQL.DeleteFrom("t").Returning("a"), qb.ErrUnsupported},
		{"mariadb LATERAL", qb.MariaDB.Select("a").From("t").JoinLateral(qb.JoinLeft, qb.MariaDB.Select("b").From("u"), "x", nil), qb.ErrUnsupported},
		{"mariadb FULL JOIN", qb.MariaDB.Select("a").From("t").JoinExpr(qb.JoinFull, qb.Ident("u"), "", qb.Raw("1 = 1")), qb.ErrUnsupported},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sql, args, err := c.q.Build()
			if !errors.Is(err, c.is) {
				t.Fatalf("want %v, got %v (sql %q)", c.is, err, sql)
			}
			if sql != "" || args != nil {
				t.Errorf("a failed Build returned SQL %q and args %v", sql, args)
			}
		})
	}
}

func TestTypedErrors(t *testing.T) {
	_, _, err := qb.SQLite.Select("a").From("t").ForUpdate().Build()
	var ue *qb.UnsupportedError
	if !errors.As(err, &ue) || ue.Dialect != "sqlite" || ue.Clause != "FOR UPDATE" {
		t.Fatalf("want *UnsupportedError{sqlite, FOR UPDATE}, got %#v", err)
	}
	_, _, err = qb.Postgres.Select("a").From("t").Where(qb.Filter(qb.M{"age": qb.M{"$foo": 1}})).Build()
	var ie *qb.InvalidError
	if !errors.As(err, &ie) || ie.Clause != "filter" || !strings.Contains(ie.Reason, `"age"`) || !strings.Contains(ie.Reason, `"$foo"`) {
		t.Fatalf("want *InvalidError naming the key and operator, got %#v", err)
	}
}

func TestQuoting(t *testing.T) {
	cases := []struct {
		d    *qb.Dialect
		name string
		want string
	}{
		{qb.Postgres, `we"ird`, `"we""ird"`},
		{qb.SQLite, `a"b"c`, `"a""b""c"`},
		{qb.MySQL, "we`ird", "`we``ird`"},
		{qb.MariaDB, "a.b", "`a.b`"},
	}
	for _, c := range cases {
		got, err := c.d.QuoteIdent(c.name)
		if err != nil || got != c.want {
			t.Errorf("%s.QuoteIdent(%q) = %q, %v; want %q", c.d, c.name, got, err, c.want)
		}
	}
	if _, err := qb.Postgres.QuoteIdent(""); !errors.Is(err, qb.ErrInvalid) {
		t.Errorf("empty identifier: %v", err)
	}
	sql, _ := mustBuild(t, qb.Postgres.Select(qb.Ident("s", "a.b"), "t.c").From(`sch.ta"ble x`))
	if want := `SELECT "s"."a.b", "t"."c" FROM "sch"."ta""ble" AS "x"`; sql != want {
		t.Errorf("got %s\nwant %s", sql, want)
	}
}
