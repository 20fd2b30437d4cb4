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
		"-- entity manager on SQLite\nGo Deeper (30)\nGo in Practice (10)\nsame instance: true, price now 25\nbooks under 26: 3\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q\n%s", want, out.String())
		}
	}
}
