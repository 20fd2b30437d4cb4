// Package emtest is the entity manager's behaviour suite: one table of cases
// that every store runs — PostgreSQL, MariaDB and SQLite from em's tests,
// MongoDB from the mongo module's — so that each behaviour is specified
// once. It is for tests only; its API may change with the suite.
package emtest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/mikrogo/mikro/em"
)

// Opener opens an ORM on a store for one case, with an empty schema (tables
// or collections of Entities created and empty). cfg is the configuration
// to open with: Entities, a Debug logger into the case's QueryLog, and
// the case's own settings.
type Opener func(t *testing.T, cfg em.Config) *em.ORM

// Store says what the suite runs on.
type Store struct {
	Name string // "postgres", "mariadb", "sqlite", "mongodb": names golden files
	SQL  bool   // a SQL database: the cases of SQL features run too
}

// env is one store prepared for a case.
type env struct {
	target string
	sql    bool
	orm    *em.ORM
	log    *QueryLog
	ctx    context.Context
}

type behaviourCase struct {
	name   string
	config func(*em.Config)
	// sqlOnly, when set, says why the case is about SQL (statements,
	// transactions, joins); it runs on SQL stores only.
	sqlOnly string
	run     func(t *testing.T, v env)
}

// Run runs every case of the suite that applies to store, each as a subtest
// on an ORM from open.
func Run(t *testing.T, store Store, open Opener) {
	for _, c := range behaviourCases {
		t.Run(c.name, func(t *testing.T) { runCase(t, c, store, open) })
	}
}

// RunCase runs the one case of the suite called name on store, as Run does;
// there being no such case fails the test.
func RunCase(t *testing.T, name string, store Store, open Opener) {
	for _, c := range behaviourCases {
		if c.name == name {
			runCase(t, c, store, open)
			return
		}
	}
	t.Fatalf("emtest has no case %q", name)
}

func runCase(t *testing.T, c behaviourCase, store Store, open Opener) {
	if c.sqlOnly != "" && !store.SQL {
		t.Skip("SQL only: " + c.sqlOnly)
	}
	l := &QueryLog{}
	cfg := em.Config{Entities: Entities, Debug: true, Logger: slog.New(l)}
	if c.config != nil {
		c.config(&cfg)
	}
	o := open(t, cfg)
	l.Reset()
	c.run(t, env{target: store.Name, sql: store.SQL, orm: o, log: l, ctx: context.Background()})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }
