package emtest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mikrogo/mikro/em"
)

// The writes that bypass the unit of work, NativeInsert, NativeUpdate,
// NativeDelete, Upsert and UpsertMany, on every store: the same returns,
// the same filter language, the same errors, and upserted entities
// managed with what the store holds, as on SQL (issue 13).

func init() {
	behaviourCases = append(behaviourCases,
		behaviourCase{name: "native_insert", run: nativeInsert},
		behaviourCase{name: "native_update_and_delete", run: nativeUpdateAndDelete},
		behaviourCase{name: "upsert_by_unique_key", run: upsertByUniqueKey},
		behaviourCase{name: "upsert_by_primary_key", run: upsertByPrimaryKey},
		behaviourCase{name: "upsert_refusals", run: upsertRefusals},
	)
}

// authorByName reads an author through a fresh fork, failing if it is
// not there.
func authorByName(t *testing.T, v env, name string) *Author {
	t.Helper()
	a, err := em.FindOneOrFail[Author](v.ctx, v.orm.Fork(), em.F{"name": name})
	must(t, err)
	return a
}

// nativeInsert: NativeInsert returns the key in the key field's type (the
// generated one, or the given one), stores what data says with values
// converted, manages nothing, and refuses what a NOT NULL or unique
// column refuses.
func nativeInsert(t *testing.T, v env) {
	e := v.orm.Fork()
	id, err := em.NativeInsert[Author](v.ctx, e, map[string]any{"name": "Nat", "rating": 2, "version": 1})
	must(t, err)
	key, ok := id.(int64)
	if !ok || key == 0 {
		t.Fatalf("NativeInsert of an author returned %v (%T), want its generated int64 key", id, id)
	}
	if n := v.log.Count("INSERT"); n != 1 {
		t.Fatalf("NativeInsert logged %d inserts: %v", n, v.log.All())
	}
	nat := authorByName(t, v, "Nat")
	if nat.ID != key || nat.Rating != 2 || nat.Version != 1 || nat.Email != nil || nat.Favorite.IsSet() {
		t.Fatalf("stored %+v, want key %d, rating 2, version 1, no email, no favorite", nat, key)
	}
	// Nothing is managed: a find in the same manager queries.
	v.log.Reset()
	got, err := em.FindOneOrFail[Author](v.ctx, e, key)
	must(t, err)
	if v.log.Count("SELECT") != 1 || got.Name != "Nat" {
		t.Fatalf("the inserted author was managed (or not found): %+v, %v", got, v.log.All())
	}
	// Another generated key, and a reference given as a Ref, an entity or a key.
	id2, err := em.NativeInsert[Author](v.ctx, e, map[string]any{"name": "Ned", "rating": 2.5, "version": 3, "email": "ned@example.com"})
	must(t, err)
	if id2 == id || id2.(int64) == 0 {
		t.Fatalf("a second NativeInsert returned key %v after %v", id2, id)
	}
	for i, ref := range []any{em.RefTo(got), got, got.ID} {
		rid, err := em.NativeInsert[Review](v.ctx, e, map[string]any{"text": fmt.Sprint("r", i), "author": ref})
		must(t, err)
		r, err := em.FindOneOrFail[Review](v.ctx, v.orm.Fork(), rid)
		must(t, err)
		if r.Author.ID() != any(key) || r.Book.IsSet() {
			t.Fatalf("review %d given its author as %T: author %v, book set %v", i, ref, r.Author.ID(), r.Book.IsSet())
		}
	}
	// An assigned key is returned as given.
	code, err := em.NativeInsert[Publisher](v.ctx, e, map[string]any{"code": "ox", "name": "Oxford"})
	must(t, err)
	if code != any("ox") {
		t.Fatalf("NativeInsert of a publisher returned %v (%T), want \"ox\"", code, code)
	}
	if n, err := em.Count[Publisher](v.ctx, v.orm.Fork(), em.F{"name": "Oxford"}); err != nil || n != 1 {
		t.Fatalf("the publisher is not stored: %d, %v", n, err)
	}

	// What a schema refuses: a duplicate, a missing and a NULL value.
	v.log.Reset()
	_, err = em.NativeInsert[Author](v.ctx, e, map[string]any{"name": "Nat", "rating": 1, "version": 1})
	if !errors.Is(err, em.ErrUniqueViolation) {
		t.Fatalf("NativeInsert of a duplicate name: %v, want ErrUniqueViolation", err)
	}
	_, err = em.NativeInsert[Author](v.ctx, e, map[string]any{"name": "Nil", "rating": 1})
	if !errors.Is(err, em.ErrNotNullViolation) {
		t.Fatalf("NativeInsert without the version (not nullable, no default): %v, want ErrNotNullViolation", err)
	}
	_, err = em.NativeInsert[Author](v.ctx, e, map[string]any{"name": nil, "rating": 1, "version": 1})
	if !errors.Is(err, em.ErrNotNullViolation) {
		t.Fatalf("NativeInsert of a NULL name: %v, want ErrNotNullViolation", err)
	}
	_, err = em.NativeInsert[Publisher](v.ctx, e, map[string]any{"name": "No code"})
	if !errors.Is(err, em.ErrNotNullViolation) {
		t.Fatalf("NativeInsert without an assigned key: %v, want ErrNotNullViolation", err)
	}
	var fe *em.FilterError
	if _, err := em.NativeInsert[Author](v.ctx, e, map[string]any{"name": "X", "nope": 1}); !errors.As(err, &fe) || fe.Property != "nope" {
		t.Fatalf("NativeInsert of an unknown property: %v, want a *FilterError naming it", err)
	}
	if n, err := em.Count[Author](v.ctx, v.orm.Fork(), nil); err != nil || n != 2 {
		t.Fatalf("after the refused inserts %d authors are stored (%v), want 2", n, err)
	}
}

