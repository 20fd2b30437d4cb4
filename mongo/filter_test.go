package mongo

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mikrogo/mikro/em"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

type fAuthor struct {
	ID    string  `db:"id" orm:"pk"`
	Name  string  `db:"name"`
	Email *string `db:"email"`
	Born  time.Time
}

type fBook struct {
	ID     int64           `db:"id" orm:"pk,assigned"`
	Title  string          `db:"title"`
	Author em.Ref[fAuthor] `db:"author_id"`
}

// TestFilterGolden compiles a table of em filters to BSON and compares the
// extended JSON with testdata/filters.golden (go test -run TestFilterGolden
// -update rewrites it). The behaviour tests run the same operators on the
// server.
func TestFilterGolden(t *testing.T) {
	orm, err := Open(context.Background(), &mongo.Database{}, em.Config{Entities: []any{fAuthor{}, fBook{}}})
	if err != nil {
		t.Fatal(err)
	}
	author, _ := orm.Meta(fAuthor{})
	book, _ := orm.Meta(fBook{})
	oid := "650000000000000000000001"
	cases := []struct {
		name string
		m    *em.EntityMeta
		f    em.F
	}{
		{"eq", author, em.F{"name": "Ann"}},
		{"nil_is_null_or_missing", author, em.F{"email": nil}},
		{"key_as_objectid", author, em.F{"id": oid}},
		{"in_list", author, em.F{"name": []string{"a", "b"}}},
		{"operators_sorted", author, em.F{"name": em.F{"$ne": "x", "$gt": "a", "$lte": "z"}}},
		{"nin_and_exists", author, em.F{"name": em.Nin([]string{"q"}), "email": em.Exists(true)}},
		{"like_is_anchored_regex", author, em.F{"name": em.Like("A%_.b")}},
		{"ilike", author, em.F{"name": em.ILike("ann%")}},
		{"nlike", author, em.F{"name": em.F{"$nlike": "x%"}}},
		{"not_operators", author, em.F{"name": em.F{"$not": em.F{"$in": []string{"a"}}}}},
		{"and_or", author, em.F{"$or": []em.F{{"name": "a"}, {"$and": []em.F{{"name": "b"}, {"email": "e"}}}}}},
		{"empty_or_matches_nothing", author, em.F{"$or": []em.F{}}},
		{"not_filter", author, em.F{"$not": em.F{"name": "a"}}},
		{"time", author, em.F{"born": em.Gte(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC))}},
		{"reference_key_objectid", book, em.F{"author": oid}},
		{"reference_keys_in", book, em.F{"author": em.In([]string{oid})}},
		{"integer_key", book, em.F{"id": int64(7)}},
		{"operator_looking_value", author, em.F{"name": "$gt"}},
		{"map_value_is_not_a_document", author, em.F{"name": em.Eq(map[string]any{"$gt": ""})}},
	}
	// The entity manager parses and checks a filter, the backend compiles
	// what it is handed.
	compile := func(m *em.EntityMeta, f em.F) (bson.D, error) {
		parsed, err := em.ParseFilter(m, f)
		if err != nil {
			return nil, err
		}
		return compileFilter(m, parsed)
	}
	var b strings.Builder
	for _, c := range cases {
		d, err := compile(c.m, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		js, err := bson.MarshalExtJSON(d, true, false)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b.WriteString(c.name + ": " + string(js) + "\n")
	}
	checkGolden(t, "filters", b.String())

	// Mistakes are *em.FilterErrors.
	for _, bad := range []em.F{{"nope": 1}, {"name": em.F{"$where": "1"}}, {"id": "not-hex"}, {"name": em.F{"$in": 3}}} {
		_, err := compile(author, bad)
		if !errors.Is(err, em.ErrInvalidFilter) {
			t.Errorf("%v: want a FilterError, got %v", bad, err)
		}
	}
}

// update rewrites testdata/*.golden: go test -run TestFilterGolden -update.
var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// checkGolden compares got with testdata/<name>.golden, rewriting the file
// first under -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -update after checking):\n--- want\n%s--- got\n%s", path, want, got)
	}
}
