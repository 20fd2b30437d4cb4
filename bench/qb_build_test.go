package bench

import (
	"fmt"
	"strings"
	"testing"

	sq "github.com/Masterminds/squirrel"
	"github.com/doug-martin/goqu/v9"
	_ "github.com/doug-martin/goqu/v9/dialect/postgres"
	"github.com/huandu/go-sqlbuilder"

	"github.com/mikrogo/mikro/qb"
)

// Each scenario builds the same PostgreSQL statement with every contender,
// from scratch in the loop, values bound as $n arguments. checkBuilds (run
// before timing and by TestBuildersAgree) proves they do the same work.

type contender struct {
	name  string
	build func() (string, []any, error)
	// extra is how many more arguments the contender binds for the same
	// statement: goqu and go-sqlbuilder bind LIMIT and OFFSET too, and goqu
	// writes "= true" as IS TRUE without an argument.
	extra int
}

var pgGoqu = goqu.Dialect("postgres")

var ids3 = []any{1, 2, 3}

func insertRows(n int) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{fmt.Sprintf("user%d", i), fmt.Sprintf("u%d@example.com", i), 20 + i%50, i%2 == 0}
	}
	return rows
}

var rows3, rows100 = insertRows(3), insertRows(100)

func scenarios() map[string][]contender {
	return map[string][]contender{
		"TypicalSelect": {
			{name: "qb", build: func() (string, []any, error) {
				return qb.Postgres.Select("u.id", "u.name", "u.email", "p.title").
					From("users u").
					Join("posts p", qb.Eq("p.user_id", qb.C("u.id"))).
					Where(qb.Eq("u.active", true), qb.Gt("u.age", 18), qb.Like("p.title", "go%")).
					OrderBy("p.created_at DESC").
					Limit(10).Build()
			}},
			{name: "squirrel", build: func() (string, []any, error) {
				return sq.StatementBuilder.PlaceholderFormat(sq.Dollar).
					Select("u.id", "u.name", "u.email", "p.title").
					From("users u").
					Join("posts p ON p.user_id = u.id").
					Where(sq.Eq{"u.active": true}).Where(sq.Gt{"u.age": 18}).Where(sq.Like{"p.title": "go%"}).
					OrderBy("p.created_at DESC").
					Limit(10).ToSql()
			}},
			{name: "goqu", build: func() (string, []any, error) {
				return pgGoqu.From(goqu.T("users").As("u")).Prepared(true).
					Select("u.id", "u.name", "u.email", "p.title").
					Join(goqu.T("posts").As("p"), goqu.On(goqu.I("p.user_id").Eq(goqu.I("u.id")))).
					Where(goqu.I("u.active").Eq(true), goqu.I("u.age").Gt(18), goqu.I("p.title").Like("go%")).
					Order(goqu.I("p.created_at").Desc()).
					Limit(10).ToSQL()
			}},
			{name: "sqlbuilder", extra: 1, build: func() (string, []any, error) {
				sb := sqlbuilder.PostgreSQL.NewSelectBuilder()
				sb.Select("u.id", "u.name", "u.email", "p.title").
					From("users u").
					Join("posts p", "p.user_id = u.id").
					Where(sb.Equal("u.active", true), sb.GreaterThan("u.age", 18), sb.Like("p.title", "go%")).
					OrderBy("p.created_at").Desc().
					Limit(10)
				s, a := sb.Build()
				return s, a, nil
			}},
		},
		"SimpleIn": {
			{name: "qb", build: func() (string, []any, error) {
				return qb.Postgres.Select("id", "name").From("users").Where(qb.In("id", ids3)).Build()
			}},
			{name: "squirrel", build: func() (string, []any, error) {
				return sq.StatementBuilder.PlaceholderFormat(sq.Dollar).Select("id", "name").From("users").Where(sq.Eq{"id": ids3}).ToSql()
			}},
			{name: "goqu", build: func() (string, []any, error) {
				return pgGoqu.From("users").Prepared(true).Select("id", "name").Where(goqu.C("id").In(ids3...)).ToSQL()
			}},
			{name: "sqlbuilder", build: func() (string, []any, error) {
				sb := sqlbuilder.PostgreSQL.NewSelectBuilder()
				sb.Select("id", "name").From("users").Where(sb.In("id", ids3...))
				s, a := sb.Build()
				return s, a, nil
			}},
		},
		"Update": {
			{name: "qb", build: func() (string, []any, error) {
				return qb.Postgres.Update("users").Set("name", "Ann").Set("age", 32).Where(qb.Eq("id", 7)).Build()
			}},
			{name: "squirrel", build: func() (string, []any, error) {
				return sq.StatementBuilder.PlaceholderFormat(sq.Dollar).Update("users").Set("name", "Ann").Set("age", 32).Where(sq.Eq{"id": 7}).ToSql()
			}},
			{name: "goqu", build: func() (string, []any, error) {
				return pgGoqu.Update("users").Prepared(true).Set(goqu.Record{"name": "Ann", "age": 32}).Where(goqu.C("id").Eq(7)).ToSQL()
			}},
			{name: "sqlbuilder", build: func() (string, []any, error) {
				ub := sqlbuilder.PostgreSQL.NewUpdateBuilder()
				ub.Update("users").Set(ub.Assign("name", "Ann"), ub.Assign("age", 32)).Where(ub.Equal("id", 7))
				s, a := ub.Build()
				return s, a, nil
			}},
		},
		"Insert3":   insertContenders(rows3),
		"Insert100": insertContenders(rows100),
		"ComplexSelect": {
			{name: "qb", build: func() (string, []any, error) {
				return qb.Postgres.Select("a", "b", "c", "d", "e").Distinct().From("items").
					Where(qb.Eq("x", 1), qb.Gt("y", 2), qb.In("z", ids3), qb.Like("w", "a%")).
					GroupBy("a", "b", "c").
					Having(qb.Gt(qb.Raw("count(*)"), 1), qb.Lt(qb.Raw("sum(d)"), 100), qb.NotEq(qb.Raw("max(e)"), 0)).
					OrderBy("a", "b DESC", "c").
					Limit(20).Offset(40).Build()
			}},
			{name: "squirrel", build: func() (string, []any, error) {
				return sq.StatementBuilder.PlaceholderFormat(sq.Dollar).Select("a", "b", "c", "d", "e").Distinct().From("items").
					Where(sq.Eq{"x": 1}).Where(sq.Gt{"y": 2}).Where(sq.Eq{"z": ids3}).Where(sq.Like{"w": "a%"}).
					GroupBy("a", "b", "c").
					Having("count(*) > ?", 1).Having("sum(d) < ?", 100).Having("max(e) <> ?", 0).
					OrderBy("a", "b DESC", "c").
					Limit(20).Offset(40).ToSql()
			}},
			{name: "goqu", extra: 2, build: func() (string, []any, error) {
				return pgGoqu.From("items").Prepared(true).Select("a", "b", "c", "d", "e").Distinct().
					Where(goqu.C("x").Eq(1), goqu.C("y").Gt(2), goqu.C("z").In(ids3...), goqu.C("w").Like("a%")).
					GroupBy("a", "b", "c").
					Having(goqu.COUNT("*").Gt(1), goqu.SUM("d").Lt(100), goqu.MAX("e").Neq(0)).
					Order(goqu.C("a").Asc(), goqu.C("b").Desc(), goqu.C("c").Asc()).
					Limit(20).Offset(40).ToSQL()
			}},
			{name: "sqlbuilder", extra: 2, build: func() (string, []any, error) {
				sb := sqlbuilder.PostgreSQL.NewSelectBuilder()
				sb.Select("a", "b", "c", "d", "e").Distinct().From("items").
					Where(sb.Equal("x", 1), sb.GreaterThan("y", 2), sb.In("z", ids3...), sb.Like("w", "a%")).
					GroupBy("a", "b", "c").
					Having(sb.GreaterThan("count(*)", 1), sb.LessThan("sum(d)", 100), sb.NotEqual("max(e)", 0)).
					OrderBy("a", "b DESC", "c").
					Limit(20).Offset(40)
				s, a := sb.Build()
				return s, a, nil
			}},
		},
	}
}

