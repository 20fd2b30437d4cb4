// Package cli is the mikro command line: migrations, schema and database
// commands named as MikroORM names them.
//
// Go cannot load your entity structs at run time, so the commands that need
// entity metadata (migration:create, migration:check, schema:*) exist in a
// main of your own that passes them:
//
//	package main
//
//	import (
//		"os"
//
//		"github.com/mikrogo/mikro/migrate/cli"
//		"example.com/app/model"
//	)
//
//	func main() {
//		os.Exit(cli.Run(cli.Config{Entities: model.Entities}, os.Args[1:], os.Stdout, os.Stderr))
//	}
//
// The standalone binary (go run github.com/mikrogo/mikro/migrate/cmd/mikro)
// has every command that needs no metadata: migration:up, migration:down,
// migration:list, migration:pending, migration:fresh, generate-entities,
// database:create and debug.
//
// # Configuration
//
// Each setting comes from a flag, else an environment variable, else the
// config file (mikro.json in the working directory, or --config):
//
//	setting         flag           environment          mikro.json
//	database        --dsn          MIKRO_DSN            "dsn"
//	dev database    --dev-dsn      MIKRO_DEV_DSN        "devDsn"
//	migrations dir  --migrations   MIKRO_MIGRATIONS     "migrations" (default "migrations")
//
// A DSN names its database by scheme: postgres://… (pgx), mysql://<a
// go-sql-driver DSN> or mariadb://<the same>, sqlite://<path> (modernc).
//
// # Exit codes
//
// 0 success; 1 the operation failed or, for check commands, the schema has
// drifted; 2 a usage or configuration error; 3 the database cannot be
// reached. Errors are one line on standard error, with what to do.
package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/cobra"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/migrate"
	"github.com/mikrogo/mikro/migrate/gen"
	"github.com/mikrogo/mikro/qb"

	_ "github.com/jackc/pgx/v5/stdlib" // postgres://
	_ "modernc.org/sqlite"             // sqlite://
)

// Config is what a program of your own gives the command line.
type Config struct {
	// Entities are the entity types, as for em.Config.Entities; without
	// them the commands that need metadata report how to get them.
	Entities []any
	// Schemas declare entities in code, as em.Config.Schemas.
	Schemas []*em.Schema
	// Go migrations, applied with the SQL files in name order.
	Go []migrate.Migration
}

// Exit codes.
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitUsage       = 2
	ExitUnreachable = 3
)

// exitError carries an exit code with the error Run prints on one line;
// that error wraps the cause fail's format names with %w.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// Unwrap returns the message's error, which wraps its cause.
func (e *exitError) Unwrap() error { return e.err }

// fail is the error that makes Run exit with code, its message made by
// fmt.Errorf(format, args...): a cause given with %w stays reachable.
func fail(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

// Run runs the command line with args (without the program name), writing
// to stdout and stderr, and returns the exit code.
func Run(cfg Config, args []string, stdout, stderr io.Writer) int {
	root := newRoot(cfg, stdout)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		fmt.Fprintln(stderr, "mikro: "+oneLine(ee.Error()))
		return ee.code
	}
	// Cobra's own errors: unknown commands and flags.
	fmt.Fprintln(stderr, "mikro: "+err.Error()+" (see mikro --help)")
	return ExitUsage
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// oneLine folds a message onto one line (drivers' errors span several).
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

type settings struct {
	config, dsn, devDSN, dir string
}

// resolve fills what the flags left empty from the environment, then the
// config file.
func (s *settings) resolve() error {
	file := struct {
		DSN        string `json:"dsn"`
		DevDSN     string `json:"devDsn"`
		Migrations string `json:"migrations"`
	}{}
	path, explicit := s.config, s.config != ""
	if path == "" {
		path = "mikro.json"
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &file); err != nil {
			return fail(ExitUsage, "config file %s: %w", path, err)
		}
	case explicit || !errors.Is(err, os.ErrNotExist):
		return fail(ExitUsage, "config file: %w", err)
	}
	pick := func(flag, env, fromFile, def string) string {
		switch {
		case flag != "":
			return flag
		case os.Getenv(env) != "":
			return os.Getenv(env)
		case fromFile != "":
			return fromFile
		}
		return def
	}
	s.dsn = pick(s.dsn, "MIKRO_DSN", file.DSN, "")
	s.devDSN = pick(s.devDSN, "MIKRO_DEV_DSN", file.DevDSN, "")
	s.dir = pick(s.dir, "MIKRO_MIGRATIONS", file.Migrations, "migrations")
	return nil
}