// nativeUpdateAndDelete: NativeUpdate and NativeDelete take the filters of
// Find (operators, logical keys, a primary key value, relation paths),
// return how many rows they matched, leave managed entities as they are,
// and refuse what the schema refuses.
func nativeUpdateAndDelete(t *testing.T, v env) {
	seed := seedAuthors(t, v, "A1", "A2", "A3", "A4")
	{
		f := v.orm.Fork()
		for i, a := range seed {
			a, err := em.FindOneOrFail[Author](v.ctx, f, a.ID)
			must(t, err)
			a.Rating = float64(i + 1)
		}
		r := &Review{Text: "on A1"}
		r.Author = em.RefTo(seed[0])
		must(t, f.Persist(r))
		must(t, f.Flush(v.ctx))
	}
	e := v.orm.Fork()
	a2, err := em.FindOneOrFail[Author](v.ctx, e, em.F{"name": "A2"})
	must(t, err)
	v.log.Reset()

	n, err := em.NativeUpdate[Author](v.ctx, e, em.F{"rating": em.Gte(2)}, map[string]any{"email": "x@example.com"})
	must(t, err)
	if n != 3 {
		t.Fatalf("NativeUpdate rating >= 2 affected %d rows, want 3", n)
	}
	if v.log.Count("UPDATE") != 1 {
		t.Fatalf("NativeUpdate logged %v, want one UPDATE", v.log.All())
	}
	if a2.Email != nil {
		t.Fatal("NativeUpdate changed the managed instance")
	}
	must(t, e.Refresh(v.ctx, a2))
	if a2.Email == nil || *a2.Email != "x@example.com" {
		t.Fatalf("after Refresh A2's email is %v", a2.Email)
	}
	if a1 := authorByName(t, v, "A1"); a1.Email != nil {
		t.Fatalf("A1 (rating 1) got the email too: %v", *a1.Email)
	}
	// By primary key value, by $or and $like, with a value converted to the
	// field's type, and setting NULL.
	if n, err := em.NativeUpdate[Author](v.ctx, e, seed[0].ID, map[string]any{"rating": 10}); err != nil || n != 1 {
		t.Fatalf("NativeUpdate by key: %d, %v", n, err)
	}
	n, err = em.NativeUpdate[Author](v.ctx, e, em.F{"$or": []em.F{{"name": em.Like("%3")}, {"rating": em.Gt(9)}}}, map[string]any{"email": nil, "rating": 7})
	must(t, err)
	if n != 2 {
		t.Fatalf("NativeUpdate by $or affected %d rows, want 2 (A1, A3)", n)
	}
	for _, name := range []string{"A1", "A3"} {
		if a := authorByName(t, v, name); a.Email != nil || a.Rating != 7 {
			t.Fatalf("%s after setting NULL and 7: email %v, rating %v", name, a.Email, a.Rating)
		}
	}
	if n, err := em.Count[Author](v.ctx, v.orm.Fork(), em.F{"email": em.Exists(true)}); err != nil || n != 2 {
		t.Fatalf("authors with an email: %d, %v, want 2 (A2, A4)", n, err)
	}
	// A relation path in the filter, and a filter that matches nothing.
	n, err = em.NativeUpdate[Review](v.ctx, e, em.F{"author": em.F{"name": "A1"}}, map[string]any{"text": "edited"})
	must(t, err)
	if n != 1 {
		t.Fatalf("NativeUpdate of reviews by their author's name affected %d rows, want 1", n)
	}
	if n, err := em.NativeUpdate[Author](v.ctx, e, em.F{"name": "none"}, map[string]any{"rating": 1}); err != nil || n != 0 {
		t.Fatalf("NativeUpdate matching nothing: %d, %v", n, err)
	}
	// A row matched but left as it was counts, except on MySQL and MariaDB,
	// which report changed rows (without the CLIENT_FOUND_ROWS flag).
	want := int64(1)
	if v.target == "mariadb" {
		want = 0
	}
	if n, err := em.NativeUpdate[Author](v.ctx, e, em.F{"name": "A3"}, map[string]any{"rating": 7}); err != nil || n != want {
		t.Fatalf("NativeUpdate of A3 to the rating it has: %d, %v, want %d", n, err, want)
	}
	// What the schema refuses, and mistakes: nothing is written.
	if _, err := em.NativeUpdate[Author](v.ctx, e, em.F{"name": "A1"}, map[string]any{"name": "A2"}); !errors.Is(err, em.ErrUniqueViolation) {
		t.Fatalf("NativeUpdate to a duplicate name: %v, want ErrUniqueViolation", err)
	}
	if _, err := em.NativeUpdate[Author](v.ctx, e, em.F{"name": "A1"}, map[string]any{"name": nil}); !errors.Is(err, em.ErrNotNullViolation) {
		t.Fatalf("NativeUpdate of a NULL name: %v, want ErrNotNullViolation", err)
	}
	var fe *em.FilterError
	if _, err := em.NativeUpdate[Author](v.ctx, e, em.F{"nope": 1}, map[string]any{"rating": 0}); !errors.As(err, &fe) || fe.Property != "nope" {
		t.Fatalf("NativeUpdate with an unknown property in the filter: %v", err)
	}
	if _, err := em.NativeUpdate[Author](v.ctx, e, nil, map[string]any{"nope": 0}); !errors.As(err, &fe) || fe.Property != "nope" {
		t.Fatalf("NativeUpdate of an unknown property: %v", err)
	}
	if n, err := em.Count[Author](v.ctx, v.orm.Fork(), em.F{"rating": 0}); err != nil || n != 0 {
		t.Fatalf("a refused NativeUpdate wrote: %d, %v", n, err)
	}

	// NativeDelete: the same filters; managed entities stay managed.
	if _, err := em.NativeDelete[Author](v.ctx, e, em.F{"rating": em.F{"$bad": 1}}); !errors.Is(err, em.ErrInvalidFilter) {
		t.Fatalf("NativeDelete with an unknown operator: %v", err)
	}
	if n, err := em.NativeDelete[Review](v.ctx, e, em.F{"author": em.F{"name": "A1"}}); err != nil || n != 1 {
		t.Fatalf("NativeDelete of reviews by their author's name: %d, %v", n, err)
	}
	if n, err := em.NativeDelete[Author](v.ctx, e, em.F{"name": em.In([]string{"A2", "A3", "none"})}); err != nil || n != 2 {
		t.Fatalf("NativeDelete $in: %d, %v, want 2", n, err)
	}
	if !e.IsManaged(a2) {
		t.Fatal("NativeDelete detached the managed instance")
	}
	if n, err := em.NativeDelete[Author](v.ctx, e, seed[3].ID); err != nil || n != 1 {
		t.Fatalf("NativeDelete by key: %d, %v", n, err)
	}
	if got := authorNames(t, v); len(got) != 1 || got[0] != "A1" {
		t.Fatalf("after the deletes: %v, want [A1]", got)
	}
	if n, err := em.NativeDelete[Author](v.ctx, e, nil); err != nil || n != 1 {
		t.Fatalf("NativeDelete of everything left: %d, %v, want 1", n, err)
	}
}

