package qb_test

import (
	"fmt"

	"github.com/mikrogo/mikro/qb"
)

// bigInts is n integer keys: the given ones, then keys no fixture row has.
func bigInts(n int, keys ...int) []int {
	out := append([]int(nil), keys...)
	for i := len(out); i < n; i++ {
		out = append(out, 1000+i)
	}
	return out
}

// bigStrings is n strings: the given ones, then names no fixture row has.
func bigStrings(n int, names ...string) []any {
	out := make([]any, 0, n)
	for _, s := range names {
		out = append(out, s)
	}
	for i := len(out); i < n; i++ {
		out = append(out, fmt.Sprintf("nobody %d", i))
	}
	return out
}

// bigInCases are the golden cases of IN lists long enough to be bound as
// one value (1,000 values and more).
func bigInCases() []gcase {
	return []gcase{
		{name: "where_in_big_ints", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(qb.In("id", bigInts(1000, 4, 2, 3))).OrderBy("id").Limit(2)
		}, want: rows(row("Bob"), row("Cid"))},
		{name: "where_not_in_big_strings", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(qb.NotIn("name", bigStrings(1500, "Ann", "Cid", `a "quoted" name`, "ünï"))).OrderBy("id")
		}, want: rows(row("Bob"), row("Dee"))},
		{name: "where_in_big_filter", build: func(d *qb.Dialect) stmt {
			return d.Select("title").From(posts).Where(qb.Filter(qb.M{"user_id": qb.M{"$in": bigInts(70_000, 1)}, "score": qb.M{"$gt": 10}})).OrderBy("title")
		}, want: rows(row("Go tips"), row("SQL"))},
		{name: "delete_where_in_big", build: func(d *qb.Dialect) stmt {
			return d.DeleteFrom(posts).Where(qb.In("id", bigInts(40_000, 1, 5)))
		}, check: func(d *qb.Dialect) stmt { return d.Select(qb.Raw("count(*)")).From(posts) }, want: rows(row(3))},
		{name: "update_where_not_in_big", build: func(d *qb.Dialect) stmt {
			return d.Update(posts).Set("score", 0).Where(qb.NotIn("id", bigInts(2000, 1, 2, 3, 4)))
		}, check: func(d *qb.Dialect) stmt { return d.Select("id", "score").From(posts).Where(qb.Eq("score", 0)) }, want: rows(row(5, 0))},
	}
}