// open opens the database a DSN names.
func open(ctx context.Context, dsn, what string) (*sql.DB, *qb.Dialect, error) {
	if dsn == "" {
		return nil, nil, fail(ExitUsage, "no %s: set --%s, %s, or %q in mikro.json", what, map[string]string{"database": "dsn", "dev database": "dev-dsn"}[what],
			map[string]string{"database": "MIKRO_DSN", "dev database": "MIKRO_DEV_DSN"}[what], map[string]string{"database": "dsn", "dev database": "devDsn"}[what])
	}
	driver, source, d, err := parseDSN(dsn)
	if err != nil {
		return nil, nil, err
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		return nil, nil, fail(ExitUsage, "%s: %w", what, err)
	}
	if d == qb.SQLite {
		db.SetMaxOpenConns(1)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, nil, fail(ExitUnreachable, "cannot reach the %s (%s): %w; is the server running and the DSN right?", what, redact(dsn), err)
	}
	return db, d, nil
}

// parseDSN splits a DSN into a database/sql driver, its data source and
// the dialect.
func parseDSN(dsn string) (driver, source string, d *qb.Dialect, err error) {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return "", "", nil, fail(ExitUsage, "DSN %q has no scheme: use postgres://, mysql://, mariadb:// or sqlite://", redact(dsn))
	}
	switch scheme {
	case "postgres", "postgresql":
		return "pgx", dsn, qb.Postgres, nil
	case "mysql":
		return "mysql", rest, qb.MySQL, nil
	case "mariadb":
		return "mysql", rest, qb.MariaDB, nil
	case "sqlite":
		if !strings.Contains(rest, "_pragma=foreign_keys") {
			sep := "?"
			if strings.Contains(rest, "?") {
				sep = "&"
			}
			rest += sep + "_pragma=foreign_keys(1)"
		}
		return "sqlite", "file:" + rest, qb.SQLite, nil
	}
	return "", "", nil, fail(ExitUsage, "DSN scheme %q is not one of postgres, mysql, mariadb, sqlite", scheme)
}

// redact hides a DSN's password.
func redact(dsn string) string {
	if at := strings.LastIndex(dsn, "@"); at > 0 {
		if colon := strings.LastIndex(dsn[:at], ":"); colon > strings.Index(dsn, "://")+2 {
			return dsn[:colon+1] + "***" + dsn[at:]
		}
	}
	return dsn
}

