package qb_test

import (
	"fmt"
	"testing"

	"github.com/mikrogo/mikro/qb"
)

func TestSmoke(t *testing.T) {
	for _, d := range []*qb.Dialect{qb.Postgres, qb.MySQL, qb.MariaDB, qb.SQLite} {
		q := d.Select("u.id", "u.name", qb.As(qb.Raw("count(*)"), "n")).From("users u").
			LeftJoin("posts p", qb.Eq("p.user_id", qb.C("u.id"))).
			Where(qb.Eq("u.active", true), qb.In("u.id", []int{1, 2, 3}), qb.Or(qb.Gt("age", 3), qb.IsNull("age")), qb.ILike("name", "%a%")).
			GroupBy("u.id", "u.name").Having(qb.Gt(qb.Raw("count(*)"), 1)).
			OrderBy("u.name DESC NULLS LAST").Limit(10).Offset(5)
		fmt.Println(q.Build())
		fmt.Println(d.InsertInto("users").Columns("name", "email").Values("a", "b").Values("c", "d").OnConflict("email").DoUpdateColumns("name").Build())
		fmt.Println(d.Select("*").From("t").Where(qb.Eq(qb.JSON("data", "a\"b", 0), "x"), qb.Filter(qb.M{"a": 1, "b": qb.M{"$in": []int{}}, "$or": []any{qb.M{"c": nil}, qb.M{"d": qb.M{"$ne": 2}}}})).Build())
	}
}
