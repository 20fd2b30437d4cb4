package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/internal/dbtest"
	"github.com/mikrogo/mikro/internal/emtest"
	"github.com/mikrogo/mikro/migrate/cli"
	"github.com/mikrogo/mikro/qb"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mikro-cli")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "mikro")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/mikrogo/mikro/migrate/cmd/mikro").CombinedOutput(); err != nil {
		panic("build mikro: " + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// mikro runs the built binary with a clean MIKRO_* environment plus env.
func mikro(t *testing.T, dir string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MIKRO_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// dsnOf is the command line's DSN for a test database.
func dsnOf(t *testing.T, tg dbtest.Target) string {
	switch tg.Name {
	case dbtest.Postgres:
		return tg.DSN
	case dbtest.MariaDB:
		return "mariadb://" + tg.DSN
	}
	return "sqlite://" + filepath.Join(t.TempDir(), "cli.db")
}

func TestErrorsAndExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		env  []string
		code int
		want string
	}{
		{[]string{"migration:up"}, nil, cli.ExitUsage, "MIKRO_DSN"},
		{[]string{"migration:up", "--nope"}, nil, cli.ExitUsage, "unknown flag"},
		{[]string{"migration:sideways"}, nil, cli.ExitUsage, "unknown command"},
		{[]string{"migration:up", "--dsn", "oracle://x"}, nil, cli.ExitUsage, "not one of postgres"},
		{[]string{"migration:up"}, []string{"MIKRO_DSN=postgres://postgres@127.0.0.1:1/none?connect_timeout=2"}, cli.ExitUnreachable, "cannot reach the database"},
		{[]string{"schema:check", "--dsn", "sqlite://" + filepath.Join(dir, "x.db")}, nil, cli.ExitUsage, "needs your entities"},
		{[]string{"migration:list", "--config", filepath.Join(dir, "missing.json")}, nil, cli.ExitUsage, "config file"},
		// A DSN that does not parse is reported with its password hidden.
		{[]string{"database:create", "--dsn", "postgres://u:secret@127.0.0.1:badport/x"}, nil, cli.ExitUsage, "DSN postgres://u:***@127.0.0.1:badport/x: invalid port"},
	} {
		out, stderr, code := mikro(t, dir, c.env, c.args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != c.code || len(lines) != 1 || !strings.Contains(stderr, c.want) || strings.Contains(stderr+out, "secret") {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit %d and one line with %q (and no password)", c.args, code, stderr, out, c.code, c.want)
		}
	}
}

// TestMigrationCommands runs the standalone binary on every database:
// pending, up (with a progress line each), list, down, a bad file.
func TestMigrationCommands(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		ctx := context.Background()
		dir := t.TempDir()
		migs := filepath.Join(dir, "migrations")
		if err := os.MkdirAll(migs, 0o755); err != nil {
			t.Fatal(err)
		}
		_, _ = tg.DB.ExecContext(ctx, "DROP TABLE IF EXISTS mikro_orm_migrations")
		t.Cleanup(func() {
			for _, s := range []string{"DROP TABLE IF EXISTS cli_b", "DROP TABLE IF EXISTS cli_a", "DROP TABLE IF EXISTS mikro_orm_migrations"} {
				_, _ = tg.DB.ExecContext(context.Background(), s)
			}
		})
		for name, body := range map[string]string{
			"001_a.sql": "-- mikro:up\nCREATE TABLE cli_a (id INT);\n-- mikro:down\nDROP TABLE cli_a;\n",
			"002_b.sql": "-- mikro:up\nCREATE TABLE cli_b (id INT);\n-- mikro:down\nDROP TABLE cli_b;\n",
		} {
			if err := os.WriteFile(filepath.Join(migs, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		// The DSN from the environment, the folder from the config file.
		if err := os.WriteFile(filepath.Join(dir, "mikro.json"), []byte(`{"migrations": "migrations", "dsn": "postgres://wrong@127.0.0.1:1/x"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		env := []string{"MIKRO_DSN=" + dsnOf(t, tg)}
		if out, errs, code := mikro(t, dir, env, "migration:pending"); code != 0 || out != "001_a\n002_b\n" {
			t.Fatalf("pending: %d %q %q", code, out, errs)
		}
		out, errs, code := mikro(t, dir, env, "migration:up")
		if code != 0 || !strings.Contains(out, "applied 001_a") || !strings.Contains(out, "applied 002_b") {
			t.Fatalf("up: %d %q %q", code, out, errs)
		}
		if out, _, code := mikro(t, dir, env, "migration:list"); code != 0 || strings.Count(out, "applied") != 2 {
			t.Fatalf("list: %d %q", code, out)
		}
		if out, _, code := mikro(t, dir, env, "migration:down", "--to", "0"); code != 0 || strings.Count(out, "reverted") != 2 {
			t.Fatalf("down: %d %q", code, out)
		}
		if tg.Name == dbtest.SQLite {
			// fresh drops every table of the database: only on the test's own file.
			if out, errs, code := mikro(t, dir, env, "migration:up", "--only", "001_a"); code != 0 {
				t.Fatalf("up --only: %d %q %q", code, out, errs)
			}
			out, errs, code := mikro(t, dir, env, "migration:fresh")
			if code != 0 || strings.Count(out, "applied") != 2 {
				t.Fatalf("fresh: %d %q %q", code, out, errs)
			}
			if out, _, code := mikro(t, dir, env, "migration:pending"); code != 0 || out != "" {
				t.Fatalf("pending after fresh: %d %q", code, out)
			}
		}
		if err := os.WriteFile(filepath.Join(migs, "003_bad.sql"), []byte("CREATE TABLE x (id INT);\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, errs, code := mikro(t, dir, env, "migration:up"); code != cli.ExitFailed || !strings.Contains(errs, "003_bad.sql") {
			t.Fatalf("a bad file: %d %q", code, errs)
		}
	})
}

// TestEntityCommands runs the commands that need entities through cli.Run,
// as a program of one's own would.
func TestEntityCommands(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		if tg.Name == dbtest.SQLite {
			t.Skip("the dev database of SQLite is a file: covered by the migrate package's tests")
		}
		ctx := context.Background()
		dialect := map[string]*qb.Dialect{dbtest.Postgres: qb.Postgres, dbtest.MariaDB: qb.MariaDB}[tg.Name]
		orm, err := em.Open(ctx, em.Config{DB: tg.DB, Dialect: dialect, Entities: emtest.Entities})
		if err != nil {
			t.Fatal(err)
		}
		if err := orm.RefreshSchema(ctx); err != nil {
			t.Fatal(err)
		}
		dev := dsnOf(t, tg)
		if tg.Name == dbtest.Postgres {
			dev = strings.Replace(dev, "/"+strings.SplitN(strings.SplitN(dev, "/", 4)[3], "?", 2)[0], "/mikro_dev", 1)
		} else {
			slash, q := strings.LastIndex(dev, "/"), strings.Index(dev, "?")
			dev = dev[:slash+1] + "mikro_dev" + dev[q:]
		}
		run := func(args ...string) (string, string, int) {
			var out, errb bytes.Buffer
			code := cli.Run(cli.Config{Entities: emtest.Entities}, append(args, "--dsn", dsnOf(t, tg), "--dev-dsn", dev, "--migrations", t.TempDir()), &out, &errb)
			return out.String(), errb.String(), code
		}
		if out, errs, code := run("database:create"); code != 0 || !strings.Contains(out, "exists already") {
			t.Fatalf("database:create of an existing database: %d %q %q", code, out, errs)
		}
		if out, errs, code := run("schema:check"); code != 0 || !strings.Contains(out, "matches") {
			t.Fatalf("schema:check: %d %q %q", code, out, errs)
		}
		if _, err := tg.DB.ExecContext(ctx, "ALTER TABLE em_book ADD COLUMN extra INT"); err != nil {
			t.Fatal(err)
		}
		if out, errs, code := run("migration:check"); code != cli.ExitFailed || !strings.Contains(out, "extra") || !strings.Contains(errs, "differs") {
			t.Fatalf("migration:check after a drift: %d %q %q", code, out, errs)
		}
		if out, _, code := run("schema:update", "--dump", "--safe"); code != 0 || strings.Contains(out, "extra") {
			t.Fatalf("--safe keeps drops out: %d %q", code, out)
		}
		if out, errs, code := run("schema:update", "--run"); code != 0 {
			t.Fatalf("schema:update --run: %d %q %q", code, out, errs)
		}
		if out, _, code := run("schema:check"); code != 0 {
			t.Fatalf("after schema:update: %d %q", code, out)
		}
		if out, _, code := run("debug"); code != 0 || !strings.Contains(out, "entity Author: table em_author") {
			t.Fatalf("debug: %d %q", code, out)
		}
	})
}

// TestGenerateEntitiesCommand runs generate-entities of the binary on a
// small SQLite database: one file per table, gofmt-ed, warnings on stderr.
func TestGenerateEntitiesCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "shop.db")
	dsn := "sqlite://" + path
	for _, s := range []string{
		"CREATE TABLE customer (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL UNIQUE)",
		"CREATE TABLE purchase (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customer (id), total REAL, note TEXT)",
		"CREATE TABLE pair (a INTEGER, b INTEGER, PRIMARY KEY (a, b))",
	} {
		if out, errs, code := mikro(t, dir, nil, "database:create", "--dsn", dsn); code != 0 {
			t.Fatalf("database:create: %d %q %q", code, out, errs)
		}
		db := openSQLite(t, path)
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	out, errs, code := mikro(t, dir, nil, "generate-entities", "--dsn", dsn, "--out", filepath.Join(dir, "model"), "--package", "model", "--inverse")
	if code != 0 || !strings.Contains(out, "wrote 3 files") || !strings.Contains(errs, "pair: composite primary key") {
		t.Fatalf("generate-entities: %d %q %q", code, out, errs)
	}
	src, err := os.ReadFile(filepath.Join(dir, "model", "purchase.go"))
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(string(src)), " ")
	for _, want := range []string{"package model", "ID int64 `db:\"id\" orm:\"pk\"`", "Customer em.Ref[Customer] `db:\"customer_id\"`", "Total *float64 `db:\"total\"`"} {
		if !strings.Contains(flat, want) {
			t.Errorf("purchase.go lacks %q:\n%s", want, src)
		}
	}
}

func openSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// TestCreateFromSnapshotCommand: migration:create --snapshot needs no
// target database, only a dev one.
func TestCreateFromSnapshotCommand(t *testing.T) {
	dir := t.TempDir()
	migs := filepath.Join(dir, "migrations")
	var out, errb bytes.Buffer
	code := cli.Run(cli.Config{Entities: emtest.Entities}, []string{"migration:create", "--snapshot", "--initial",
		"--dev-dsn", "sqlite://" + filepath.Join(dir, "dev.db"), "--migrations", migs}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "_initial.sql") {
		t.Fatalf("migration:create --snapshot: %d %q %q", code, out.String(), errb.String())
	}
	if _, err := os.Stat(filepath.Join(migs, "schema-snapshot.json")); err != nil {
		t.Fatal(err)
	}
}
