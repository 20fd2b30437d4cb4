// Package dbtest runs one behaviour test against every database mikro
// supports: PostgreSQL (MIKRO_PG_DSN), MariaDB/MySQL (MIKRO_MYSQL_DSN) and
// SQLite (a fresh file in the test's temporary directory, no server needed).
//
// A database whose DSN is not set is skipped on a developer's machine, but is a
// failure when the environment variable CI is "true": CI must never pass by
// skipping.
package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // database/sql driver "mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// The names of the databases, as used in subtest names.
const (
	Postgres = "postgres"
	MariaDB  = "mariadb"
	SQLite   = "sqlite"
)

// Names lists the databases in the order tests run on them.
var Names = []string{Postgres, MariaDB, SQLite}

// Target is one database a test runs against.
type Target struct {
	Name   string  // Postgres, MariaDB or SQLite
	Driver string  // the database/sql driver name: "pgx", "mysql", "sqlite"
	DSN    string  // the data source name it was opened with
	DB     *sql.DB // open and pinged; closed when the test ends
}

// env names the environment variable that holds each server's DSN.
var env = map[string]string{Postgres: "MIKRO_PG_DSN", MariaDB: "MIKRO_MYSQL_DSN"}

var drivers = map[string]string{Postgres: "pgx", MariaDB: "mysql", SQLite: "sqlite"}

// InCI reports whether the tests run under CI (CI=true), where a missing
// database is a failure rather than a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Open opens the database name for t. It skips t when the database is not
// configured, or fails it under CI. SQLite gets a new file per call, with
// foreign keys on.
func Open(t testing.TB, name string) Target {
	t.Helper()
	driver, ok := drivers[name]
	if !ok {
		t.Fatalf("dbtest: unknown database %q", name)
	}
	var dsn string
	if name == SQLite {
		dsn = "file:" + filepath.Join(t.TempDir(), "test.db") + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_txlock=immediate"
	} else {
		dsn = os.Getenv(env[name])
		if dsn == "" {
			Unavailable(t, fmt.Sprintf("%s is not set", env[name]))
		}
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("dbtest: open %s: %v", name, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if name == SQLite {
		// One writer at a time is SQLite's model; a single connection also keeps
		// temporary state (and the race detector) simple.
		db.SetMaxOpenConns(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		Unavailable(t, fmt.Sprintf("cannot reach %s: %v", name, err))
	}
	return Target{Name: name, Driver: driver, DSN: dsn, DB: db}
}

// Unavailable skips t because a database is missing, or fails it under CI.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if InCI() {
		t.Fatalf("dbtest: %s (CI=true: a missing database is a failure)", why)
	}
	t.Skipf("dbtest: %s; skipping (set it to run this test)", why)
}

// Each runs fn as a subtest on every database, named after the database.
func Each(t *testing.T, fn func(t *testing.T, tg Target)) {
	t.Helper()
	for _, name := range Names {
		t.Run(name, func(t *testing.T) {
			fn(t, Open(t, name))
		})
	}
}
