package gen_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mikrogo/mikro/internal/dbtest"
	"github.com/mikrogo/mikro/migrate/gen"
	"github.com/mikrogo/mikro/qb"
)

// repo is the root of the repository (this file is in
// internal/tests/migrate/gen).
func repo(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", "..", ".."))
}

func sampleData(t *testing.T, parts ...string) string {
	base := os.Getenv("MIKRO_SAMPLE_DATA")
	if base == "" {
		base = filepath.Join(repo(t), "internal", "testdata", "sampledb")
	}
	p := filepath.Join(append([]string{base}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		// The files are in the repository; only a MIKRO_SAMPLE_DATA that
		// points elsewhere can miss them, which CI must not pass over.
		t.Fatalf("sample database missing (MIKRO_SAMPLE_DATA overrides internal/testdata/sampledb): %v", err)
	}
	return p
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// loadPagila loads Pagila into a fresh database "pagila" on the test
// server and returns a pool on it and its DSN.
func loadPagila(t *testing.T, tg dbtest.Target) (*sql.DB, string) {
	t.Helper()
	ctx := context.Background()
	if _, err := tg.DB.ExecContext(ctx, "DROP DATABASE IF EXISTS pagila"); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.DB.ExecContext(ctx, "CREATE DATABASE pagila"); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(tg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/pagila"
	host, port := u.Hostname(), u.Port()
	for _, f := range []string{"pagila-schema.sql", "pagila-data.sql"} {
		run(t, "psql", "-q", "-v", "ON_ERROR_STOP=0", "-h", host, "-p", port, "-U", u.User.Username(), "-d", "pagila", "-f", sampleData(t, "pagila", f))
	}
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, u.String()
}

// loadSakila loads Sakila into the database "sakila" on the MariaDB server.
func loadSakila(t *testing.T, tg dbtest.Target) (*sql.DB, string) {
	t.Helper()
	addr := strings.TrimSuffix(strings.TrimPrefix(tg.DSN[strings.Index(tg.DSN, "tcp(")+4:], ""), "")
	addr = addr[:strings.Index(addr, ")")]
	host, port, _ := strings.Cut(addr, ":")
	for _, f := range []string{"sakila-schema.sql", "sakila-data.sql"} {
		cmd := exec.Command("mysql", "-h", host, "-P", port, "-uroot")
		in, err := os.Open(sampleData(t, "sakila-mysql", f))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdin = in
		if out, err := cmd.CombinedOutput(); err != nil {
			in.Close()
			t.Fatalf("mysql < %s: %v\n%s", f, err, out)
		}
		in.Close()
	}
	slash, q := strings.LastIndex(tg.DSN, "/"), strings.Index(tg.DSN, "?")
	dsn := tg.DSN[:slash+1] + "sakila" + tg.DSN[q:]
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

// program is the main of the module that uses the generated entities: it
// opens an ORM with them and runs a find with populate across a foreign key.
const program = `package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/migrate"
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"

	"gentest/entities"
)

func main() {
	ctx := context.Background()
	orm, err := em.Open(ctx, em.Config{Driver: os.Args[1], DSN: os.Args[2], Dialect: dialect(os.Args[1]), Entities: entities.Entities})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	e := orm.Fork()
	films, err := em.Find[entities.Film](ctx, e, em.F{"title": em.Like("ACADEMY%")}, em.FindOptions{Populate: []string{"language"}})
	if err != nil {
		fmt.Println("find:", err)
		os.Exit(1)
	}
	for _, f := range films {
		l, err := f.Language.Get()
		if err != nil {
			fmt.Println("language:", err)
			os.Exit(1)
		}
		fmt.Printf("%s (%s)\n", f.Title, l.Name)
	}
	langs, err := em.Find[entities.Language](ctx, e, em.F{"name": em.Like("English%")}, em.FindOptions{Populate: []string{"languageFilms"}})
	if err != nil || len(langs) != 1 {
		fmt.Println("languages:", len(langs), err)
		os.Exit(1)
	}
	english, err := langs[0].LanguageFilms.Count()
	if err != nil {
		fmt.Println("films of English:", err)
		os.Exit(1)
	}
	fmt.Println("English films:", english)
	n, err := em.Count[entities.Customer](ctx, e, nil)
	if err != nil {
		fmt.Println("count:", err)
		os.Exit(1)
	}
	fmt.Println("customers:", n)
	// The schema check on a schema nobody here designed: it may find
	// differences (the generated entities are not the dump's DDL), and
	// must not fail.
	dev, err := sql.Open(os.Args[1], os.Args[3])
	if err != nil {
		fmt.Println("dev:", err)
		os.Exit(1)
	}
	// An error here (atlas cannot plan every change, e.g. serial to
	// identity both ways) is an answer too; a panic is not.
	if c, err := migrate.Diff(ctx, orm, orm.DB(), dev); err != nil {
		fmt.Println("schema check ran: error:", err)
	} else {
		fmt.Printf("schema check ran: %d statements, %d unplanned\n", len(c.Up), len(c.Unplanned))
	}
}
`

// buildAndRun writes the generated files into a module of their own next
// to a main that uses them, and runs it.
func buildAndRun(t *testing.T, res *gen.Result, driver, dsn, devDSN, dialectExpr string) string {
	return buildAndRunProgram(t, res, program, driver, dsn, dialectExpr, devDSN)
}

func buildAndRunProgram(t *testing.T, res *gen.Result, program, driver, dsn, dialectExpr string, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	pkg := filepath.Join(dir, "entities")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range res.Files {
		if err := os.WriteFile(filepath.Join(pkg, name), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := repo(t)
	gomod := "module gentest\n\ngo 1.26.0\n\nrequire (\n\tgithub.com/mikrogo/mikro/em v0.0.0\n\tgithub.com/mikrogo/mikro/migrate v0.0.0\n\tgithub.com/mikrogo/mikro/qb v0.0.0\n)\n\nreplace (\n" +
		"\tgithub.com/mikrogo/mikro/em => " + filepath.Join(root, "em") + "\n" +
		"\tgithub.com/mikrogo/mikro/migrate => " + filepath.Join(root, "migrate") + "\n" +
		"\tgithub.com/mikrogo/mikro/qb => " + filepath.Join(root, "qb") + "\n" + ")\n"
	main := strings.Replace(program, "func main() {", "func dialect(string) *qb.Dialect { return "+dialectExpr+" }\n\nfunc main() {", 1)
	main = strings.Replace(main, "\"github.com/mikrogo/mikro/em\"\n", "\"github.com/mikrogo/mikro/em\"\n\t\"github.com/mikrogo/mikro/qb\"\n", 1)
	sum, _ := os.ReadFile(filepath.Join(root, "migrate", "go.sum"))
	for name, body := range map[string]string{"go.mod": gomod, "main.go": main, "go.sum": string(sum)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", append([]string{"run", ".", driver, dsn}, extra...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the generated entities do not build or run: %v\n%s", err, out)
	}
	t.Logf("the program's output:\n%s", out)
	return string(out)
}

// TestGeneratePagila: entities generated from Pagila (PostgreSQL) compile,
// open, and find with populate across a foreign key; what cannot be mapped
// (partitions, composite keys, arrays, tsvector, views) is warned about.
func TestGeneratePagila(t *testing.T) {
	tg := dbtest.Open(t, dbtest.Postgres)
	db, dsn := loadPagila(t, tg)
	res, err := gen.Generate(context.Background(), db, qb.Postgres, gen.Options{Inverse: true})
	if err != nil {
		t.Fatal(err)
	}
	warn := strings.Join(res.Warnings, "\n")
	for _, w := range []string{"payment: composite primary key", "film_actor: composite primary key", "film: column fulltext", "film: column special_features", "view actor_info: not mapped", "trigger last_updated on film: not mapped"} {
		if !strings.Contains(warn, w) {
			t.Errorf("no warning about %q in:\n%s", w, warn)
		}
	}
	var english int
	if err := db.QueryRow("SELECT count(*) FROM film f JOIN language l ON l.language_id = f.language_id WHERE l.name LIKE 'English%'").Scan(&english); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(dsn)
	u.Path = "/mikro_dev"
	if _, err := tg.DB.Exec("CREATE DATABASE mikro_dev"); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	out := buildAndRun(t, res, "pgx", dsn, u.String(), "qb.Postgres")
	if !strings.Contains(out, "ACADEMY DINOSAUR (English") || !strings.Contains(out, fmt.Sprintf("English films: %d\n", english)) || !strings.Contains(out, "customers: 599") || !strings.Contains(out, "schema check ran: ") {
		t.Fatalf("output (want %d English films):\n%s", english, out)
	}
}

// TestGenerateSakila is TestGeneratePagila on Sakila (MariaDB): SET, ENUM,
// GEOMETRY, YEAR, triggers and views.
func TestGenerateSakila(t *testing.T) {
	tg := dbtest.Open(t, dbtest.MariaDB)
	db, dsn := loadSakila(t, tg)
	res, err := gen.Generate(context.Background(), db, qb.MariaDB, gen.Options{Inverse: true})
	if err != nil {
		t.Fatal(err)
	}
	warn := strings.Join(res.Warnings, "\n")
	for _, w := range []string{"film_actor: composite primary key", "film: column special_features has type set(", "view customer_list: not mapped", "trigger customer_create_date on customer: not mapped"} {
		if !strings.Contains(warn, w) {
			t.Errorf("no warning about %q in:\n%s", w, warn)
		}
	}
	if _, err := tg.DB.Exec("CREATE DATABASE IF NOT EXISTS mikro_dev"); err != nil {
		t.Fatal(err)
	}
	slash, q := strings.LastIndex(dsn, "/"), strings.Index(dsn, "?")
	out := buildAndRun(t, res, "mysql", dsn, dsn[:slash+1]+"mikro_dev"+dsn[q:], "qb.MariaDB")
	if !strings.Contains(out, "ACADEMY DINOSAUR (English") || !strings.Contains(out, "customers: 599") || !strings.Contains(out, "schema check ran: ") {
		t.Fatalf("output:\n%s", out)
	}
}

const pivotProgram = `package main

import (
	"context"
	"fmt"
	"os"

	"github.com/mikrogo/mikro/em"
	_ "modernc.org/sqlite"

	"gentest/entities"
)

func main() {
	ctx := context.Background()
	orm, err := em.Open(ctx, em.Config{Driver: os.Args[1], DSN: os.Args[2], Dialect: dialect(os.Args[1]), Entities: entities.Entities})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	e := orm.Fork()
	cs, err := em.Find[entities.Customer](ctx, e, nil, em.FindOptions{OrderBy: []string{"name"}, Populate: []string{"tags"}})
	if err != nil {
		fmt.Println("find:", err)
		os.Exit(1)
	}
	for _, c := range cs {
		n, err := c.Tags.Count()
		if err != nil {
			fmt.Println("tags:", err)
			os.Exit(1)
		}
		fmt.Printf("%s: %d tags\n", c.Name, n)
	}
	ts, err := em.Find[entities.Tag](ctx, e, em.F{"label": "vip"}, em.FindOptions{Populate: []string{"customers"}})
	if err != nil || len(ts) != 1 {
		fmt.Println("tag:", len(ts), err)
		os.Exit(1)
	}
	n, _ := ts[0].Customers.Count()
	fmt.Printf("vip customers: %d\n", n)
}
`

// TestGeneratePurePivot: a pure pivot table becomes a many-to-many
// collection on both sides, through the table's own columns.
func TestGeneratePurePivot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shop.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range []string{
		"CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
		"CREATE TABLE tag (id INTEGER PRIMARY KEY, label TEXT NOT NULL)",
		"CREATE TABLE customer_tag (customer_id INTEGER NOT NULL REFERENCES customer (id), tag_id INTEGER NOT NULL REFERENCES tag (id), PRIMARY KEY (customer_id, tag_id))",
		"INSERT INTO customer VALUES (1, 'Ann'), (2, 'Bob')",
		"INSERT INTO tag VALUES (1, 'vip'), (2, 'new')",
		"INSERT INTO customer_tag VALUES (1, 1), (1, 2), (2, 1)",
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	res, err := gen.Generate(context.Background(), db, qb.SQLite, gen.Options{Inverse: true, Pivots: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Files["customer_tag.go"]; ok {
		t.Fatal("a pure pivot must not become an entity")
	}
	out := buildAndRunProgram(t, res, pivotProgram, "sqlite", "file:"+path, "qb.SQLite")
	if out != "Ann: 2 tags\nBob: 1 tags\nvip customers: 2\n" {
		t.Fatalf("output:\n%s\n%s", out, res.Files["customer.go"])
	}
}
