// Command quickstart shows mikro's query builder on the three SQL dialects and
// its entity manager on an in-memory SQLite database, so it needs no server:
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"

	_ "modernc.org/sqlite"

	"github.com/mikrogo/mikro/qb"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// statements builds the quickstart's queries for dialect d.
func statements(d *qb.Dialect) []qb.Sqlizer {
	return []qb.Sqlizer{
		d.InsertInto("users").Columns("id", "name", "email", "age").
			Values(1, "Ann", "ann@example.com", 31).
			Values(2, "Bob", "bob@example.com", 25).
			OnConflict("email").DoUpdateColumns("name", "age"),
		d.Update("users").Set("age", qb.Raw("age + ?", 1)).Where(qb.Eq("name", "Bob")),
		d.Select("u.name", "u.age").From("users u").
			Where(qb.Filter(qb.M{"age": qb.M{"$gte": 18}, "email": qb.M{"$like": "%@example.com"}})).
			OrderBy("u.age DESC").Limit(10),
	}
}

type builder interface {
	Build() (string, []any, error)
}

func run(ctx context.Context, w io.Writer) error {
	for _, d := range []*qb.Dialect{qb.Postgres, qb.MariaDB, qb.SQLite} {
		fmt.Fprintf(w, "-- %s\n", d)
		for _, s := range statements(d) {
			sql, args, err := s.(builder).Build()
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%s\n   args: %v\n", sql, args)
		}
	}

	db, err := sql.Open("sqlite", "file:quickstart?mode=memory")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE, age INT)`); err != nil {
		return err
	}
	stmts := statements(qb.SQLite)
	for _, s := range stmts[:2] {
		sql, args, err := s.(builder).Build()
		if err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, sql, args...); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	sql, args, err := stmts[2].(builder).Build()
	if err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	fmt.Fprintln(w, "-- rows on SQLite")
	for rows.Next() {
		var name string
		var age int
		if err := rows.Scan(&name, &age); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s %d\n", name, age)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	fmt.Fprintln(w, "-- entity manager on SQLite")
	return runEM(ctx, w)
}
