package qb_test

import (
	"fmt"

	"github.com/mikrogo/mikro/qb"
)

func Example() {
	q := qb.Postgres.Select("u.id", "u.name").
		From("users u").
		Join("posts p", qb.Eq("p.user_id", qb.C("u.id"))).
		Where(qb.Eq("u.active", true), qb.Gt("p.score", 10)).
		OrderBy("u.name DESC").
		Limit(10)
	sql, args, err := q.Build()
	fmt.Println(sql)
	fmt.Println(args, err)
	// Output:
	// SELECT "u"."id", "u"."name" FROM "users" AS "u" INNER JOIN "posts" AS "p" ON "p"."user_id" = "u"."id" WHERE "u"."active" = $1 AND "p"."score" > $2 ORDER BY "u"."name" DESC LIMIT 10
	// [true 10] <nil>
}

func ExampleFilter() {
	q := qb.MySQL.Select("id").From("users").Where(qb.Filter(qb.M{
		"age":  qb.M{"$gte": 18},
		"role": []string{"admin", "owner"},
		"$or":  []any{qb.M{"banned": nil}, qb.M{"banned": false}},
	}))
	sql, args, _ := q.Build()
	fmt.Println(sql)
	fmt.Println(args)
	// Output:
	// SELECT `id` FROM `users` WHERE (`banned` IS NULL OR `banned` = ?) AND `age` >= ? AND `role` IN (?, ?)
	// [false 18 admin owner]
}

func ExampleInsertQuery_OnConflict() {
	for _, d := range []*qb.Dialect{qb.Postgres, qb.MySQL, qb.MariaDB} {
		sql, _, _ := d.InsertInto("users").Columns("email", "name").Values("a@example.com", "Ann").
			OnConflict("email").DoUpdateColumns("name").Build()
		fmt.Println(sql)
	}
	// Output:
	// INSERT INTO "users" ("email", "name") VALUES ($1, $2) ON CONFLICT ("email") DO UPDATE SET "name" = EXCLUDED."name"
	// INSERT INTO `users` (`email`, `name`) VALUES (?, ?) AS `new` ON DUPLICATE KEY UPDATE `name` = `new`.`name`
	// INSERT INTO `users` (`email`, `name`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)
}

func ExampleJSON() {
	sql, args, _ := qb.Postgres.Select("id").From("users").Where(qb.Eq(qb.JSON("profile", "address", "city"), "Oslo")).Build()
	fmt.Println(sql)
	fmt.Println(args)
	// Output:
	// SELECT "id" FROM "users" WHERE ("profile" -> $1::text ->> $2::text) = $3
	// [address city Oslo]
}

func ExampleSelectQuery_Union() {
	active := qb.SQLite.Select("email").From("users").Where(qb.Eq("active", true))
	invited := qb.SQLite.Select("email").From("invites")
	sql, _, _ := active.Union(invited).OrderBy("email").Limit(100).Build()
	fmt.Println(sql)
	// Output:
	// SELECT "email" FROM "users" WHERE "active" = ? UNION SELECT "email" FROM "invites" ORDER BY "email" LIMIT 100
}

func ExampleSelectQuery_Build_unsupported() {
	_, _, err := qb.SQLite.Select("id").From("jobs").ForUpdate().SkipLocked().Build()
	fmt.Println(err)
	// Output:
	// qb: FOR UPDATE is not supported by sqlite
}
