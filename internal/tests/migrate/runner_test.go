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

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/internal/dbtest"
	"github.com/mikrogo/mikro/internal/emtest"
	"github.com/mikrogo/mikro/migrate"
	"github.com/mikrogo/mikro/qb"
)

// fresh drops the suite's tables and the migration records of tg.
func fresh(t *testing.T, tg dbtest.Target) *em.ORM {
	t.Helper()
	ctx := context.Background()
	all, err := em.Open(ctx, em.Config{DB: tg.DB, Dialect: dialectOf[tg.Name], Entities: emtest.SchemaEntities})
	if err != nil {
		t.Fatal(err)
	}
	if err := all.DropSchema(ctx); err != nil {
		t.Fatal(err)
	}
	orm, err := em.Open(ctx, em.Config{DB: tg.DB, Dialect: dialectOf[tg.Name], Entities: emtest.Entities})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.DB.ExecContext(ctx, "DROP TABLE IF EXISTS mikro_orm_migrations"); err != nil {
		t.Fatal(err)
	}
	return orm
}

// TestMigrationRoundTrip: a migration created from the entities applies,
// reverts and applies again, and the schema then matches the entities.
func TestMigrationRoundTrip(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		ctx := context.Background()
		orm := fresh(t, tg)
		dev := devFor(t, tg)
		dir := t.TempDir()
		path, err := migrate.Create(ctx, orm, tg.DB, dev, dir, "initial", false)
		if err != nil || path == "" {
			t.Fatalf("create: %q %v", path, err)
		}
		var progress strings.Builder
		m := migrate.New(tg.DB, dialectOf[tg.Name], os.DirFS(dir), migrate.Options{Progress: &progress})
		pending, err := m.Pending(ctx)
		if err != nil || len(pending) != 1 {
			t.Fatalf("pending %v %v", pending, err)
		}
		for round := range 2 {
			done, err := m.Up(ctx, migrate.UpOptions{})
			if err != nil || len(done) != 1 {
				t.Fatalf("round %d: up %v %v", round, done, err)
			}
			if err := migrate.Check(ctx, orm, tg.DB, dev); err != nil {
				t.Fatalf("round %d: after up: %v", round, err)
			}
			if round == 1 {
				break
			}
			back, err := m.Down(ctx, "0")
			if err != nil || len(back) != 1 {
				t.Fatalf("down %v %v", back, err)
			}
			if err := migrate.Check(ctx, orm, tg.DB, dev); err == nil {
				t.Fatal("after down the entities' tables must be gone")
			}
		}
		if !strings.Contains(progress.String(), "applied ") || !strings.Contains(progress.String(), "reverted ") {
			t.Fatalf("progress lines: %q", progress.String())
		}
		if again, err := migrate.Create(ctx, orm, tg.DB, dev, dir, "nothing", false); err != nil || again != "" {
			t.Fatalf("a second create with nothing to do: %q %v", again, err)
		}
		// An applied file edited afterwards is reported.
		b, _ := os.ReadFile(path)
		if err := os.WriteFile(path, append(b, []byte("-- edited\n")...), 0o644); err != nil {
			t.Fatal(err)
		}
		list, err := m.List(ctx)
		if err != nil || len(list) != 1 || !list[0].Applied || !list[0].Edited {
			t.Fatalf("list after an edit: %+v %v", list, err)
		}
	})
}

// TestConcurrentRunners: two runners at once apply each migration once.
func TestConcurrentRunners(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		ctx := context.Background()
		fresh(t, tg)
		dir := t.TempDir()
		for _, f := range []struct{ name, body string }{
			{"001_a", "-- mikro:up\nCREATE TABLE mig_a (id INT);\n-- mikro:down\nDROP TABLE mig_a;\n"},
			{"002_b", "-- mikro:up\nCREATE TABLE mig_b (id INT);\n-- mikro:down\nDROP TABLE mig_b;\n"},
		} {
			if err := os.WriteFile(filepath.Join(dir, f.name+".sql"), []byte(f.body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() {
			_, _ = tg.DB.ExecContext(context.Background(), "DROP TABLE IF EXISTS mig_a")
			_, _ = tg.DB.ExecContext(context.Background(), "DROP TABLE IF EXISTS mig_b")
		})
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			total []string
			errs  []error
		)
		for range 4 {
			wg.Go(func() {
				done, err := migrate.New(tg.DB, dialectOf[tg.Name], os.DirFS(dir), migrate.Options{}).Up(ctx, migrate.UpOptions{})
				mu.Lock()
				defer mu.Unlock()
				total = append(total, done...)
				if err != nil {
					errs = append(errs, err)
				}
			})
		}
		wg.Wait()
		if len(total) != 2 {
			t.Fatalf("applied %v (errors %v), want each of the two once", total, errs)
		}
		if tg.Name != dbtest.SQLite && len(errs) > 0 {
			t.Fatalf("runners that waited for the lock failed: %v", errs)
		}
	})
}

