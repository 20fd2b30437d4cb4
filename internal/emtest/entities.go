package emtest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/mikrogo/mikro/em"
)

// The entities of the behaviour suite.

// Author is the suite's richest entity: a version, a one-to-many, a
// many-to-many, a nullable reference in a cycle and an inverse one-to-one.
type Author struct {
	ID      int64                 `db:"id" orm:"pk"`
	Name    string                `db:"name" orm:"unique,length=100"`
	Email   *string               `db:"email"`
	Born    *time.Time            `db:"born"`
	Rating  float64               `db:"rating"`
	Version int                   `db:"version" orm:"version"`
	Reviews em.Collection[Review] `orm:"mappedBy=author,cascade=remove"`
	Tags    em.Collection[Tag]    `orm:"manyToMany"`
	// Favorite closes a cycle with Review.Author (nullable on this side).
	Favorite em.Ref[Review] `db:"favorite_id" orm:"nullable"`
	// Profile is the inverse side of a one-to-one: Profile.Author holds the key.
	Profile em.Ref[Profile] `orm:"mappedBy=author"`
}

// Profile is the owning side of a one-to-one with Author.
type Profile struct {
	ID     int64          `db:"id" orm:"pk"`
	Bio    string         `db:"bio"`
	Author em.Ref[Author] `db:"author_id" orm:"unique"`
}

// TableName names the table (prefixed, so that the suite's tables do not
// collide with others in the test database).
func (Profile) TableName() string { return "em_profile" }

// TableName names the table (prefixed, so that the suite's tables do not
// collide with others in the test database).
func (Author) TableName() string { return "em_author" }

// Publisher is a plain entity that books refer to.
type Publisher struct {
	Code string `db:"code" orm:"pk,assigned,length=20"`
	Name string `db:"name"`
}

// TableName names the table (prefixed, so that the suite's tables do not
// collide with others in the test database).
func (Publisher) TableName() string { return "em_publisher" }

// Book refers to an author and a publisher and has a JSON field.
type Book struct {
	ID          int64                 `db:"id" orm:"pk"`
	Title       string                `db:"title" orm:"index"`
	Price       int                   `db:"price"`
	AuthorID    *int64                `db:"author_id" orm:"ref=Author"`
	PublisherID *string               `db:"publisher_id" orm:"ref=Publisher,length=20"`
	Meta        map[string]any        `db:"meta" orm:"type=json"`
	CreatedAt   time.Time             `db:"created_at" orm:"onCreate=now"`
	UpdatedAt   time.Time             `db:"updated_at" orm:"onCreate=now,onUpdate=now"`
	Note        string                `db:"-"`
	Reviews     em.Collection[Review] `orm:"mappedBy=book,orphanRemoval"`
}

// TableName names the table (prefixed, so that the suite's tables do not
// collide with others in the test database).
func (Book) TableName() string { return "em_book" }

// Tag is the item side of Author.Tags, a many-to-many.
type Tag struct {
	ID      string                `db:"id" orm:"pk,uuid"`
	Name    string                `db:"name" orm:"length=50"`
	Authors em.Collection[Author] `orm:"mappedBy=tags"`
}

// TableName names the table (prefixed, so that the suite's tables do not
// collide with others in the test database).
func (Tag) TableName() string { return "em_tag" }

// Review refers to its author and, optionally, a book: many-to-one references.
type Review struct {
	ID     int64          `db:"id" orm:"pk"`
	Text   string         `db:"text"`
	Author em.Ref[Author] `db:"author_id"`
	Book   em.Ref[Book]   `db:"book_id" orm:"nullable"`
}

// TableName names the table (prefixed, so that the suite's tables do not
// collide with others in the test database).
func (Review) TableName() string { return "em_review" }

// Category is a tree: a reference to its parent, a collection of children.
type Category struct {
	ID       int64                   `db:"id" orm:"pk"`
	Name     string                  `db:"name"`
	Parent   em.Ref[Category]        `db:"parent_id" orm:"nullable"`
	Children em.Collection[Category] `orm:"mappedBy=parent"`
}

// TableName names the table (prefixed, so that the suite's tables do not
// collide with others in the test database).
func (Category) TableName() string { return "em_category" }

// Memo chooses its own change tracking policy: explicit, whatever the
// ORM's (the case per_type_change_tracking adds it to the suite's entities).
type Memo struct {
	ID   int64  `db:"id" orm:"pk"`
	Text string `db:"text"`
}

// TableName names the table (prefixed, so that the suite's tables do not
// collide with others in the test database).
func (Memo) TableName() string { return "em_memo" }

// ChangeTracking makes memos compared at flush only when persisted.
func (Memo) ChangeTracking() em.ChangeTracking { return em.ChangeTrackingExplicit }

// Entities lists the suite's entity types, for Config.Entities.
var Entities = []any{(*Category)(nil), (*Author)(nil), (*Publisher)(nil), (*Book)(nil), (*Tag)(nil), (*Hooked)(nil), (*Review)(nil), (*Profile)(nil)}

// Hooked records its lifecycle hooks in hookTrail.
type Hooked struct {
	ID   int64  `db:"id" orm:"pk"`
	Name string `db:"name"`
	// FailOn makes the named hook fail; FlushIn makes it call Flush.
	FailOn  string `db:"-"`
	FlushIn string `db:"-"`
	Cancel  func() `db:"-"`
}

// TableName names the table (prefixed, so that the suite's tables do not
// collide with others in the test database).
func (Hooked) TableName() string { return "em_hooked" }

var (
	trailMu   sync.Mutex
	hookTrail []string
)

func trail(s string) {
	trailMu.Lock()
	hookTrail = append(hookTrail, s)
	trailMu.Unlock()
}

func takeTrail() []string {
	trailMu.Lock()
	defer trailMu.Unlock()
	t := hookTrail
	hookTrail = nil
	return t
}

func (h *Hooked) hook(ctx context.Context, e *em.EntityManager, name string) error {
	trail(name + ":" + h.Name)
	if h.Cancel != nil && name == "BeforeCreate" {
		h.Cancel()
	}
	if h.FlushIn == name {
		return e.Flush(ctx)
	}
	if h.FailOn == name {
		return errors.New("hook failed on purpose")
	}
	return nil
}

// BeforeCreate records the hook (and fails or flushes when told to).
func (h *Hooked) BeforeCreate(ctx context.Context, e *em.EntityManager) error {
	return h.hook(ctx, e, "BeforeCreate")
}

// AfterCreate records the hook (and fails or flushes when told to).
func (h *Hooked) AfterCreate(ctx context.Context, e *em.EntityManager) error {
	return h.hook(ctx, e, "AfterCreate")
}

// BeforeUpdate records the hook (and fails or flushes when told to).
func (h *Hooked) BeforeUpdate(ctx context.Context, e *em.EntityManager) error {
	return h.hook(ctx, e, "BeforeUpdate")
}

// AfterUpdate records the hook (and fails or flushes when told to).
func (h *Hooked) AfterUpdate(ctx context.Context, e *em.EntityManager) error {
	return h.hook(ctx, e, "AfterUpdate")
}

// BeforeDelete records the hook (and fails or flushes when told to).
func (h *Hooked) BeforeDelete(ctx context.Context, e *em.EntityManager) error {
	return h.hook(ctx, e, "BeforeDelete")
}

// AfterDelete records the hook (and fails or flushes when told to).
func (h *Hooked) AfterDelete(ctx context.Context, e *em.EntityManager) error {
	return h.hook(ctx, e, "AfterDelete")
}