// upsertByUniqueKey: Upsert by a unique property inserts, then updates the
// row it finds; the entity is managed with what the store holds
// (generated key and version included), or the instance already managed
// is updated and returned; nothing is left for Flush to write.
func upsertByUniqueKey(t *testing.T, v env) {
	e := v.orm.Fork()
	first := &Author{Name: "Up", Rating: 1}
	got, err := em.Upsert(v.ctx, e, first, "name")
	must(t, err)
	if got != first || first.ID == 0 || first.Version != 1 || !e.IsManaged(first) {
		t.Fatalf("Upsert of a new author: same %v, %+v, managed %v; want the entity, with a key and version 1, managed", got == first, first, e.IsManaged(first))
	}
	v.log.Reset()
	if again, err := em.FindOneOrFail[Author](v.ctx, e, first.ID); err != nil || again != first || len(v.log.All()) != 0 {
		t.Fatalf("FindOne by the upserted key: same %v, %v, queries %v; want the managed instance from the identity map", again == first, err, v.log.All())
	}
	must(t, e.Flush(v.ctx))
	if q := v.log.All(); len(q) != 0 {
		t.Fatalf("Flush after Upsert wrote %v", q)
	}
	stored := authorByName(t, v, "Up")
	if stored.ID != first.ID || stored.Rating != 1 || stored.Version != 1 {
		t.Fatalf("stored %+v, want key %d, rating 1, version 1", stored, first.ID)
	}

	// The same name again, from another struct: the row is updated, the
	// managed instance gets the values and is returned.
	second := &Author{Name: "Up", Rating: 5, Email: ptr("up@example.com")}
	got, err = em.Upsert(v.ctx, e, second, "name")
	must(t, err)
	if got != first || first.Rating != 5 || first.Email == nil || *first.Email != "up@example.com" || second.ID != first.ID {
		t.Fatalf("Upsert of an existing name: same %v, managed %+v, given %+v", got == first, first, second)
	}
	if stored := authorByName(t, v, "Up"); stored.ID != first.ID || stored.Rating != 5 || stored.Email == nil {
		t.Fatalf("stored after the second upsert: %+v", stored)
	}
	if n, err := em.Count[Author](v.ctx, v.orm.Fork(), nil); err != nil || n != 1 {
		t.Fatalf("%d authors after two upserts of one name (%v)", n, err)
	}
	// Managed with a snapshot: a change is one UPDATE, with the version.
	first.Rating = 6
	v.log.Reset()
	must(t, e.Flush(v.ctx))
	if v.log.Count("UPDATE") != 1 || first.Version != 2 {
		t.Fatalf("Flush of a change to an upserted author: %v, version %d", v.log.All(), first.Version)
	}
	// A version field is written as the entity holds it (1 when zero):
	// Upsert is no optimistic lock.
	if _, err := em.Upsert(v.ctx, e, &Author{Name: "Up", Rating: 7}, "name"); err != nil {
		t.Fatal(err)
	}
	if stored := authorByName(t, v, "Up"); stored.Version != 1 || first.Version != 1 || first.Rating != 7 {
		t.Fatalf("after an upsert of version 0: stored version %d, managed version %d, rating %v; want 1, 1, 7", stored.Version, first.Version, first.Rating)
	}

	// UpsertMany: one found, one new, one persisted but not flushed; the
	// managed instances in the order given.
	pending := &Author{Name: "Pending", Rating: 3}
	must(t, e.Persist(pending))
	many, err := em.UpsertMany(v.ctx, e, []*Author{{Name: "New", Rating: 2}, {Name: "Up", Rating: 8}, pending}, "name")
	must(t, err)
	if len(many) != 3 || many[1] != first || first.Rating != 8 || many[0].ID == 0 || many[0].ID == first.ID || many[2] != pending || pending.ID == 0 {
		t.Fatalf("UpsertMany: %+v", many)
	}
	for _, a := range many {
		if !e.IsManaged(a) {
			t.Fatalf("%s is not managed after UpsertMany", a.Name)
		}
	}
	v.log.Reset()
	must(t, e.Flush(v.ctx))
	if q := v.log.All(); len(q) != 0 {
		t.Fatalf("Flush after UpsertMany wrote %v (the pending author was upserted)", q)
	}
	if got := authorNames(t, v); len(got) != 3 || got[0] != "New" || got[1] != "Pending" || got[2] != "Up" {
		t.Fatalf("authors after UpsertMany: %v", got)
	}

	// A unique reference as the conflict key: the profile of an author.
	p1 := &Profile{Bio: "first"}
	p1.Author = em.RefTo(first)
	_, err = em.Upsert(v.ctx, e, p1, "author")
	must(t, err)
	p2 := &Profile{Bio: "second"}
	p2.Author = em.RefTo(first)
	got2, err := em.Upsert(v.ctx, e, p2, "author")
	must(t, err)
	if got2 != p1 || p1.Bio != "second" || p2.ID != p1.ID || p1.ID == 0 {
		t.Fatalf("Upsert of a profile by its author: same %v, %+v, %+v", got2 == p1, p1, p2)
	}
	if n, err := em.Count[Profile](v.ctx, v.orm.Fork(), em.F{"author": first.ID, "bio": "second"}); err != nil || n != 1 {
		t.Fatalf("profiles stored: %d, %v", n, err)
	}
}

// upsertByPrimaryKey: without onConflict the primary key finds the row;
// onCreate fields and the key keep what the row had.
func upsertByPrimaryKey(t *testing.T, v env) {
	e := v.orm.Fork()
	got, err := em.Upsert(v.ctx, e, &Publisher{Code: "ox", Name: "Oxford"})
	must(t, err)
	if got.Code != "ox" || !e.IsManaged(got) {
		t.Fatalf("Upsert of a new publisher: %+v, managed %v", got, e.IsManaged(got))
	}
	again, err := em.Upsert(v.ctx, e, &Publisher{Code: "ox", Name: "OUP"})
	must(t, err)
	if again != got || got.Name != "OUP" {
		t.Fatalf("Upsert of an existing publisher: same %v, %+v", again == got, got)
	}
	if n, err := em.Count[Publisher](v.ctx, v.orm.Fork(), em.F{"name": "OUP"}); err != nil || n != 1 {
		t.Fatalf("publishers: %d, %v", n, err)
	}

	// A book flushed first; an upsert by its key from a detached struct
	// changes its fields but not the onCreate ones.
	b := &Book{Title: "Go", Price: 10, Meta: map[string]any{"k": "v"}}
	f := v.orm.Fork()
	must(t, f.Persist(b))
	must(t, f.Flush(v.ctx))
	before, err := em.FindOneOrFail[Book](v.ctx, v.orm.Fork(), b.ID)
	must(t, err)
	up, err := em.Upsert(v.ctx, e, &Book{ID: b.ID, Title: "Go 2", Price: 12})
	must(t, err)
	after, err := em.FindOneOrFail[Book](v.ctx, v.orm.Fork(), b.ID)
	must(t, err)
	if after.Title != "Go 2" || after.Price != 12 || after.Meta != nil {
		t.Fatalf("the book after the upsert: %+v", after)
	}
	if !after.CreatedAt.Equal(before.CreatedAt) || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatalf("the upsert changed onCreate fields: created %v → %v, updated %v → %v", before.CreatedAt, after.CreatedAt, before.UpdatedAt, after.UpdatedAt)
	}
	if up.ID != b.ID || !up.CreatedAt.Equal(before.CreatedAt) || up.Title != "Go 2" {
		t.Fatalf("the upserted entity holds %+v, want what is stored", up)
	}
	if n, err := em.Count[Book](v.ctx, v.orm.Fork(), nil); err != nil || n != 1 {
		t.Fatalf("books: %d, %v", n, err)
	}
}

