package em_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/em/pgxdriver"
	"github.com/mikrogo/mikro/internal/dbtest"
	"github.com/mikrogo/mikro/qb"
)

// The entities of the behaviour suite.

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

func (Profile) TableName() string { return "em_profile" }

func (Author) TableName() string { return "em_author" }

type Publisher struct {
	Code string `db:"code" orm:"pk,assigned,length=20"`
	Name string `db:"name"`
}

func (Publisher) TableName() string { return "em_publisher" }

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

func (Book) TableName() string { return "em_book" }

type Tag struct {
	ID      string                `db:"id" orm:"pk,uuid"`
	Name    string                `db:"name" orm:"length=50"`
	Authors em.Collection[Author] `orm:"mappedBy=tags"`
}

func (Tag) TableName() string { return "em_tag" }

// Review refers to its author and, optionally, a book: many-to-one references.
type Review struct {
	ID     int64          `db:"id" orm:"pk"`
	Text   string         `db:"text"`
	Author em.Ref[Author] `db:"author_id"`
	Book   em.Ref[Book]   `db:"book_id" orm:"nullable"`
}

func (Review) TableName() string { return "em_review" }

// Category is a tree: a reference to its parent, a collection of children.
type Category struct {
	ID       int64                   `db:"id" orm:"pk"`
	Name     string                  `db:"name"`
	Parent   em.Ref[Category]        `db:"parent_id" orm:"nullable"`
	Children em.Collection[Category] `orm:"mappedBy=parent"`
}

func (Category) TableName() string { return "em_category" }

var entities = []any{(*Category)(nil), (*Author)(nil), (*Publisher)(nil), (*Book)(nil), (*Tag)(nil), (*Hooked)(nil), (*Review)(nil), (*Profile)(nil)}

// queryLog captures the statements an ORM runs (Config.Debug logs each one).
type queryLog struct {
	mu   sync.Mutex
	sqls []string
}

func (l *queryLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *queryLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "em: query" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "sql" {
			l.mu.Lock()
			l.sqls = append(l.sqls, a.Value.String())
			l.mu.Unlock()
		}
		return true
	})
	return nil
}
func (l *queryLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *queryLog) WithGroup(string) slog.Handler      { return l }

func (l *queryLog) reset() {
	l.mu.Lock()
	l.sqls = nil
	l.mu.Unlock()
}

func (l *queryLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.sqls...)
}

// count returns how many logged statements start with prefix.
func (l *queryLog) count(prefix string) int {
	n := 0
	for _, s := range l.all() {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// env is one database prepared for a case.
type env struct {
	tg  dbtest.Target
	orm *em.ORM
	log *queryLog
	ctx context.Context
}

var dialectOf = map[string]*qb.Dialect{dbtest.Postgres: qb.Postgres, dbtest.MariaDB: qb.MariaDB, dbtest.SQLite: qb.SQLite}

func open(t *testing.T, tg dbtest.Target, native bool, mutate func(*em.Config)) env {
	t.Helper()
	ctx := context.Background()
	l := &queryLog{}
	cfg := em.Config{DB: tg.DB, Dialect: dialectOf[tg.Name], Entities: entities, Debug: true, Logger: slog.New(l)}
	if mutate != nil {
		mutate(&cfg)
	}
	var (
		o   *em.ORM
		err error
	)
	if native {
		pool, perr := pgxpool.New(ctx, tg.DSN)
		if perr != nil {
			t.Fatal(perr)
		}
		t.Cleanup(pool.Close)
		o, err = pgxdriver.Open(ctx, pool, cfg)
	} else {
		o, err = em.Open(ctx, cfg)
	}
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := o.RefreshSchema(ctx); err != nil {
		t.Fatalf("RefreshSchema: %v", err)
	}
	l.reset()
	return env{tg: tg, orm: o, log: l, ctx: ctx}
}

func ptr[T any](v T) *T { return &v }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestBehaviour runs every case of the shared table on every database, and
// on PostgreSQL both through database/sql and natively on pgx.
func TestBehaviour(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		for _, c := range behaviourCases {
			t.Run(c.name, func(t *testing.T) {
				c.run(t, open(t, tg, false, c.config))
			})
		}
		if tg.Name != dbtest.Postgres {
			return
		}
		for _, c := range behaviourCases {
			t.Run("pgx/"+c.name, func(t *testing.T) {
				c.run(t, open(t, tg, true, c.config))
			})
		}
	})
}

type behaviourCase struct {
	name   string
	config func(*em.Config)
	run    func(t *testing.T, v env)
}
