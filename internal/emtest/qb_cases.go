package emtest

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mikrogo/mikro/em"
)

// runQueryBuilder is the behaviour case of em.QB: joins by relation path
// (reference, one-to-many, many-to-many both ways), paging that counts root
// entities across a to-many join, aggregates into maps and structs,
// subqueries, bulk update and delete, populate, and errors before any SQL.
func runQueryBuilder(t *testing.T, v env) {
	w := v.orm.Fork()
	goTag, dbTag := &Tag{Name: "go"}, &Tag{Name: "db"}
	ann := &Author{Name: "Ann", Rating: 4}
	bob := &Author{Name: "Bob", Rating: 2}
	cid := &Author{Name: "Cid", Rating: 1}
	book := &Book{Title: "Go"}
	ann.Reviews.Add(&Review{Text: "good", Book: em.RefTo(book)}, &Review{Text: "fine"})
	bob.Reviews.Add(&Review{Text: "meh"})
	ann.Tags.Add(goTag, dbTag)
	bob.Tags.Add(goTag)
	must(t, w.Persist(ann, bob, cid))
	must(t, w.Flush(v.ctx))

	e := v.orm.Fork()
	v.log.Reset()
	texts := func(rs []*Review) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.Text
		}
		return out
	}

	// A reference join, filtered and ordered by both aliases; the results
	// are the identity map's instances.
	known, err := em.FindOne[Review](v.ctx, e, em.F{"text": "good"})
	must(t, err)
	rs, err := em.QB[Review](e, "r").Join("r.author", "a").Where(em.F{"a.name": "Ann"}).OrderBy("r.text").All(v.ctx)
	must(t, err)
	if !slices.Equal(texts(rs), []string{"fine", "good"}) || rs[1] != known {
		t.Fatalf("reviews of Ann: %v (same instance: %v)", texts(rs), len(rs) == 2 && rs[1] == known)
	}

	// A to-many join: Limit counts authors, not joined rows, and an order
	// on the joined side takes each author's greatest value descending.
	as, err := em.QB[Author](e, "a").Join("a.reviews", "r").OrderBy("a.name").Limit(2).All(v.ctx)
	must(t, err)
	if !slices.Equal(names(as), []string{"Ann", "Bob"}) {
		t.Fatalf("two authors with reviews: %v", names(as))
	}
	as, err = em.QB[Author](e, "a").Join("a.reviews", "r").OrderBy("r.text DESC").All(v.ctx)
	must(t, err)
	if !slices.Equal(names(as), []string{"Bob", "Ann"}) {
		t.Fatalf("authors by their greatest review text, descending: %v", names(as))
	}
	n, err := em.QB[Author](e, "a").Join("a.reviews", "r").Count(v.ctx)
	must(t, err)
	if n != 2 {
		t.Fatalf("count of authors with reviews: %d", n)
	}

	// Many-to-many from the owning and from the inverse side.
	as, err = em.QB[Author](e, "a").Join("a.tags", "t").Where(em.F{"t.name": "db"}).All(v.ctx)
	must(t, err)
	if !slices.Equal(names(as), []string{"Ann"}) {
		t.Fatalf("authors tagged db: %v", names(as))
	}
	tags, err := em.QB[Tag](e, "t").Join("t.authors", "a").Where(em.F{"a.name": "Bob"}).All(v.ctx)
	must(t, err)
	if len(tags) != 1 || tags[0].Name != "go" {
		t.Fatalf("tags of Bob: %d", len(tags))
	}

	// Aggregates over a left join, grouped, with a HAVING, into maps and
	// into structs.
	base := em.QB[Author](e, "a").LeftJoin("a.reviews", "r").Select("a.name", "count(r.id) as n").GroupBy("a.name").OrderBy("a.name")
	rows, err := base.Execute(v.ctx)
	must(t, err)
	got := make([]string, len(rows))
	for i, r := range rows {
		got[i] = fmt.Sprintf("%v=%v", r["name"], r["n"])
	}
	if !slices.Equal(got, []string{"Ann=2", "Bob=1", "Cid=0"}) {
		t.Fatalf("reviews per author: %v", got)
	}
	type perAuthor struct {
		Name string `db:"name"`
		N    int64  `db:"n"`
	}
	var per []perAuthor
	must(t, base.Having(em.F{"count(r.id)": em.F{"$gte": 1}}).ExecuteInto(v.ctx, &per))
	if len(per) != 2 || per[0] != (perAuthor{"Ann", 2}) || per[1] != (perAuthor{"Bob", 1}) {
		t.Fatalf("authors with at least one review: %+v", per)
	}

	// A query builder as the list of $in.
	good := em.QB[Review](e, "r").Select("r.author").Where(em.F{"r.text": em.Like("g%")})
	as, err = em.QB[Author](e, "a").Where(em.F{"id": em.F{"$in": good}}).All(v.ctx)
	must(t, err)
	if !slices.Equal(names(as), []string{"Ann"}) {
		t.Fatalf("authors of good reviews: %v", names(as))
	}

	// Populate after a query builder's find.
	f := v.orm.Fork()
	rs, err = em.QB[Review](f, "r").Where(em.F{"r.text": "meh"}).Populate("author").All(v.ctx)
	must(t, err)
	if len(rs) != 1 {
		t.Fatalf("populated reviews: %d", len(rs))
	}
	if a, err := rs[0].Author.Get(); err != nil || a.Name != "Bob" {
		t.Fatalf("populated author: %v, %v", a, err)
	}
	none, err := em.QB[Review](f, "r").Where(em.F{"r.text": "nothing"}).One(v.ctx)
	if none != nil || err != nil {
		t.Fatalf("no single result: %v, %v", none, err)
	}

	// Bulk update and delete by filter, across a relation.
	changed, err := em.QB[Author](f, "a").Where(em.F{"a.name": "Cid"}).Update(v.ctx, em.F{"rating": 5.0})
	must(t, err)
	removed, err := em.QB[Review](f, "r").Where(em.F{"author.name": "Bob"}).Delete(v.ctx)
	must(t, err)
	if changed != 1 || removed != 1 {
		t.Fatalf("bulk update %d, delete %d rows; want 1 and 1", changed, removed)
	}
	g := v.orm.Fork()
	c, err := em.FindOneOrFail[Author](v.ctx, g, em.F{"name": "Cid"})
	must(t, err)
	left, err := em.Count[Review](v.ctx, g, nil)
	must(t, err)
	if c.Rating != 5 || left != 2 {
		t.Fatalf("after bulk: Cid's rating %v, %d reviews left", c.Rating, left)
	}

	checkGoldenSQL(t, "qb_"+v.target, v.log.All())

	// Several matches: One returns the first in the query's order, and
	// keeps the query's Offset (its Limit becomes 1).
	first, err := em.QB[Author](g, "a").OrderBy("a.name DESC").Limit(5).One(v.ctx)
	second, err2 := em.QB[Author](g, "a").OrderBy("a.name DESC").Offset(1).One(v.ctx)
	if err != nil || err2 != nil || first == nil || first.Name != "Cid" || second == nil || second.Name != "Bob" {
		t.Fatalf("One of three authors by name DESC: %+v, %v; with Offset 1: %+v, %v; want Cid, then Bob", first, err, second, err2)
	}

	// Mistakes are *FilterErrors naming entity and property, and no SQL runs.
	v.log.Reset()
	for _, bad := range []struct {
		run            func() error
		entity, propty string
	}{
		{func() error { _, err := em.QB[Review](g, "r").Join("r.writer", "a").All(v.ctx); return err }, "Review", "writer"},
		{func() error { _, err := em.QB[Review](g, "r").Join("x.author", "a").All(v.ctx); return err }, "Review", "x.author"},
		{func() error {
			_, err := em.QB[Review](g, "r").Where(em.F{"r.nope": 1}).All(v.ctx)
			return err
		}, "Review", "nope"},
		{func() error { _, err := em.QB[Review](g, "r").Select("r.nope").Execute(v.ctx); return err }, "Review", "nope"},
		{func() error { _, err := em.QB[Review](g, "r").Select("lower(r.text)").Execute(v.ctx); return err }, "Review", "lower(r.text)"},
		{func() error {
			_, err := em.QB[Review](g, "r").Join("r.author", "a").Where(em.F{"a.name": "Ann"}).Delete(v.ctx)
			return err
		}, "Review", "Delete"},
		{func() error { _, err := em.QB[Author](g, "a").Update(v.ctx, em.F{"nope": 1}); return err }, "Author", "nope"},
	} {
		err := bad.run()
		var fe *em.FilterError
		if !errors.As(err, &fe) || fe.Entity != bad.entity || fe.Property != bad.propty {
			t.Errorf("want a FilterError on %s.%s, got %v", bad.entity, bad.propty, err)
		}
	}
	if q := v.log.All(); len(q) != 0 {
		t.Fatalf("mistakes ran SQL: %v", q)
	}
}

// checkGoldenSQL compares the statements a case ran with
// testdata/<name>.golden; go test -run TestBehaviour -update rewrites them.
// Every statement in the file was thereby executed on its database.
func checkGoldenSQL(t *testing.T, name string, sqls []string) {
	t.Helper()
	CheckGolden(t, name, strings.Join(sqls, ";\n")+";\n")
}

// CheckGolden compares got with testdata/<name>.golden of the test's
// package, and rewrites the file first when the test binary's -update flag
// is set (each test binary that uses it defines that flag).
func CheckGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
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
