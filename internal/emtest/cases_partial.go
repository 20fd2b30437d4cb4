package emtest

import (
	"strings"
	"testing"

	"github.com/mikrogo/mikro/em"
)

func init() {
	behaviourCases = append(behaviourCases,
		behaviourCase{name: "partial_load_completed_by_findone_pk", run: partialCompletedByFindOne},
		behaviourCase{name: "partial_load_flush_writes_only_changed_loaded_fields", run: partialFlushWritesLoadedChanges},
		behaviourCase{name: "partial_load_required_reference_not_cleared", run: partialRequiredReference},
		behaviourCase{name: "partial_load_completion_keeps_changes_and_json", run: partialCompletionKeepsChanges},
	)
}

// seedProfile stores an author with an email and a rating of 4, and its
// profile with a bio.
func seedProfile(t *testing.T, v env) (*Author, *Profile) {
	t.Helper()
	e := v.orm.Fork()
	a := &Author{Name: "Ann", Email: ptr("ann@example.com"), Rating: 4}
	p := &Profile{Bio: "a long bio"}
	p.Author = em.RefTo(a)
	must(t, e.Persist(a, p))
	must(t, e.Flush(v.ctx))
	v.log.Reset()
	return a, p
}

// partialCompletedByFindOne: FindOne by primary key of an entity loaded
// with Fields loads the rest into the same instance (it used to answer
// from the identity map with the fields left empty).
func partialCompletedByFindOne(t *testing.T, v env) {
	a, p := seedProfile(t, v)
	e := v.orm.Fork()
	part, err := em.Find[Author](v.ctx, e, nil, em.FindOptions{Fields: []string{"name"}})
	must(t, err)
	if len(part) != 1 || part[0].Name != "Ann" || part[0].Rating != 0 || part[0].Email != nil {
		t.Fatalf("partial find: %+v, want only the name", part)
	}
	got, err := em.FindOne[Author](v.ctx, e, a.ID)
	must(t, err)
	if got != part[0] {
		t.Fatal("FindOne by key returned another instance than the partial one")
	}
	if got.Rating != 4 || got.Email == nil || *got.Email != "ann@example.com" {
		t.Fatalf("FindOne by key of a partial entity: %+v, want it completed (rating 4, email)", got)
	}
	// Complete now: the next FindOne answers from the identity map.
	v.log.Reset()
	if again, err := em.FindOneOrFail[Author](v.ctx, e, em.F{"id": a.ID}); err != nil || again != got {
		t.Fatalf("FindOneOrFail after completion: %p, %v", again, err)
	}
	if n := len(v.log.All()); n != 0 {
		t.Fatalf("FindOne of a completed entity ran %d queries: %v", n, v.log.All())
	}
	// The same for a reference's Load and a profile read without its bio.
	pp, err := em.FindOneOrFail[Profile](v.ctx, e, em.F{"author": a.ID}, em.FindOptions{Fields: []string{"author"}})
	must(t, err)
	if pp.Bio != "" {
		t.Fatalf("partial profile has bio %q", pp.Bio)
	}
	full, err := em.FindOneOrFail[Profile](v.ctx, e, p.ID)
	must(t, err)
	if full != pp || full.Bio != "a long bio" {
		t.Fatalf("FindOneOrFail by key of a partial profile: bio %q (same instance %v), want %q", full.Bio, full == pp, "a long bio")
	}
	// Populating a reference to a partial entity completes it too.
	f := v.orm.Fork()
	pa, err := em.Find[Author](v.ctx, f, nil, em.FindOptions{Fields: []string{"name"}})
	must(t, err)
	prof, err := em.FindOneOrFail[Profile](v.ctx, f, p.ID, em.FindOptions{Populate: []string{"author"}})
	must(t, err)
	if got, err := prof.Author.Get(); err != nil || got != pa[0] || got.Rating != 4 {
		t.Fatalf("populated author of a partial instance: %+v, %v; want the same instance, completed", got, err)
	}
	v.log.Reset()
	must(t, e.Flush(v.ctx))
	must(t, f.Flush(v.ctx))
	if n := len(v.log.All()); n != 0 {
		t.Fatalf("completing partial entities made the flush write: %v", v.log.All())
	}
}

