package qb_test

import (
	sq "github.com/Masterminds/squirrel"

	"github.com/mikrogo/mikro/qb"
)

// users and posts are the fixture tables (see loadFixtures).
const (
	users = "qb_users"
	posts = "qb_posts"
)

func userNames(d *qb.Dialect) stmt { return d.Select("id", "name").From(users).OrderBy("id") }

func goldenCases() []gcase {
	return append([]gcase{
		// SELECT basics.
		{name: "select_columns", build: func(d *qb.Dialect) stmt {
			return d.Select("id", "name").From(users).Where(qb.Eq("id", 2))
		}, want: rows(row(2, "Bob"))},
		{name: "select_star_alias", build: func(d *qb.Dialect) stmt {
			return d.Select("u.*").From(users + " AS u").Where(qb.Eq("u.id", 4)).Columns(qb.As(qb.Raw("? + 1", 1), "extra"))
		}, want: rows(row(4, "Dee", "dee@example.com", 42, 1, "NULL", 2))},
		{name: "select_distinct", build: func(d *qb.Dialect) stmt {
			return d.Select("user_id").Distinct().From(posts).OrderBy("user_id")
		}, want: rows(row(1), row(2), row(4))},
		{name: "select_distinct_on", build: func(d *qb.Dialect) stmt {
			return d.Select("user_id", "title").DistinctOn("user_id").From(posts).OrderBy("user_id", "score DESC")
		}, want: rows(row(1, "Go tips"), row(2, "JS"), row(4, "Dee's")), unsupported: []string{"mysql", "mariadb", "sqlite"}},
		{name: "select_from_subquery", build: func(d *qb.Dialect) stmt {
			sub := d.Select("user_id", qb.As(qb.Raw("sum(score)"), "total")).From(posts).GroupBy("user_id")
			return d.Select("t.user_id", "t.total").FromExpr(sub, "t").Where(qb.Gt("t.total", 6)).OrderBy("t.total DESC")
		}, want: rows(row(1, 45), row(4, 7))},
		{name: "select_no_columns", build: func(d *qb.Dialect) stmt { return d.Select().From(users) }, invalid: true},
		{name: "select_bad_table_ref", build: func(d *qb.Dialect) stmt { return d.Select("id").From("users u x") }, invalid: true},

		// Joins.
		{name: "join_inner", build: func(d *qb.Dialect) stmt {
			return d.Select("u.name", "p.title").From(users+" u").Join(posts+" p", qb.Eq("p.user_id", qb.C("u.id"))).
				Where(qb.Gte("p.score", 10)).OrderBy("p.score DESC")
		}, want: rows(row("Ann", "Go tips"), row("Ann", "SQL"), row("Ann", "Hello"))},
		{name: "join_left", build: func(d *qb.Dialect) stmt {
			return d.Select("u.name", qb.As(qb.Raw("count(p.id)"), "n")).From(users+" u").
				LeftJoin(posts+" p", qb.Eq("p.user_id", qb.C("u.id"))).GroupBy("u.name").OrderBy("u.name")
		}, want: rows(row("Ann", 3), row("Bob", 1), row("Cid", 0), row("Dee", 1))},
		{name: "join_right", build: func(d *qb.Dialect) stmt {
			return d.Select("p.title", "u.name").From(posts+" p").RightJoin(users+" u", qb.Eq("p.user_id", qb.C("u.id"))).
				Where(qb.IsNull("p.id"))
		}, want: rows(row("NULL", "Cid"))},
		{name: "join_full", build: func(d *qb.Dialect) stmt {
			return d.Select("u.name", "p.title").From(users+" u").
				JoinExpr(qb.JoinFull, qb.Ident(posts), "p", qb.And(qb.Eq("p.user_id", qb.C("u.id")), qb.Gt("p.score", 12))).
				OrderBy("u.name", "p.title")
		}, want: rows(row("Ann", "Go tips"), row("Ann", "SQL"), row("Bob", "NULL"), row("Cid", "NULL"), row("Dee", "NULL"),
			row("NULL", "Dee's"), row("NULL", "Hello"), row("NULL", "JS")),
			unordered: true, unsupported: []string{"mysql", "mariadb"}},
		{name: "join_cross", build: func(d *qb.Dialect) stmt {
			return d.Select(qb.Raw("count(*)")).From(users + " a").CrossJoin(users + " b")
		}, want: rows(row(16))},
		{name: "join_using", build: func(d *qb.Dialect) stmt {
			sub := d.Select("user_id", qb.As(qb.Raw("max(score)"), "best")).From(posts).GroupBy("user_id")
			return d.Select("p.title").From(posts+" p").JoinExpr(qb.JoinInner, sub, "b", qb.And(qb.Eq("b.user_id", qb.C("p.user_id")), qb.Eq("b.best", qb.C("p.score")))).
				JoinUsing(qb.JoinInner, posts+" q", "id").OrderBy("p.title")
		}, want: rows(row("Dee's"), row("Go tips"), row("JS"))},
		{name: "join_lateral", build: func(d *qb.Dialect) stmt {
			top := d.Select("title").From(posts + " p").Where(qb.Eq("p.user_id", qb.C("u.id"))).OrderBy("score DESC").Limit(1)
			return d.Select("u.name", "t.title").From(users+" u").JoinLateral(qb.JoinCross, top, "t", nil).OrderBy("u.name")
		}, want: rows(row("Ann", "Go tips"), row("Bob", "JS"), row("Dee", "Dee's")), unsupported: []string{"mariadb", "sqlite"}},

		// Conditions.
		{name: "where_eq_nil", build: func(d *qb.Dialect) stmt {
			var age *int
			return d.Select("name").From(users).Where(qb.Eq("age", age))
		}, want: rows(row("Cid"))},
		{name: "where_noteq_nil", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(qb.NotEq("age", nil), qb.NotEq("name", "Bob")).OrderBy("name")
		}, want: rows(row("Ann"), row("Dee"))},
		{name: "where_comparisons", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(qb.Gt("age", 25), qb.Lt("age", 42), qb.Gte("id", 1), qb.Lte("id", 4))
		}, want: rows(row("Ann"))},
		{name: "where_in", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(qb.In("id", []int{1, 3, 9})).OrderBy("name")
		}, want: rows(row("Ann"), row("Cid"))},
		{name: "where_in_empty", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(qb.In("id", []int{}))
		}, want: rows()},
		{name: "where_not_in_empty", build: func(d *qb.Dialect) stmt {
			return d.Select(qb.Raw("count(*)")).From(users).Where(qb.NotIn("id", []string{}))
		}, want: rows(row(4))},
		{name: "where_not_in", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(qb.NotIn("name", []any{"Ann", "Bob"})).OrderBy("name")
		}, want: rows(row("Cid"), row("Dee"))},
		{name: "where_in_subquery", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(qb.In("id", d.Select("user_id").From(posts).Where(qb.Lt("score", 8)))).OrderBy("name")
		}, want: rows(row("Bob"), row("Dee"))},
		{name: "where_like", build: func(d *qb.Dialect) stmt {
			return d.Select("title").From(posts).Where(qb.Like("title", "%tips"), qb.NotLike("title", "x%"))
		}, want: rows(row("Go tips"))},
		{name: "where_ilike", build: func(d *qb.Dialect) stmt {
			return d.Select("title").From(posts).Where(qb.ILike("title", "go%"), qb.NotILike("title", "%X%"))
		}, want: rows(row("Go tips"))},
		{name: "where_between", build: func(d *qb.Dialect) stmt {
			return d.Select("id").From(posts).Where(qb.Between("score", 7, 15), qb.NotBetween("id", 4, 4)).OrderBy("id")
		}, want: rows(row(1), row(5))},
		{name: "where_is_null", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(qb.IsNull("age"), qb.IsNotNull("data"))
		}, want: rows(row("Cid"))},
		{name: "where_exists", build: func(d *qb.Dialect) stmt {
			has := d.Select(qb.Raw("1")).From(posts + " p").Where(qb.Eq("p.user_id", qb.C("u.id")))
			return d.Select("u.name").From(users + " u").Where(qb.NotExists(has)).OrderBy("u.name")
		}, want: rows(row("Cid"))},
		{name: "where_exists_nested", build: func(d *qb.Dialect) stmt {
			has := d.Select(qb.Raw("1")).From(posts+" p").Where(qb.Eq("p.user_id", qb.C("u.id")), qb.Gt("p.score", 12))
			return d.Select("u.name").From(users+" u").Where(qb.Exists(has), qb.Eq("u.active", true))
		}, want: rows(row("Ann"))},
		{name: "where_and_or_not", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(
				qb.Or(qb.And(qb.Gt("age", 30), qb.Eq("active", true)), qb.Eq("name", "Bob")),
				qb.Not(qb.Eq("id", 4)),
			).OrderBy("name")
		}, want: rows(row("Ann"), row("Bob"))},
		{name: "where_raw", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(qb.Raw("LOWER(name) = ? OR id IN (?)", "bob", d.Select("user_id").From(posts).Where(qb.Eq("title", "Dee's")))).OrderBy("name")
		}, want: rows(row("Bob"), row("Dee"))},
		{name: "where_raw_quoted_mark", build: func(d *qb.Dialect) stmt {
			return d.Select(qb.As(qb.Raw("'?'"), "q"), "name").From(users).Where(qb.Raw("id = ?", 1))
		}, want: rows(row("?", "Ann"))},
		{name: "where_squirrel", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(sq.Eq{"name": []string{"Ann", "Bob", "Cid"}}, sq.Expr("age > ?", 26), qb.Eq("active", true))
		}, want: rows(row("Ann"))},
		{name: "where_filter_map", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(qb.Filter(qb.M{
				"age":  qb.M{"$gte": 25, "$lt": 40},
				"$or":  []any{qb.M{"name": "Ann"}, qb.M{"email": qb.M{"$like": "bob%"}}},
				"id":   []int{1, 2, 3},
				"$not": qb.M{"active": false},
			})).OrderBy("name")
		}, want: rows(row("Ann"), row("Bob"))},
		{name: "where_filter_operators", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(qb.Filter(qb.M{
				"age":   qb.M{"$exists": true, "$ne": 31, "$in": []int{25, 31, 42}, "$nin": []int{}, "$not": qb.M{"$gt": 30}, "$lte": 99},
				"email": qb.M{"$ilike": "B%", "$nlike": "%.org", "$eq": "bob@example.com"},
				"$and":  []any{qb.M{"data": qb.M{"$exists": true}}},
			}))
		}, want: rows(row("Bob"))},
		{name: "where_filter_unknown_operator", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(qb.Filter(qb.M{"age": qb.M{"$gt": 1, "$regex": ".*"}}))
		}, invalid: true},

		// JSON.
		{name: "json_key", build: func(d *qb.Dialect) stmt {
			return d.Select("name", qb.As(qb.JSON("data", "city"), "city")).From(users).Where(qb.Eq(qb.JSON("data", "city"), "Oslo")).OrderBy("name")
		}, want: rows(row("Ann", "Oslo"), row("Cid", "Oslo"))},
		{name: "json_index", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(qb.Eq(qb.JSON("data", "tags", 1), "sql"))
		}, want: rows(row("Ann"))},
		{name: "json_escaped_key", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(qb.Eq(qb.JSON("data", `odd "key`), "q"))
		}, want: rows(row("Ann"))},
		{name: "json_key_injection", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(qb.IsNotNull(qb.JSON("data", `city" ') OR 1=1 OR ('`)))
		}, want: rows()},

		// GROUP BY, ORDER BY, LIMIT.
		{name: "group_having", build: func(d *qb.Dialect) stmt {
			return d.Select("user_id", qb.As(qb.Raw("count(*)"), "n"), qb.As(qb.Raw("sum(score)"), "total")).From(posts).
				GroupBy("user_id").Having(qb.Gt(qb.Raw("count(*)"), 0), qb.Lt(qb.Raw("sum(score)"), 40)).OrderBy(qb.Desc(qb.Raw("sum(score)")))
		}, want: rows(row(4, 1, 7), row(2, 1, 5))},
		{name: "order_nulls_first", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).OrderBy(qb.Desc("age").NullsFirst())
		}, want: rows(row("Cid"), row("Dee"), row("Ann"), row("Bob"))},
		{name: "order_nulls_last", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).OrderBy("age ASC NULLS LAST", "name")
		}, want: rows(row("Bob"), row("Ann"), row("Dee"), row("Cid"))},
		{name: "order_bad_item", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).OrderBy("age; DROP TABLE x")
		}, invalid: true},
		{name: "limit_offset", build: func(d *qb.Dialect) stmt {
			return d.Select("id").From(posts).OrderBy("id").Limit(2).Offset(1)
		}, want: rows(row(2), row(3))},
		{name: "offset_only", build: func(d *qb.Dialect) stmt {
			return d.Select("id").From(posts).OrderBy("id").Offset(3)
		}, want: rows(row(4), row(5))},

		// Locking reads.
		{name: "for_update", build: func(d *qb.Dialect) stmt {
			return d.Select("id").From(users).Where(qb.Eq("id", 1)).ForUpdate()
		}, want: rows(row(1)), unsupported: []string{"sqlite"}},
		{name: "for_share", build: func(d *qb.Dialect) stmt {
			return d.Select("id").From(users).Where(qb.Eq("id", 1)).ForShare()
		}, want: rows(row(1)), unsupported: []string{"sqlite"}},
		{name: "for_update_skip_locked", build: func(d *qb.Dialect) stmt {
			return d.Select("id").From(users).Where(qb.Lte("id", 2)).OrderBy("id").ForUpdate().SkipLocked()
		}, want: rows(row(1), row(2)), unsupported: []string{"sqlite"}},
		{name: "for_update_nowait_of", build: func(d *qb.Dialect) stmt {
			return d.Select("u.id").From(users+" u").Join(posts+" p", qb.Eq("p.user_id", qb.C("u.id"))).Where(qb.Eq("p.id", 3)).ForUpdate().LockOf("u").NoWait()
		}, want: rows(row(2)), unsupported: []string{"mariadb", "sqlite"}},
		{name: "for_share_nowait", build: func(d *qb.Dialect) stmt {
			return d.Select("id").From(users).Where(qb.Eq("id", 3)).ForShare().NoWait()
		}, want: rows(row(3)), unsupported: []string{"sqlite"}},

		// WITH.
		{name: "cte", build: func(d *qb.Dialect) stmt {
			best := d.Select("user_id", qb.As(qb.Raw("max(score)"), "best")).From(posts).GroupBy("user_id")
			return d.Select("u.name", "b.best").With("b", best).From(users+" u").Join("b", qb.Eq("b.user_id", qb.C("u.id"))).OrderBy("b.best DESC")
		}, want: rows(row("Ann", 20), row("Dee", 7), row("Bob", 5))},
		{name: "cte_recursive", build: func(d *qb.Dialect) stmt {
			step := d.Select(qb.Raw("n + ?", 1)).From("seq").Where(qb.Lt("n", 5))
			body := d.Select(qb.Raw("1")).UnionAll(step)
			return d.Select(qb.Raw("sum(n)")).WithRecursive("seq", body, "n").From("seq")
		}, want: rows(row(15))},

		// Set operations.
		{name: "union", build: func(d *qb.Dialect) stmt {
			return d.Select("name").From(users).Where(qb.Lt("id", 3)).Union(d.Select("name").From(users).Where(qb.Gt("id", 1))).OrderBy("name")
		}, want: rows(row("Ann"), row("Bob"), row("Cid"), row("Dee"))},
		{name: "union_all_limit", build: func(d *qb.Dialect) stmt {
			a := d.Select("user_id").From(posts).Where(qb.Eq("user_id", 1))
			b := d.Select("id").From(users).Where(qb.Eq("id", 1))
			return a.UnionAll(b).UnionAll(b).OrderBy("user_id").Limit(4)
		}, want: rows(row(1), row(1), row(1), row(1))},
		{name: "union_operand_with_limit", build: func(d *qb.Dialect) stmt {
			top := d.Select("title").From(posts).OrderBy("score DESC").Limit(1)
			low := d.Select("title").From(posts).OrderBy("score").Limit(1)
			return top.Union(low).OrderBy("title")
		}, want: rows(row("Go tips"), row("JS"))},
		{name: "intersect", build: func(d *qb.Dialect) stmt {
			return d.Select("id").From(users).Intersect(d.Select("user_id").From(posts)).OrderBy("id")
		}, want: rows(row(1), row(2), row(4))},
		{name: "except", build: func(d *qb.Dialect) stmt {
			return d.Select("id").From(users).Except(d.Select("user_id").From(posts))
		}, want: rows(row(3))},
		{name: "union_with_where", build: func(d *qb.Dialect) stmt {
			return d.Select("id").From(users).Union(d.Select("id").From(posts)).Where(qb.Eq("id", 1))
		}, invalid: true},

		// INSERT.
		{name: "insert_row", build: func(d *qb.Dialect) stmt {
			return d.InsertInto(users).Columns("id", "name", "email", "active").Values(10, "Eve", "eve@example.com", false)
		}, check: userNames, want: rows(row(1, "Ann"), row(2, "Bob"), row(3, "Cid"), row(4, "Dee"), row(10, "Eve"))},
		{name: "insert_rows", build: func(d *qb.Dialect) stmt {
			return d.InsertInto(posts).Columns("id", "user_id", "title", "score").Values(10, 3, "a", 1).Values(11, 3, "b", qb.Raw("? * 2", 2))
		}, check: func(d *qb.Dialect) stmt {
			return d.Select("title", "score").From(posts).Where(qb.Eq("user_id", 3)).OrderBy("id")
		}, want: rows(row("a", 1), row("b", 4))},
		{name: "insert_select", build: func(d *qb.Dialect) stmt {
			return d.InsertInto(posts).Columns("id", "user_id", "title", "score").
				Select(d.Select(qb.Raw("id + ?", 100), "id", "name", qb.Raw("?", 0)).From(users).Where(qb.IsNull("age")))
		}, check: func(d *qb.Dialect) stmt {
			return d.Select("id", "title").From(posts).Where(qb.Gt("id", 100))
		}, want: rows(row(103, "Cid"))},
		{name: "insert_default_values", build: func(d *qb.Dialect) stmt {
			return d.InsertInto("qb_counters").DefaultValues()
		}, check: func(d *qb.Dialect) stmt { return d.Select("n").From("qb_counters") }, want: rows(row(7))},
		{name: "insert_returning", build: func(d *qb.Dialect) stmt {
			return d.InsertInto("qb_counters").Columns("n").Values(3).Values(4).Returning("n")
		}, want: rows(row(3), row(4)), unsupported: []string{"mysql"}},
		{name: "insert_empty", build: func(d *qb.Dialect) stmt { return d.InsertInto(users) }, invalid: true},
		{name: "insert_row_length", build: func(d *qb.Dialect) stmt {
			return d.InsertInto(users).Columns("id", "name").Values(1)
		}, invalid: true},
		{name: "upsert_do_nothing", build: func(d *qb.Dialect) stmt {
			return d.InsertInto(users).Columns("id", "name", "email", "active").Values(10, "Ann2", "ann@example.com", true).OnConflict("email").DoNothing()
		}, check: userNames, want: rows(row(1, "Ann"), row(2, "Bob"), row(3, "Cid"), row(4, "Dee"))},
		{name: "upsert_do_update", build: func(d *qb.Dialect) stmt {
			return d.InsertInto(users).Columns("id", "name", "email", "age", "active").
				Values(10, "Ann2", "ann@example.com", 1, true).
				Values(11, "Fay", "fay@example.com", 2, true).
				OnConflict("email").DoUpdateColumns("name").DoUpdateSet("age", qb.Raw("? + 1", 99))
		}, check: func(d *qb.Dialect) stmt {
			return d.Select("id", "name", "age").From(users).Where(qb.In("id", []int{1, 10, 11})).OrderBy("id")
		},
			want: rows(row(1, "Ann2", 100), row(11, "Fay", 2))},
		{name: "upsert_do_update_where", build: func(d *qb.Dialect) stmt {
			return d.InsertInto(users).Columns("id", "name", "email", "active").Values(10, "Ann2", "ann@example.com", true).
				OnConflict("email").DoUpdateColumns("name").DoUpdateWhere(qb.Gt(users+".age", 40))
		}, check: userNames, want: rows(row(1, "Ann"), row(2, "Bob"), row(3, "Cid"), row(4, "Dee")), unsupported: []string{"mysql", "mariadb"}},

		// UPDATE.
		{name: "update_set", build: func(d *qb.Dialect) stmt {
			return d.Update(users).Set("name", "Bobby").Set("age", nil).Where(qb.Eq("id", 2))
		}, check: func(d *qb.Dialect) stmt { return d.Select("name", "age").From(users).Where(qb.Eq("id", 2)) }, want: rows(row("Bobby", "NULL"))},
		{name: "update_expr", build: func(d *qb.Dialect) stmt {
			return d.Update(posts).SetMap(map[string]any{"score": qb.Raw("score * ?", 10), "title": qb.Raw("UPPER(title)")}).Where(qb.Eq("user_id", 2))
		}, check: func(d *qb.Dialect) stmt { return d.Select("title", "score").From(posts).Where(qb.Eq("id", 3)) }, want: rows(row("JS", 50))},
		{name: "update_subquery_value", build: func(d *qb.Dialect) stmt {
			return d.Update(users).Set("age", d.Select(qb.Raw("max(score)")).From(posts)).Where(qb.Eq("id", 3))
		}, check: func(d *qb.Dialect) stmt { return d.Select("age").From(users).Where(qb.Eq("id", 3)) }, want: rows(row(20))},
		{name: "update_from", build: func(d *qb.Dialect) stmt {
			return d.Update(posts).Set("score", qb.C("u.age")).From(users+" u").Where(qb.Eq("u.id", qb.C(posts+".user_id")), qb.Eq("u.name", "Dee"))
		}, check: func(d *qb.Dialect) stmt { return d.Select("score").From(posts).Where(qb.Eq("id", 4)) }, want: rows(row(42)),
			unsupported: []string{"mysql", "mariadb"}},
		{name: "update_order_limit", build: func(d *qb.Dialect) stmt {
			return d.Update(posts).Set("score", 0).OrderBy("score DESC").Limit(2)
		}, check: func(d *qb.Dialect) stmt { return d.Select("id").From(posts).Where(qb.Eq("score", 0)).OrderBy("id") }, want: rows(row(2), row(5)),
			unsupported: []string{"postgres", "sqlite"}},
		{name: "update_returning", build: func(d *qb.Dialect) stmt {
			return d.Update(posts).Set("score", qb.Raw("score + ?", 1)).Where(qb.Eq("user_id", 2)).Returning("id", "score")
		}, want: rows(row(3, 6)), unsupported: []string{"mysql", "mariadb"}},
		{name: "update_with_cte", build: func(d *qb.Dialect) stmt {
			return d.Update(posts).With("top", d.Select("id").From(posts).OrderBy("score DESC").Limit(1)).Set("title", "Top").
				Where(qb.In("id", d.Select("id").From("top")))
		}, check: func(d *qb.Dialect) stmt { return d.Select("id").From(posts).Where(qb.Eq("title", "Top")) }, want: rows(row(2)),
			unsupported: []string{"mariadb"}},
		{name: "update_no_set", build: func(d *qb.Dialect) stmt { return d.Update(users).Where(qb.Eq("id", 1)) }, invalid: true},

		// DELETE.
		{name: "delete_where", build: func(d *qb.Dialect) stmt {
			return d.DeleteFrom(posts).Where(qb.Lt("score", 10))
		}, check: func(d *qb.Dialect) stmt { return d.Select("id").From(posts).OrderBy("id") }, want: rows(row(1), row(2), row(5))},
		{name: "delete_using", build: func(d *qb.Dialect) stmt {
			return d.DeleteFrom(posts).Using(users+" u").Where(qb.Eq("u.id", qb.C(posts+".user_id")), qb.Eq("u.name", "Ann"))
		}, check: func(d *qb.Dialect) stmt { return d.Select("id").From(posts).OrderBy("id") }, want: rows(row(3), row(4)),
			unsupported: []string{"mysql", "mariadb", "sqlite"}},
		{name: "delete_returning", build: func(d *qb.Dialect) stmt {
			return d.DeleteFrom(posts).Where(qb.Eq("user_id", 4)).Returning("id", "title")
		}, want: rows(row(4, "Dee's")), unsupported: []string{"mysql"}},
		{name: "delete_order_limit", build: func(d *qb.Dialect) stmt {
			return d.DeleteFrom(posts).OrderBy("score").Limit(1)
		}, check: func(d *qb.Dialect) stmt { return d.Select(qb.Raw("min(score)")).From(posts) }, want: rows(row(7)),
			unsupported: []string{"postgres", "sqlite"}},
		{name: "delete_with_cte", build: func(d *qb.Dialect) stmt {
			return d.DeleteFrom(posts).With("low", d.Select("id").From(posts).Where(qb.Lt("score", 10))).
				Where(qb.In("id", d.Select("id").From("low")))
		}, check: func(d *qb.Dialect) stmt { return d.Select(qb.Raw("count(*)")).From(posts) }, want: rows(row(3)),
			unsupported: []string{"mariadb"}},
	}, bigInCases()...)
}
