// Package qb is a dialect-aware SQL builder for PostgreSQL, MySQL, MariaDB and
// SQLite. It depends on nothing outside the standard library and can be used on
// its own, without the rest of mikro.
//
// A statement starts from a dialect value and is refined by chained calls:
//
//	q := qb.Postgres.Select("id", "name").
//		From("users u").
//		Where(qb.Eq("u.active", true), qb.Gt("u.age", 18)).
//		OrderBy("u.name").
//		Limit(10)
//	sql, args, err := q.Build()
//	// SELECT "id", "name" FROM "users" AS "u" WHERE "u"."active" = $1 AND "u"."age" > $2 ORDER BY "u"."name" LIMIT 10
//
// # Values and identifiers
//
// Values are always bound as arguments, never written into the SQL text.
// Identifiers (tables, columns, aliases) are always quoted for the dialect, and a
// quote character inside a name is escaped, so a name can never leave its quotes.
// A name given as a string is split on dots ("u.name" is the column name of
// table u); use [Ident] for a name that itself contains a dot.
//
// # Immutability
//
// Builders are values. Every method returns a new builder and leaves its
// receiver unchanged, so a base query can be shared (also between goroutines)
// and extended into any number of variants that never affect each other:
//
//	base := qb.SQLite.Select("*").From("posts")
//	published := base.Where(qb.Eq("published", true))
//	drafts := base.Where(qb.Eq("published", false)) // base and published are unchanged
//
// # Errors
//
// Builder methods never panic on bad input. The first problem found (an empty
// column list, a clause the dialect cannot express, an unknown filter operator)
// is remembered and returned by [SelectQuery.Build] and the other Build methods.
// Errors are [*UnsupportedError] (errors.Is(err, ErrUnsupported)) and
// [*InvalidError] (errors.Is(err, ErrInvalid)).
//
// # squirrel and sqlx
//
// Every expression and statement has squirrel's ToSql method, so it can be
// placed inside a squirrel statement, and every place that takes an [Expr]
// accepts any squirrel Sqlizer. Build returns the SQL in the dialect's
// placeholder style and can be passed straight to database/sql or sqlx.
package qb