func insertContenders(rows [][]any) []contender {
	cols := []string{"name", "email", "age", "active"}
	return []contender{
		{name: "qb", build: func() (string, []any, error) {
			q := qb.Postgres.InsertInto("users").Columns(cols...)
			for _, r := range rows {
				q = q.Values(r...)
			}
			return q.Build()
		}},
		{name: "squirrel", build: func() (string, []any, error) {
			q := sq.StatementBuilder.PlaceholderFormat(sq.Dollar).Insert("users").Columns(cols...)
			for _, r := range rows {
				q = q.Values(r...)
			}
			return q.ToSql()
		}},
		{name: "goqu", build: func() (string, []any, error) {
			q := pgGoqu.Insert("users").Prepared(true).Cols("name", "email", "age", "active")
			vals := make([][]any, len(rows))
			copy(vals, rows)
			return q.Vals(vals...).ToSQL()
		}},
		{name: "sqlbuilder", build: func() (string, []any, error) {
			ib := sqlbuilder.PostgreSQL.NewInsertBuilder()
			ib.InsertInto("users").Cols(cols...)
			for _, r := range rows {
				ib.Values(r...)
			}
			s, a := ib.Build()
			return s, a, nil
		}},
	}
}

// shape is what every contender of a scenario must agree on: the statement
// kind, the number of bound arguments, and the highest placeholder.
func checkBuilds(tb testing.TB, scenario string, cs []contender) {
	tb.Helper()
	var wantArgs int
	for i, c := range cs {
		sql, args, err := c.build()
		if err != nil {
			tb.Fatalf("%s/%s: %v", scenario, c.name, err)
		}
		if i == 0 {
			wantArgs = len(args)
		}
		if len(args) != wantArgs+c.extra {
			tb.Fatalf("%s/%s binds %d arguments, qb binds %d: %s", scenario, c.name, len(args), wantArgs, sql)
		}
		if n := wantArgs + c.extra; !strings.Contains(sql, fmt.Sprintf("$%d", n)) || strings.Contains(sql, fmt.Sprintf("$%d", n+1)) {
			tb.Fatalf("%s/%s: placeholders do not run $1…$%d: %s", scenario, c.name, wantArgs, sql)
		}
	}
}

