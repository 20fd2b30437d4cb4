package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mikrogo/mikro/internal/dbtest"
	"github.com/mikrogo/mikro/migrate"
)

func writeMigrations(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name+".sql"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func dropAfter(t *testing.T, db *sql.DB, tables ...string) {
	t.Cleanup(func() {
		for _, tb := range tables {
			_, _ = db.ExecContext(context.Background(), "DROP TABLE IF EXISTS "+tb)
		}
	})
}

// TestTwoMigratorsApplyOnce: two runners, each on a pool of its own, race
// Up on one database; each migration runs exactly once, which the rows its
// statements insert count.
func TestTwoMigratorsApplyOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		ctx := context.Background()
		fresh(t, tg)
		dropAfter(t, tg.DB, "mig_runs")
		dir := writeMigrations(t, map[string]string{
			"001_table": "-- mikro:up\nCREATE TABLE mig_runs (name VARCHAR(20));\n-- mikro:down\nDROP TABLE mig_runs;\n",
			"002_one":   "-- mikro:up\nINSERT INTO mig_runs (name) VALUES ('002');\n",
			"003_two":   "-- mikro:up\nINSERT INTO mig_runs (name) VALUES ('003');\n",
		})
		other, err := sql.Open(tg.Driver, tg.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			total []string
			errs  []error
		)
		for _, db := range []*sql.DB{tg.DB, other} {
			wg.Go(func() {
				done, err := migrate.New(db, dialectOf[tg.Name], os.DirFS(dir), migrate.Options{OneByOne: true}).Up(ctx, migrate.UpOptions{})
				mu.Lock()
				defer mu.Unlock()
				total = append(total, done...)
				if err != nil {
					errs = append(errs, err)
				}
			})
		}
		wg.Wait()
		if tg.Name != dbtest.SQLite && len(errs) > 0 {
			t.Fatalf("a runner that waited for the lock failed: %v", errs)
		}
		for _, err := range errs {
			// SQLite: the loser may give up on the write lock (busy); it
			// must then have applied nothing.
			t.Logf("sqlite runner: %v", err)
		}
		if len(total) != 3 {
			var names []string
			rows, _ := tg.DB.QueryContext(ctx, "SELECT name FROM mig_runs")
			for rows != nil && rows.Next() {
				var s string
				_ = rows.Scan(&s)
				names = append(names, s)
			}
			t.Logf("mig_runs: %v", names)
			t.Fatalf("the runners applied %v together, want each of the three once", total)
		}
		var n, distinct int
		if err := tg.DB.QueryRowContext(ctx, "SELECT count(*), count(DISTINCT name) FROM mig_runs").Scan(&n, &distinct); err != nil {
			t.Fatal(err)
		}
		if n != 2 || distinct != 2 {
			t.Fatalf("mig_runs holds %d rows (%d distinct), want the one of each INSERT migration", n, distinct)
		}
	})
}

// TestMigratorKilledMidStatement: the connection of a runner is killed
// while a statement of its migration runs (pg_terminate_backend, MariaDB
// KILL; only this test's connection, found by its statement in this
// database). The lock is released (the next runner does not wait), and the
// next run tells the truth: on PostgreSQL nothing was applied and it applies
// the migration whole; on MariaDB, whose DDL commits on its own, the
// migration is reported interrupted at the statement that was running, and
// nothing runs again until it is resolved.
func TestMigratorKilledMidStatement(t *testing.T) {
	for _, name := range []string{dbtest.Postgres, dbtest.MariaDB} {
		t.Run(name, func(t *testing.T) {
			tg := dbtest.Open(t, name)
			ctx := context.Background()
			fresh(t, tg)
			dropAfter(t, tg.DB, "mig_k1", "mig_k2")
			sleep, find, kill := "SELECT pg_sleep(5)",
				"SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = 'SELECT pg_sleep(5)' AND pid <> pg_backend_pid()",
				"SELECT pg_terminate_backend($1)"
			if name == dbtest.MariaDB {
				sleep, find, kill = "SELECT SLEEP(5)",
					"SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND info = 'SELECT SLEEP(5)' AND id <> CONNECTION_ID()",
					"KILL CONNECTION ?"
			}
			dir := writeMigrations(t, map[string]string{
				"001_killed": "-- mikro:up\nCREATE TABLE mig_k1 (id INT);\n" + sleep + ";\nCREATE TABLE mig_k2 (id INT);\n",
			})
			m := migrate.New(tg.DB, dialectOf[name], os.DirFS(dir), migrate.Options{})
			upErr := make(chan error, 1)
			go func() { _, err := m.Up(ctx, migrate.UpOptions{}); upErr <- err }()
			// Find the runner's connection while it sleeps, and kill it.
			var id int64
			for {
				err := tg.DB.QueryRowContext(ctx, find).Scan(&id)
				if err == nil {
					break
				}
				if !errors.Is(err, sql.ErrNoRows) {
					t.Fatal(err)
				}
				select {
				case err := <-upErr:
					t.Fatalf("Up ended before its sleeping statement was seen: %v", err)
				case <-time.After(20 * time.Millisecond):
				}
			}
			if _, err := tg.DB.ExecContext(ctx, kill, id); err != nil {
				t.Fatalf("kill %d: %v", id, err)
			}
			if err := <-upErr; err == nil {
				t.Fatal("Up whose connection was killed returned no error")
			}
			// The next run must not wait for the dead runner's lock: a
			// deadline far above any real wait catches a hang.
			next, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			again := migrate.New(tg.DB, dialectOf[name], os.DirFS(dir), migrate.Options{})
			if name == dbtest.Postgres {
				list, err := again.List(next)
				if err != nil || len(list) != 1 || list[0].Applied || list[0].Failed {
					t.Fatalf("after the kill: %+v %v, want one pending migration (its transaction rolled back)", list, err)
				}
				done, err := again.Up(next, migrate.UpOptions{})
				if err != nil || len(done) != 1 {
					t.Fatalf("the next Up: %v %v", done, err)
				}
				return
			}
			list, err := again.List(next)
			// The runner saw its connection die and recorded so on another
			// one; had it died with it, the record would still say
			// "interrupted at statement 2 of 3", written before it ran.
			if err != nil || len(list) != 1 || !list[0].Failed || !strings.Contains(list[0].Error, "statement 2 of 3") ||
				!strings.Contains(list[0].Error, "statements 1 to 1 had run") {
				t.Fatalf("after the kill the record must say where it stopped: %+v %v", list, err)
			}
			_, err = again.Up(next, migrate.UpOptions{})
			if !errors.Is(err, migrate.ErrFailedMigration) || !strings.Contains(err.Error(), "statement 2 of 3") ||
				!strings.Contains(err.Error(), "migration:resolve 001_killed") {
				t.Fatalf("the next Up must refuse and say where the killed one stopped, got %v", err)
			}
			// Fixed by hand (statement 1's table dropped), resolved, applied.
			if _, err := tg.DB.ExecContext(ctx, "DROP TABLE mig_k1"); err != nil {
				t.Fatal(err)
			}
			if err := again.Resolve(next, "001_killed"); err != nil {
				t.Fatal(err)
			}
			if done, err := again.Up(next, migrate.UpOptions{}); err != nil || len(done) != 1 {
				t.Fatalf("after resolve: %v %v", done, err)
			}
		})
	}
}