// TestFailedMigrationOnMariaDB: DDL commits on its own on MariaDB, so a
// migration failing half way is recorded with the failing statement, and
// Up refuses until it is resolved.
func TestFailedMigrationOnMariaDB(t *testing.T) {
	tg := dbtest.Open(t, dbtest.MariaDB)
	ctx := context.Background()
	fresh(t, tg)
	dir := t.TempDir()
	body := "-- mikro:up\nCREATE TABLE mig_ok (id INT);\nCREATE TABLE mig_ok (id INT);\nCREATE TABLE mig_never (id INT);\n"
	if err := os.WriteFile(filepath.Join(dir, "001_half.sql"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = tg.DB.ExecContext(context.Background(), "DROP TABLE IF EXISTS mig_ok") })
	m := migrate.New(tg.DB, dialectOf[tg.Name], os.DirFS(dir), migrate.Options{})
	_, err := m.Up(ctx, migrate.UpOptions{})
	if err == nil || !strings.Contains(err.Error(), "001_half: statement 2 of 3") {
		t.Fatalf("want the failing statement named, got %v", err)
	}
	list, err := m.List(ctx)
	if err != nil || len(list) != 1 || !list[0].Failed || list[0].Applied || !strings.Contains(list[0].Error, "statement 2 of 3") {
		t.Fatalf("recorded state: %+v %v", list, err)
	}
	if _, err := m.Up(ctx, migrate.UpOptions{}); !errors.Is(err, migrate.ErrFailedMigration) {
		t.Fatalf("Up after a failure must refuse: %v", err)
	}
	// Fixed by hand (here: the file, and the table it made), then resolved.
	if _, err := tg.DB.ExecContext(ctx, "DROP TABLE mig_ok"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "001_half.sql"), []byte("-- mikro:up\nCREATE TABLE mig_ok (id INT);\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Resolve(ctx, "001_half"); err != nil {
		t.Fatal(err)
	}
	if done, err := m.Up(ctx, migrate.UpOptions{}); err != nil || len(done) != 1 {
		t.Fatalf("after resolve: %v %v", done, err)
	}
}

// TestCreateFromSnapshot: migrations written without a target database,
// from the snapshot of the previous one, then applied to a fresh database
// whose schema then matches the entities.
func TestCreateFromSnapshot(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	open := func(name string) *sql.DB {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(tmp, name)+"?_pragma=foreign_keys(1)")
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	dev, target := open("dev.db"), open("target.db")
	dir := filepath.Join(tmp, "migrations")
	orm1, err := em.Open(ctx, em.Config{DB: target, Dialect: qb.SQLite, Entities: emtest.Entities})
	if err != nil {
		t.Fatal(err)
	}
	first, err := migrate.CreateFromSnapshot(ctx, orm1, dev, dir, "initial")
	if err != nil || first == "" {
		t.Fatalf("first: %q %v", first, err)
	}
	if again, err := migrate.CreateFromSnapshot(ctx, orm1, dev, dir, "same"); err != nil || again != "" {
		t.Fatalf("nothing changed: %q %v", again, err)
	}
	orm2, err := em.Open(ctx, em.Config{DB: target, Dialect: qb.SQLite, Entities: emtest.SchemaEntities})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // file names are stamped to the second
	second, err := migrate.CreateFromSnapshot(ctx, orm2, dev, dir, "all_kinds")
	if err != nil || second == "" {
		t.Fatalf("second: %q %v", second, err)
	}
	body, _ := os.ReadFile(second)
	if !strings.Contains(string(body), "em_all_kinds") || strings.Contains(string(body), "CREATE TABLE `em_author`") {
		t.Fatalf("the second migration must create only the new table:\n%s", body)
	}
	done, err := migrate.New(target, qb.SQLite, os.DirFS(dir), migrate.Options{}).Up(ctx, migrate.UpOptions{})
	if err != nil || len(done) != 2 {
		t.Fatalf("up: %v %v", done, err)
	}
	if err := migrate.Check(ctx, orm2, target, dev); err != nil {
		t.Fatalf("after the migrations: %v", err)
	}
}

// TestGoMigrationsAndSelection: Go migrations run in name order with the
// files, inside the transaction; --only and --to select what runs.
func TestGoMigrationsAndSelection(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "go.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "001_table.sql"), []byte("-- mikro:up\nCREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT);\n-- mikro:down\nDROP TABLE kv;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	seed := migrate.Migration{Name: "002_seed",
		Up: func(ctx context.Context, ex migrate.Execer) error {
			_, err := ex.ExecContext(ctx, "INSERT INTO kv VALUES ('a', '1')")
			return err
		},
		Down: func(ctx context.Context, ex migrate.Execer) error {
			_, err := ex.ExecContext(ctx, "DELETE FROM kv WHERE k = 'a'")
			return err
		}}
	var progress strings.Builder
	m := migrate.New(db, qb.SQLite, os.DirFS(dir), migrate.Options{Go: []migrate.Migration{seed}, Progress: &progress, Terminal: true})
	if done, err := m.Up(ctx, migrate.UpOptions{To: "001_table"}); err != nil || len(done) != 1 || done[0] != "001_table" {
		t.Fatalf("up --to: %v %v", done, err)
	}
	if done, err := m.Up(ctx, migrate.UpOptions{Only: "002_seed"}); err != nil || len(done) != 1 {
		t.Fatalf("up --only: %v %v", done, err)
	}
	var v string
	if err := db.QueryRow("SELECT v FROM kv WHERE k = 'a'").Scan(&v); err != nil || v != "1" {
		t.Fatalf("the Go migration's row: %q %v", v, err)
	}
	if _, err := m.Up(ctx, migrate.UpOptions{Only: "003_nothing"}); !errors.Is(err, migrate.ErrUnknownMigration) {
		t.Fatalf("an unknown --only: %v", err)
	}
	if back, err := m.Down(ctx, ""); err != nil || len(back) != 1 || back[0] != "002_seed" {
		t.Fatalf("down one: %v %v", back, err)
	}
	if !strings.Contains(progress.String(), "[1/1] applied 001_table (") || !strings.Contains(progress.String(), "[1/1] reverted 002_seed (") {
		t.Fatalf("terminal progress: %q", progress.String())
	}
}
