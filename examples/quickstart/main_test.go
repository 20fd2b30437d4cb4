package main

import (
	"context"
	"strings"
	"testing"
)

func TestQuickstart(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`INSERT INTO "users" ("id", "name", "email", "age") VALUES ($1, $2, $3, $4), ($5, $6, $7, $8) ON CONFLICT ("email") DO UPDATE SET "name" = EXCLUDED."name", "age" = EXCLUDED."age"`,
		"ON DUPLICATE KEY UPDATE `name` = VALUES(`name`), `age` = VALUES(`age`)",
		`SELECT "u"."name", "u"."age" FROM "users" AS "u" WHERE "age" >= ? AND "email" LIKE ? ORDER BY "u"."age" DESC LIMIT 10`,
		"-- rows on SQLite\nAnn 31\nBob 26\n",
		"-- persist an author and three books, flush once\n   SQL: BEGIN\n   SQL: INSERT INTO \"author\" (\"name\", \"version\") VALUES (?, ?) RETURNING \"id\"\n" +
			"   SQL: INSERT INTO \"book\" (\"title\", \"price\", \"author_id\", \"created_at\") VALUES (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?) RETURNING \"id\"\n   SQL: COMMIT\n",
		"Go Deeper (30)\nGo in Practice (10)\n-- find by key again: no SQL\nsame instance: true\n",
		"-- change one field, flush: an UPDATE of that column\n   SQL: UPDATE \"book\" SET \"price\" = ? WHERE \"id\" = ?\n-- flush with nothing changed: no SQL\n-- count in a new unit of work\n   SQL: SELECT count(*)",
		"books under 26: 3\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q\n%s", want, out.String())
		}
	}
}