func newRoot(cfg Config, stdout io.Writer) *cobra.Command {
	s := &settings{}
	root := &cobra.Command{
		Use:           "mikro",
		Short:         "Migrations, schema and database commands for mikro",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&s.config, "config", "", "config file (default ./mikro.json when present)")
	root.PersistentFlags().StringVar(&s.dsn, "dsn", "", "database: postgres://…, mysql://…, mariadb://…, sqlite://path (env MIKRO_DSN)")
	root.PersistentFlags().StringVar(&s.devDSN, "dev-dsn", "", "an empty database on the same server, for diffs (env MIKRO_DEV_DSN)")
	root.PersistentFlags().StringVar(&s.dir, "migrations", "", "migrations folder (env MIKRO_MIGRATIONS; default migrations)")
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return s.resolve() }

	// withDB opens the database for a command.
	withDB := func(fn func(ctx context.Context, db *sql.DB, d *qb.Dialect) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			db, d, err := open(cmd.Context(), s.dsn, "database")
			if err != nil {
				return err
			}
			defer db.Close()
			return fn(cmd.Context(), db, d)
		}
	}
	migrator := func(db *sql.DB, d *qb.Dialect) *migrate.Migrator {
		return migrate.New(db, d, os.DirFS(s.dir), migrate.Options{Go: cfg.Go, Progress: stdout, Terminal: isTerminal(stdout)})
	}
	// withORM also opens the ORM of the entities, and the dev database.
	withORM := func(needDev bool, fn func(ctx context.Context, orm *em.ORM, db, dev *sql.DB, d *qb.Dialect) error) func(*cobra.Command, []string) error {
		return withDB(func(ctx context.Context, db *sql.DB, d *qb.Dialect) error {
			if len(cfg.Entities) == 0 && len(cfg.Schemas) == 0 {
				return fail(ExitUsage, "this command needs your entities: build a main that calls cli.Run(cli.Config{Entities: …}) (see go doc github.com/mikrogo/mikro/migrate/cli)")
			}
			orm, err := em.Open(ctx, em.Config{DB: db, Dialect: d, Entities: cfg.Entities, Schemas: cfg.Schemas})
			if err != nil {
				return fail(ExitUsage, "%w", err)
			}
			var dev *sql.DB
			if needDev {
				if dev, _, err = open(ctx, s.devDSN, "dev database"); err != nil {
					return err
				}
				defer dev.Close()
			}
			return fn(ctx, orm, db, dev, d)
		})
	}
	failed := func(err error) error {
		if err == nil {
			return nil
		}
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		return fail(ExitFailed, "%w", err) // Run prints it on one line
	}

	var up migrate.UpOptions
	upCmd := &cobra.Command{Use: "migration:up", Short: "Apply pending migrations", Args: cobra.NoArgs,
		RunE: withDB(func(ctx context.Context, db *sql.DB, d *qb.Dialect) error {
			done, err := migrator(db, d).Up(ctx, up)
			if err == nil && len(done) == 0 {
				fmt.Fprintln(stdout, "no pending migrations")
			}
			return failed(err)
		})}
	upCmd.Flags().StringVar(&up.From, "from", "", "first migration to apply")
	upCmd.Flags().StringVar(&up.To, "to", "", "last migration to apply")
	upCmd.Flags().StringVar(&up.Only, "only", "", "apply only this migration")

	var downTo string
	downCmd := &cobra.Command{Use: "migration:down", Short: "Revert the last migration, or down to --to (0: all)", Args: cobra.NoArgs,
		RunE: withDB(func(ctx context.Context, db *sql.DB, d *qb.Dialect) error {
			done, err := migrator(db, d).Down(ctx, downTo)
			if err == nil && len(done) == 0 {
				fmt.Fprintln(stdout, "nothing to revert")
			}
			return failed(err)
		})}
	downCmd.Flags().StringVar(&downTo, "to", "", "revert every migration after this one (0: all)")

	listCmd := &cobra.Command{Use: "migration:list", Short: "List migrations and their state", Args: cobra.NoArgs,
		RunE: withDB(func(ctx context.Context, db *sql.DB, d *qb.Dialect) error {
			list, err := migrator(db, d).List(ctx)
			for _, st := range list {
				state := "pending"
				switch {
				case st.Failed:
					state = "FAILED: " + st.Error
				case st.Applied:
					state = "applied " + st.AppliedAt.UTC().Format("2006-01-02 15:04:05")
				}
				if st.Edited {
					state += " (edited since)"
				}
				fmt.Fprintf(stdout, "%s\t%s\n", st.Name, state)
			}
			return failed(err)
		})}
	resolveCmd := &cobra.Command{Use: "migration:resolve NAME", Short: "Forget that a migration failed or was interrupted, once the database is fixed by hand, so that migration:up applies it again", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withDB(func(ctx context.Context, db *sql.DB, d *qb.Dialect) error {
				return failed(migrator(db, d).Resolve(ctx, args[0]))
			})(cmd, args)
		}}
	pendingCmd := &cobra.Command{Use: "migration:pending", Short: "List pending migrations", Args: cobra.NoArgs,
		RunE: withDB(func(ctx context.Context, db *sql.DB, d *qb.Dialect) error {
			names, err := migrator(db, d).Pending(ctx)
			for _, n := range names {
				fmt.Fprintln(stdout, n)
			}
			return failed(err)
		})}
	freshCmd := &cobra.Command{Use: "migration:fresh", Short: "Drop every table of the database, then apply all migrations", Args: cobra.NoArgs,
		RunE: withDB(func(ctx context.Context, db *sql.DB, d *qb.Dialect) error {
			if err := migrate.DropAll(ctx, db, d); err != nil {
				return failed(err)
			}
			_, err := migrator(db, d).Up(ctx, migrate.UpOptions{})
			return failed(err)
		})}

	var name string
	var blank, initial, fromSnapshot bool
	report := func(path string, err error) error {
		if err == nil {
			if path == "" {
				fmt.Fprintln(stdout, "no changes: the database matches the entities")
			} else {
				fmt.Fprintln(stdout, "created "+path)
			}
		}
		return failed(err)
	}
	createFromDB := withORM(true, func(ctx context.Context, orm *em.ORM, db, dev *sql.DB, _ *qb.Dialect) error {
		if initial && name == "" {
			name = "initial"
		}
		return report(migrate.Create(ctx, orm, db, dev, s.dir, name, blank))
	})
	createCmd := &cobra.Command{Use: "migration:create", Short: "Write a migration from the difference between the entities and the database (or the last snapshot)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !fromSnapshot {
				return createFromDB(cmd, args)
			}
			if len(cfg.Entities) == 0 && len(cfg.Schemas) == 0 {
				return fail(ExitUsage, "this command needs your entities: build a main that calls cli.Run(cli.Config{Entities: …})")
			}
			dev, d, err := open(cmd.Context(), s.devDSN, "dev database")
			if err != nil {
				return err
			}
			defer dev.Close()
			orm, err := em.Open(cmd.Context(), em.Config{DB: dev, Dialect: d, Entities: cfg.Entities, Schemas: cfg.Schemas})
			if err != nil {
				return fail(ExitUsage, "%w", err)
			}
			if initial && name == "" {
				name = "initial"
			}
			return report(migrate.CreateFromSnapshot(cmd.Context(), orm, dev, s.dir, name))
		}}
	createCmd.Flags().StringVar(&name, "name", "", "name of the migration")
	createCmd.Flags().BoolVar(&blank, "blank", false, "an empty migration to fill by hand")
	createCmd.Flags().BoolVar(&initial, "initial", false, "the first migration (named initial)")
	createCmd.Flags().BoolVar(&fromSnapshot, "snapshot", false, "diff against the schema snapshot of the migrations folder instead of the database (needs only --dev-dsn)")

	check := func(ctx context.Context, orm *em.ORM, db, dev *sql.DB, _ *qb.Dialect) error {
		err := migrate.Check(ctx, orm, db, dev)
		var drift *migrate.DriftError
		if errors.As(err, &drift) {
			for _, st := range drift.Statements {
				fmt.Fprintln(stdout, st+";")
			}
			for _, u := range drift.Unplanned {
				fmt.Fprintln(stdout, "-- needs a hand-written migration: "+oneLine(u))
			}
			return fail(ExitFailed, "the database differs from the entities (%d statement(s) above would fix it, %d difference(s) need a hand-written migration)", len(drift.Statements), len(drift.Unplanned))
		}
		if err == nil {
			fmt.Fprintln(stdout, "the database matches the entities")
		}
		return failed(err)
	}
	migCheck := &cobra.Command{Use: "migration:check", Short: "Exit 1 if the database has drifted from the entities", Args: cobra.NoArgs, RunE: withORM(true, check)}
	schemaCheck := &cobra.Command{Use: "schema:check", Short: "Diff the entities against the database; exit 1 on any difference", Args: cobra.NoArgs, RunE: withORM(true, check)}

	var dump, run, safe bool
	schemaUpdate := &cobra.Command{Use: "schema:update", Short: "Bring the database to the entities' schema (--dump prints, --run applies)", Args: cobra.NoArgs,
		RunE: withORM(true, func(ctx context.Context, orm *em.ORM, db, dev *sql.DB, _ *qb.Dialect) error {
			if !dump && !run {
				return fail(ExitUsage, "schema:update needs --dump (print the statements) or --run (apply them)")
			}
			c, err := migrate.Diff(ctx, orm, db, dev)
			if err != nil {
				return failed(err)
			}
			if safe {
				c.Up = migrate.Safe(c.Up)
			}
			if dump {
				for _, st := range c.Up {
					fmt.Fprintln(stdout, st+";")
				}
			}
			for _, u := range c.Unplanned {
				fmt.Fprintln(root.ErrOrStderr(), "warning: needs a hand-written migration: "+oneLine(u))
			}
			if run {
				return failed(migrate.Apply(ctx, db, c))
			}
			return nil
		})}
	schemaUpdate.Flags().BoolVar(&dump, "dump", false, "print the statements")
	schemaUpdate.Flags().BoolVar(&run, "run", false, "apply the statements")
	schemaUpdate.Flags().BoolVar(&safe, "safe", false, "leave out statements that drop anything")
	schemaCreate := &cobra.Command{Use: "schema:create", Short: "Create the entities' tables", Args: cobra.NoArgs,
		RunE: withORM(false, func(ctx context.Context, orm *em.ORM, _, _ *sql.DB, _ *qb.Dialect) error {
			return failed(orm.CreateSchema(ctx))
		})}
	schemaDrop := &cobra.Command{Use: "schema:drop", Short: "Drop the entities' tables", Args: cobra.NoArgs,
		RunE: withORM(false, func(ctx context.Context, orm *em.ORM, _, _ *sql.DB, _ *qb.Dialect) error {
			return failed(orm.DropSchema(ctx))
		})}
	schemaFresh := &cobra.Command{Use: "schema:fresh", Short: "Drop and create the entities' tables", Args: cobra.NoArgs,
		RunE: withORM(false, func(ctx context.Context, orm *em.ORM, _, _ *sql.DB, _ *qb.Dialect) error {
			return failed(orm.RefreshSchema(ctx))
		})}

	dbCreate := &cobra.Command{Use: "database:create", Short: "Create the database the DSN names, on its server", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if s.dsn == "" {
				_, _, err := open(cmd.Context(), "", "database")
				return err
			}
			created, err := createDatabase(cmd.Context(), s.dsn)
			if err != nil {
				var ee *exitError
				if errors.As(err, &ee) {
					return err
				}
				return fail(ExitUnreachable, "%w", err)
			}
			if created {
				fmt.Fprintln(stdout, "created the database")
			} else {
				fmt.Fprintln(stdout, "the database exists already")
			}
			return nil
		}}
	debugCmd := &cobra.Command{Use: "debug", Short: "Print the configuration and the entities", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(stdout, "dsn: %s\ndev dsn: %s\nmigrations: %s\n", redact(s.dsn), redact(s.devDSN), s.dir)
			if len(cfg.Entities) == 0 && len(cfg.Schemas) == 0 {
				fmt.Fprintln(stdout, "entities: none (the standalone binary; build a main with cli.Run to add yours)")
				return nil
			}
			orm, err := em.Open(context.Background(), em.Config{Driver: "sqlite", DSN: "file::memory:", Entities: cfg.Entities, Schemas: cfg.Schemas})
			if err != nil {
				return fail(ExitUsage, "%w", err)
			}
			defer orm.Close()
			for _, m := range orm.Metas() {
				fmt.Fprintf(stdout, "entity %s: table %s, %d fields, %d relations\n", m.Name, m.Table, len(m.Fields), len(m.Relations))
			}
			return nil
		}}
	var genOut string
	var genOpts gen.Options
	genCmd := &cobra.Command{Use: "generate-entities", Short: "Write entity structs for the tables of the database", Args: cobra.NoArgs,
		RunE: withDB(func(ctx context.Context, db *sql.DB, d *qb.Dialect) error {
			res, err := gen.Generate(ctx, db, d, genOpts)
			if err != nil {
				return failed(err)
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(root.ErrOrStderr(), "warning: "+w)
			}
			if err := os.MkdirAll(genOut, 0o755); err != nil {
				return failed(err)
			}
			names := make([]string, 0, len(res.Files))
			for n := range res.Files {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				if err := os.WriteFile(filepath.Join(genOut, n), res.Files[n], 0o644); err != nil {
					return failed(err)
				}
			}
			fmt.Fprintf(stdout, "wrote %d files to %s (%d warnings)\n", len(names), genOut, len(res.Warnings))
			return nil
		})}
	genCmd.Flags().StringVar(&genOut, "out", "entities", "folder to write the files to")
	genCmd.Flags().StringVar(&genOpts.Package, "package", "entities", "package name of the files")
	genCmd.Flags().BoolVar(&genOpts.Inverse, "inverse", false, "add one-to-many collections on the referenced entities")
	genCmd.Flags().BoolVar(&genOpts.NullTypes, "null-types", false, "sql.Null* types for nullable columns instead of pointers")
	genCmd.Flags().BoolVar(&genOpts.Pivots, "pivots", false, "map pure pivot tables as many-to-many collections")
	root.AddCommand(genCmd)
	root.AddCommand(upCmd, downCmd, listCmd, resolveCmd, pendingCmd, freshCmd, createCmd, migCheck, schemaCheck, schemaUpdate, schemaCreate, schemaDrop, schemaFresh, dbCreate, debugCmd)
	return root
}