// upsertRefusals: what Upsert refuses writes nothing and manages nothing.
func upsertRefusals(t *testing.T, v env) {
	seedAuthors(t, v, "Ann", "Bob")
	e := v.orm.Fork()
	// A NULL conflict key matches no row.
	a := &Author{Name: "Eve"}
	if _, err := em.Upsert(v.ctx, e, a, "email"); !errors.Is(err, em.ErrValidation) {
		t.Fatalf("Upsert on a NULL email: %v, want ErrValidation", err)
	}
	var fe *em.FilterError
	if _, err := em.Upsert(v.ctx, e, a, "nope"); !errors.As(err, &fe) || fe.Property != "nope" {
		t.Fatalf("Upsert on an unknown property: %v", err)
	}
	// A conflict key without a unique index. (MySQL and MariaDB have no
	// conflict target: ON DUPLICATE KEY UPDATE takes any unique key.)
	if v.target != "mariadb" {
		if _, err := em.Upsert(v.ctx, e, &Author{Name: "Zed", Rating: 1}, "rating"); err == nil {
			t.Fatal("Upsert on rating, which no unique index covers, succeeded")
		}
	}
	// A row found by its key whose new name another row has.
	bob := authorByName(t, v, "Bob")
	if _, err := em.Upsert(v.ctx, e, &Author{ID: bob.ID, Name: "Ann", Rating: 3}); !errors.Is(err, em.ErrUniqueViolation) {
		t.Fatalf("Upsert of Bob renamed to Ann: %v, want ErrUniqueViolation", err)
	}
	if got := authorNames(t, v); len(got) != 2 || got[0] != "Ann" || got[1] != "Bob" {
		t.Fatalf("after the refused upserts: %v", got)
	}
	if e.IsManaged(a) {
		t.Fatal("a refused upsert left its entity managed")
	}
}