// partialFlushWritesLoadedChanges: a change to a loaded field of a partial
// entity writes that field only; the fields it did not load keep their
// values in the store.
func partialFlushWritesLoadedChanges(t *testing.T, v env) {
	a, _ := seedProfile(t, v)
	e := v.orm.Fork()
	part, err := em.FindOneOrFail[Author](v.ctx, e, em.F{"name": "Ann"}, em.FindOptions{Fields: []string{"name"}})
	must(t, err)
	part.Name = "Anne"
	v.log.Reset()
	must(t, e.Flush(v.ctx))
	var updates []string
	for _, s := range v.log.All() {
		if strings.HasPrefix(s, "UPDATE") {
			updates = append(updates, s)
		}
	}
	if len(updates) != 1 || strings.Contains(updates[0], "rating") || strings.Contains(updates[0], "email") || strings.Contains(updates[0], "favorite") {
		t.Fatalf("flush of a partial entity: %v, want one UPDATE of the name only", updates)
	}
	got, err := em.FindOneOrFail[Author](v.ctx, v.orm.Fork(), a.ID)
	must(t, err)
	if got.Name != "Anne" || got.Rating != 4 || got.Email == nil || *got.Email != "ann@example.com" || got.Version != a.Version+1 {
		t.Fatalf("stored after the partial flush: %+v, want name Anne, rating 4, the email, version %d", got, a.Version+1)
	}
	// Completed afterwards, it holds the stored values and nothing to write.
	full, err := em.FindOneOrFail[Author](v.ctx, e, a.ID)
	must(t, err)
	if full != part || full.Rating != 4 || full.Version != a.Version+1 {
		t.Fatalf("completed after the flush: %+v", full)
	}
	v.log.Reset()
	must(t, e.Flush(v.ctx))
	if n := len(v.log.All()); n != 0 {
		t.Fatalf("a flush with nothing changed wrote: %v", v.log.All())
	}
}

// partialRequiredReference: a partial entity whose NOT NULL reference was
// not loaded flushes a change of a loaded field (the unloaded reference is
// not taken as cleared), and the reference stays as stored.
func partialRequiredReference(t *testing.T, v env) {
	a, p := seedProfile(t, v)
	e := v.orm.Fork()
	part, err := em.FindOneOrFail[Profile](v.ctx, e, p.ID, em.FindOptions{Fields: []string{"bio"}})
	must(t, err)
	if part.Author.IsSet() {
		t.Fatal("a partial load without the reference set it")
	}
	part.Bio = "short"
	if err := e.Flush(v.ctx); err != nil {
		t.Fatalf("flush of a partial profile whose required reference was not loaded: %v", err)
	}
	got, err := em.FindOneOrFail[Profile](v.ctx, v.orm.Fork(), p.ID)
	must(t, err)
	if got.Bio != "short" || got.Author.ID() != a.ID {
		t.Fatalf("stored: bio %q, author %v; want %q, %d", got.Bio, got.Author.ID(), "short", a.ID)
	}
	// Removing a partial entity works as well.
	must(t, e.Remove(part))
	must(t, e.Flush(v.ctx))
	if n, err := em.Count[Profile](v.ctx, v.orm.Fork(), nil); err != nil || n != 0 {
		t.Fatalf("profiles after removing the partial one: %d, %v", n, err)
	}
}

// partialCompletionKeepsChanges: a full find that completes a partial
// entity keeps what the user set in a field that was not loaded (it is a
// change to write), and a JSON field it fills is not taken as changed.
func partialCompletionKeepsChanges(t *testing.T, v env) {
	a, _ := seedProfile(t, v)
	e := v.orm.Fork()
	b := &Book{Title: "Go", Price: 10, AuthorID: &a.ID, Meta: map[string]any{"pages": 300.0}}
	must(t, e.Persist(b))
	must(t, e.Flush(v.ctx))
	e = v.orm.Fork()
	part, err := em.FindOneOrFail[Author](v.ctx, e, a.ID, em.FindOptions{Fields: []string{"name"}})
	must(t, err)
	part.Rating = 9 // not loaded, set by the user
	pb, err := em.FindOneOrFail[Book](v.ctx, e, b.ID, em.FindOptions{Fields: []string{"title"}})
	must(t, err)
	if _, err := em.Find[Author](v.ctx, e, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := em.Find[Book](v.ctx, e, nil); err != nil {
		t.Fatal(err)
	}
	if part.Rating != 9 || part.Email == nil {
		t.Fatalf("completed author: rating %v, email %v; want the rating set by the user (9) kept and the email loaded", part.Rating, part.Email)
	}
	if pb.Meta["pages"] != 300.0 || pb.Price != 10 {
		t.Fatalf("completed book: %+v", pb)
	}
	v.log.Reset()
	must(t, e.Flush(v.ctx))
	if n := v.log.Count("UPDATE"); n != 1 {
		t.Fatalf("flush after completion: %v, want one UPDATE (the author's rating)", v.log.All())
	}
	got, err := em.FindOneOrFail[Author](v.ctx, v.orm.Fork(), a.ID)
	must(t, err)
	if got.Rating != 9 || got.Name != "Ann" {
		t.Fatalf("stored author: %+v, want rating 9", got)
	}
}