// createDatabase creates the database a DSN names, connecting to its
// server without it; it reports whether it was created (false: it exists).
func createDatabase(ctx context.Context, dsn string) (bool, error) {
	driver, source, d, err := parseDSN(dsn)
	if err != nil {
		return false, err
	}
	var admin, name, create, exists string
	switch d {
	case qb.Postgres:
		u, err := url.Parse(source)
		if err != nil {
			// Not the *url.Error itself: its message and its URL hold the
			// password. Its cause, with the DSN redacted, says the same.
			var ue *url.Error
			if errors.As(err, &ue) {
				return false, fail(ExitUsage, "DSN %s: %w", redact(dsn), ue.Err)
			}
			return false, fail(ExitUsage, "DSN: %w", err)
		}
		name = strings.TrimPrefix(u.Path, "/")
		u.Path = "/postgres"
		admin = u.String()
		exists = "SELECT count(*) FROM pg_database WHERE datname = $1"
		create = "CREATE DATABASE " + quoteWith(d, name)
	case qb.MySQL, qb.MariaDB:
		cfg, err := mysql.ParseDSN(source)
		if err != nil {
			return false, fail(ExitUsage, "DSN: %w", err)
		}
		name, cfg.DBName = cfg.DBName, ""
		admin = cfg.FormatDSN()
		exists = "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?"
		create = "CREATE DATABASE " + quoteWith(d, name) + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
	default: // SQLite: the file is the database
		path := strings.TrimPrefix(strings.SplitN(source, "?", 2)[0], "file:")
		_, statErr := os.Stat(path)
		db, err := sql.Open(driver, source)
		if err != nil {
			return false, err
		}
		defer db.Close()
		if err := db.PingContext(ctx); err != nil {
			return false, err
		}
		return errors.Is(statErr, os.ErrNotExist), nil
	}
	if name == "" {
		return false, fail(ExitUsage, "the DSN names no database")
	}
	db, err := sql.Open(driver, admin)
	if err != nil {
		return false, err
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, exists, name).Scan(&n); err != nil {
		return false, fail(ExitUnreachable, "cannot reach the server of %s: %w", redact(dsn), err)
	}
	if n > 0 {
		return false, nil
	}
	if _, err := db.ExecContext(ctx, create); err != nil {
		return false, fail(ExitFailed, "create database %s: %w", name, err)
	}
	return true, nil
}

func quoteWith(d *qb.Dialect, name string) string {
	q, err := d.QuoteIdent(name)
	if err != nil {
		return name
	}
	return q
}