func BenchmarkBuild(b *testing.B) {
	sc := scenarios()
	for _, name := range []string{"TypicalSelect", "SimpleIn", "Update", "Insert3", "Insert100", "ComplexSelect"} {
		checkBuilds(b, name, sc[name])
		for _, c := range sc[name] {
			b.Run(name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := c.build(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestBuildersAgree checks that every contender builds the same work, and
// pins the SQL of the typical select for each.
func TestBuildersAgree(t *testing.T) {
	sc := scenarios()
	for name, cs := range sc {
		checkBuilds(t, name, cs)
	}
	want := map[string]string{
		"qb":         `SELECT "u"."id", "u"."name", "u"."email", "p"."title" FROM "users" AS "u" INNER JOIN "posts" AS "p" ON "p"."user_id" = "u"."id" WHERE "u"."active" = $1 AND "u"."age" > $2 AND "p"."title" LIKE $3 ORDER BY "p"."created_at" DESC LIMIT 10`,
		"squirrel":   `SELECT u.id, u.name, u.email, p.title FROM users u JOIN posts p ON p.user_id = u.id WHERE u.active = $1 AND u.age > $2 AND p.title LIKE $3 ORDER BY p.created_at DESC LIMIT 10`,
		"goqu":       `SELECT "u"."id", "u"."name", "u"."email", "p"."title" FROM "users" AS "u" INNER JOIN "posts" AS "p" ON ("p"."user_id" = "u"."id") WHERE (("u"."active" IS TRUE) AND ("u"."age" > $1) AND ("p"."title" LIKE $2)) ORDER BY "p"."created_at" DESC LIMIT $3`,
		"sqlbuilder": `SELECT u.id, u.name, u.email, p.title FROM users u JOIN posts p ON p.user_id = u.id WHERE u.active = $1 AND u.age > $2 AND p.title LIKE $3 ORDER BY p.created_at DESC LIMIT $4`,
	}
	for _, c := range sc["TypicalSelect"] {
		sql, _, err := c.build()
		if err != nil || sql != want[c.name] {
			t.Errorf("%s:\n got %s (%v)\nwant %s", c.name, sql, err, want[c.name])
		}
	}
}
