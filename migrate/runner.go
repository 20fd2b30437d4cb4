package migrate

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/qb"
)

// Migration is one step of the schema: SQL read from a file of the
// migrations folder, or Go code registered with Options.Go.
type Migration struct {
	Name string // "20261128065600_add_books": sorts in the order to apply
	// SQL migrations: the statements of each direction.
	UpSQL, DownSQL []string
	// Go migrations: run inside the migration's transaction where there is
	// one (the *sql.Tx), else on a connection.
	Up, Down func(ctx context.Context, ex Execer) error
	checksum string
}

// Execer runs statements: a *sql.Tx or a *sql.Conn.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Options configure a Migrator. The zero value is MikroORM's defaults.
type Options struct {
	// Table records the applied migrations; "mikro_orm_migrations" by default.
	Table string
	// NotTransactional runs each statement on its own instead of each
	// migration in a transaction (MikroORM's transactional: false).
	NotTransactional bool
	// OneByOne gives each migration its own transaction instead of one for
	// all pending ones (MikroORM's allOrNothing: false).
	OneByOne bool
	// Go lists migrations written in Go, applied with the SQL files in
	// name order.
	Go []Migration
	// Progress receives a line per migration applied or reverted, with its
	// duration (nil: nothing).
	Progress io.Writer
	// Terminal marks Progress as a terminal: each line then starts with the
	// count so far of the run ("[2/5] applied …").
	Terminal bool
}

// Status is a migration as List sees it.
type Status struct {
	Name      string
	Applied   bool
	AppliedAt time.Time
	// Edited: the file changed after it was applied (its checksum differs).
	Edited bool
	// Failed: applying it failed part way on a database without
	// transactional DDL (MariaDB, MySQL); Error says at which statement.
	Failed bool
	Error  string
}

var (
	// ErrFailedMigration: a migration failed part way before, on a database
	// that cannot roll DDL back; Up refuses until it is resolved by hand
	// and marked with Resolve.
	ErrFailedMigration = errors.New("migrate: a migration failed part way")
	// ErrUnknownMigration: a name given to Up or Down that no migration has.
	ErrUnknownMigration = errors.New("migrate: no such migration")
)

// Migrator applies and reverts migrations on one database. Runners in
// several processes are kept apart by the database lock; one Migrator value
// runs one Up or Down at a time.
type Migrator struct {
	db   *sql.DB
	d    *qb.Dialect
	dir  fs.FS
	opts Options
	// Of the running Up or Down, for progress: how many migrations, and
	// how many done.
	total, done int
}

// New returns a Migrator for db in dialect d, with the SQL migrations of
// dir (nil for none): files named <name>.sql, each with a "-- mikro:up"
// section and an optional "-- mikro:down" section, statements ending with a
// semicolon at the end of a line.
func New(db *sql.DB, d *qb.Dialect, dir fs.FS, opts Options) *Migrator {
	if opts.Table == "" {
		opts.Table = "mikro_orm_migrations"
	}
	return &Migrator{db: db, d: d, dir: dir, opts: opts}
}

// transactionalDDL reports whether the dialect rolls DDL back.
func (m *Migrator) transactionalDDL() bool { return m.d == qb.Postgres || m.d == qb.SQLite }

// Migrations returns every migration, files and Go, in name order. A file
// that cannot be parsed is an error naming it.
func (m *Migrator) Migrations() ([]Migration, error) {
	var out []Migration
	if m.dir != nil {
		names, err := fs.Glob(m.dir, "*.sql")
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			b, err := fs.ReadFile(m.dir, n)
			if err != nil {
				return nil, err
			}
			mg, err := parseFile(strings.TrimSuffix(n, ".sql"), string(b))
			if err != nil {
				return nil, err
			}
			out = append(out, mg)
		}
	}
	for _, g := range m.opts.Go {
		if g.Up == nil {
			return nil, fmt.Errorf("migrate: Go migration %q has no Up", g.Name)
		}
		g.checksum = "go"
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b Migration) int { return strings.Compare(a.Name, b.Name) })
	for i := 1; i < len(out); i++ {
		if out[i].Name == out[i-1].Name {
			return nil, fmt.Errorf("migrate: two migrations named %q", out[i].Name)
		}
	}
	return out, nil
}

const (
	upMarker   = "-- mikro:up"
	downMarker = "-- mikro:down"
)

// parseFile reads a migration file.
func parseFile(name, text string) (Migration, error) {
	sum := sha256.Sum256([]byte(text))
	mg := Migration{Name: name, checksum: hex.EncodeToString(sum[:])}
	var cur *[]string
	var stmt strings.Builder
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch trimmed {
		case upMarker:
			cur = &mg.UpSQL
			continue
		case downMarker:
			if stmt.Len() > 0 {
				return mg, fmt.Errorf("migrate: %s.sql:%d: the statement before %q has no closing semicolon", name, i+1, downMarker)
			}
			cur = &mg.DownSQL
			continue
		}
		if cur == nil {
			if trimmed != "" && !strings.HasPrefix(trimmed, "--") {
				return mg, fmt.Errorf("migrate: %s.sql:%d: SQL before %q", name, i+1, upMarker)
			}
			continue
		}
		if stmt.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "--")) {
			continue
		}
		stmt.WriteString(line)
		stmt.WriteString("\n")
		if strings.HasSuffix(trimmed, ";") {
			s := strings.TrimSuffix(strings.TrimSpace(stmt.String()), ";")
			*cur = append(*cur, s)
			stmt.Reset()
		}
	}
	if stmt.Len() > 0 {
		return mg, fmt.Errorf("migrate: %s.sql: the last statement has no closing semicolon", name)
	}
	if cur == nil {
		return mg, fmt.Errorf("migrate: %s.sql has no %q line", name, upMarker)
	}
	return mg, nil
}

// Create writes a migration file into dir with the statements that bring
// target to the schema of orm's entities (Diff, with dev as the dev
// database) and those that undo them, named <UTC timestamp>_<name>.sql. With
// blank, the file has empty sections and no database is read. It returns
// the path, or "" and no error when there is nothing to migrate.
func Create(ctx context.Context, orm *em.ORM, target, dev *sql.DB, dir, name string, blank bool) (string, error) {
	var c Changes
	if !blank {
		d, err := Diff(ctx, orm, target, dev)
		if err != nil {
			return "", err
		}
		if d.Empty() {
			return "", nil
		}
		c = *d
	}
	return writeMigration(dir, name, &c)
}

// writeMigration writes a migration file of c into dir.
func writeMigration(dir, name string, c *Changes) (string, error) {
	if name == "" {
		name = "migration"
	}
	var b strings.Builder
	b.WriteString(upMarker + "\n")
	for _, s := range c.Up {
		b.WriteString(s + ";\n")
	}
	b.WriteString("\n" + downMarker + "\n")
	for _, s := range c.Down {
		b.WriteString(s + ";\n")
	}
	file := filepath.Join(dir, time.Now().UTC().Format("20060102150405")+"_"+name+".sql")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if _, err := os.Stat(file); err == nil {
		return "", fmt.Errorf("migrate: %s exists already (two migrations in one second?)", file)
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		return "", err
	}
	return file, nil
}

type record struct {
	name     string
	at       time.Time
	checksum string
	failed   string // the error of a failed migration; "" when applied
}

// ensureTable creates the record table if it is missing.
func (m *Migrator) ensureTable(ctx context.Context, ex Execer) error {
	id := "id INTEGER PRIMARY KEY AUTOINCREMENT"
	ts := "TIMESTAMP"
	switch m.d {
	case qb.Postgres:
		id, ts = "id SERIAL PRIMARY KEY", "TIMESTAMPTZ"
	case qb.MySQL, qb.MariaDB:
		id, ts = "id INT AUTO_INCREMENT PRIMARY KEY", "DATETIME(6)"
	}
	_, err := ex.ExecContext(ctx, fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s, name VARCHAR(255) NOT NULL UNIQUE, executed_at %s NOT NULL, checksum VARCHAR(64) NOT NULL DEFAULT '', failed TEXT)",
		m.quote(m.opts.Table), id, ts))
	return err
}

func (m *Migrator) quote(name string) string {
	q, err := m.d.QuoteIdent(name)
	if err != nil {
		return name
	}
	return q
}

func (m *Migrator) records(ctx context.Context, ex Execer) (map[string]record, error) {
	rows, err := ex.QueryContext(ctx, "SELECT name, executed_at, checksum, failed FROM "+m.quote(m.opts.Table))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]record{}
	for rows.Next() {
		var r record
		var failed sql.NullString
		var at any
		if err := rows.Scan(&r.name, &at, &r.checksum, &failed); err != nil {
			return nil, err
		}
		r.at = asTime(at)
		r.failed = failed.String
		out[r.name] = r
	}
	return out, rows.Err()
}

func asTime(v any) time.Time {
	switch t := v.(type) {
	case time.Time:
		return t
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999", "2006-01-02 15:04:05"} {
			if p, err := time.Parse(layout, t); err == nil {
				return p
			}
		}
	case []byte:
		return asTime(string(t))
	}
	return time.Time{}
}

// session is what List, Up and Down start from: every migration, a
// connection holding the migration lock, and the records read under it.
type session struct {
	all     []Migration
	conn    *sql.Conn
	recs    map[string]record
	release func() // unlocks and closes the connection
}

// begin takes the lock on a connection of its own, makes the record table
// if it is missing (under the lock: CREATE TABLE IF NOT EXISTS races with
// itself on PostgreSQL) and reads the records.
func (m *Migrator) begin(ctx context.Context) (*session, error) {
	all, err := m.Migrations()
	if err != nil {
		return nil, err
	}
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	unlock, err := m.lock(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	release := func() { unlock(); conn.Close() }
	if err := m.ensureTable(ctx, conn); err != nil {
		release()
		return nil, err
	}
	recs, err := m.records(ctx, conn)
	if err != nil {
		release()
		return nil, err
	}
	return &session{all: all, conn: conn, recs: recs, release: release}, nil
}

// List returns every migration with its state.
func (m *Migrator) List(ctx context.Context) ([]Status, error) {
	ss, err := m.begin(ctx)
	if err != nil {
		return nil, err
	}
	ss.release()
	all, recs := ss.all, ss.recs
	var out []Status
	for _, mg := range all {
		s := Status{Name: mg.Name}
		if r, ok := recs[mg.Name]; ok {
			s.Applied, s.AppliedAt = r.failed == "", r.at
			s.Failed, s.Error = r.failed != "", r.failed
			s.Edited = r.checksum != "" && mg.checksum != "go" && r.checksum != mg.checksum
		}
		out = append(out, s)
	}
	return out, nil
}

// Pending returns the names of the migrations not applied yet.
func (m *Migrator) Pending(ctx context.Context) ([]string, error) {
	list, err := m.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range list {
		if !s.Applied {
			out = append(out, s.Name)
		}
	}
	return out, nil
}

// UpOptions narrow Up: From and To bound the pending migrations applied
// (names, inclusive); Only applies one.
type UpOptions struct {
	From, To, Only string
}

// Up applies the pending migrations in name order, holding the database's
// migration lock so that two runners never apply one twice, and returns
// their names. On PostgreSQL and SQLite all of them run in one transaction
// (each in its own with Options.OneByOne): a failure applies none. On
// MariaDB and MySQL, whose DDL commits on its own, a failing migration is
// recorded as failed with the statement that failed, and Up refuses
// (ErrFailedMigration) until it is resolved.
func (m *Migrator) Up(ctx context.Context, o UpOptions) ([]string, error) {
	return m.run(ctx, true, func(all []Migration, recs map[string]record) ([]Migration, error) {
		for _, r := range recs {
			if r.failed != "" {
				return nil, fmt.Errorf("%w: migration %s %s (fix the database by hand, then mark it with Migrator.Resolve or `migration:resolve %s`, and run Up again)", ErrFailedMigration, r.name, failedText(r.failed), r.name)
			}
		}
		var out []Migration
		for _, mg := range all {
			if _, done := recs[mg.Name]; done {
				continue
			}
			if o.Only != "" && mg.Name != o.Only || o.From != "" && mg.Name < o.From || o.To != "" && mg.Name > o.To {
				continue
			}
			out = append(out, mg)
		}
		if o.Only != "" && len(out) == 0 && !slices.ContainsFunc(all, func(mg Migration) bool { return mg.Name == o.Only }) {
			return nil, fmt.Errorf("%w: %q", ErrUnknownMigration, o.Only)
		}
		return out, nil
	})
}

// Down reverts applied migrations, newest first: the last one, or every
// one after To ("0": all of them).
func (m *Migrator) Down(ctx context.Context, to string) ([]string, error) {
	return m.run(ctx, false, func(all []Migration, recs map[string]record) ([]Migration, error) {
		var applied []Migration
		for _, mg := range all {
			if r, ok := recs[mg.Name]; ok && r.failed == "" {
				applied = append(applied, mg)
			}
		}
		slices.Reverse(applied)
		switch to {
		case "":
			if len(applied) > 1 {
				applied = applied[:1]
			}
			return applied, nil
		case "0":
			return applied, nil
		}
		if !slices.ContainsFunc(all, func(mg Migration) bool { return mg.Name == to }) {
			return nil, fmt.Errorf("%w: %q", ErrUnknownMigration, to)
		}
		var out []Migration
		for _, mg := range applied {
			if mg.Name > to {
				out = append(out, mg)
			}
		}
		return out, nil
	})
}

// Resolve forgets the failed state of a migration after it was fixed by
// hand (so that Up applies it again from the start).
func (m *Migrator) Resolve(ctx context.Context, name string) error {
	res, err := m.db.ExecContext(ctx, "DELETE FROM "+m.quote(m.opts.Table)+" WHERE name = "+m.placeholder(1)+" AND failed IS NOT NULL", name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %q has not failed", ErrUnknownMigration, name)
	}
	return nil
}

func (m *Migrator) placeholder(i int) string {
	if m.d == qb.Postgres {
		return fmt.Sprintf("$%d", i)
	}
	return "?"
}

// run takes the lock, picks the migrations and applies (up) or reverts them.
func (m *Migrator) run(ctx context.Context, up bool, pick func([]Migration, map[string]record) ([]Migration, error)) ([]string, error) {
	ss, err := m.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer ss.release()
	all, recs, conn := ss.all, ss.recs, ss.conn
	todo, err := pick(all, recs)
	if err != nil || len(todo) == 0 {
		return nil, err
	}
	m.total, m.done = len(todo), 0
	if m.transactionalDDL() && !m.opts.NotTransactional && !m.opts.OneByOne {
		return m.inOneTx(ctx, conn, todo, up)
	}
	var done []string
	for _, mg := range todo {
		if m.transactionalDDL() && !m.opts.NotTransactional {
			// Only what this runner applied: inOneTx skips a migration
			// another runner applied since the records were read.
			names, err := m.inOneTx(ctx, conn, []Migration{mg}, up)
			done = append(done, names...)
			if err != nil {
				return done, err
			}
			continue
		}
		if err := m.stepByStep(ctx, conn, mg, up); err != nil {
			return done, err
		}
		done = append(done, mg.Name)
	}
	return done, nil
}

// inOneTx applies or reverts migrations in one transaction.
func (m *Migrator) inOneTx(ctx context.Context, conn *sql.Conn, list []Migration, up bool) ([]string, error) {
	var (
		ex       Execer
		commit   func() error
		rollback func()
	)
	if m.d == qb.SQLite {
		// BEGIN IMMEDIATE takes SQLite's write lock now, not at the first
		// write: a second runner waits here (busy timeout) or fails, and
		// never reads records that are about to change.
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return nil, fmt.Errorf("migrate: lock: %w", err)
		}
		ex = conn
		commit = func() error { _, err := conn.ExecContext(ctx, "COMMIT"); return err }
		rollback = func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK") }
	} else {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		ex, commit, rollback = tx, tx.Commit, func() { _ = tx.Rollback() }
	}
	// Read the records again inside the transaction: what a runner that
	// held the lock before this one applied is seen here.
	recs, err := m.records(ctx, ex)
	if err != nil {
		rollback()
		return nil, err
	}
	var names []string
	for _, mg := range list {
		if _, done := recs[mg.Name]; done == up {
			continue // applied (or reverted) meanwhile by another runner
		}
		start := time.Now()
		if err := m.apply(ctx, ex, mg, up, nil); err != nil {
			rollback()
			return nil, err
		}
		if err := m.record(ctx, ex, mg, up, ""); err != nil {
			rollback()
			return nil, err
		}
		m.progress(mg, up, start)
		names = append(names, mg.Name)
	}
	if err := commit(); err != nil {
		rollback()
		return nil, err
	}
	return names, nil
}

// stepByStep applies a migration statement by statement (DDL that commits
// on its own). Applying, it records first that the migration is under way
// and, before each statement, which one runs, on a connection of the pool
// other than conn: if conn dies (killed, the network, the process), the
// record still says truthfully how far it got, and the next Up refuses
// (ErrFailedMigration) rather than run the first statements again. A
// failure that conn lives to see is recorded with its error.
func (m *Migrator) stepByStep(ctx context.Context, conn *sql.Conn, mg Migration, up bool) error {
	start := time.Now()
	if !up {
		if err := m.apply(ctx, conn, mg, up, nil); err != nil {
			return err
		}
		if err := m.record(ctx, conn, mg, up, ""); err != nil {
			return err
		}
		m.progress(mg, up, start)
		return nil
	}
	if err := m.record(ctx, m.db, mg, up, interrupted(mg, 0)); err != nil {
		return fmt.Errorf("migrate: %s: recording that it starts: %w", mg.Name, err)
	}
	cur := 0
	err := m.apply(ctx, conn, mg, up, func(i int) error {
		cur = i
		if i == 0 {
			return nil // the record says statement 1 already
		}
		return m.setFailed(ctx, mg, interrupted(mg, i))
	})
	if err != nil {
		text := err.Error()
		if mg.Up == nil && cur > 0 {
			text += fmt.Sprintf("; statements 1 to %d had run, and the failed one may have taken effect in part", cur)
		}
		if rerr := m.setFailed(context.WithoutCancel(ctx), mg, text); rerr != nil {
			return errors.Join(err, fmt.Errorf("migrate: %s: recording the failure (the record says it was interrupted): %w", mg.Name, rerr))
		}
		return err
	}
	if err := m.setFailed(ctx, mg, ""); err != nil {
		return fmt.Errorf("migrate: %s: applied, but recording it failed (the record says it was interrupted at its last statement): %w", mg.Name, err)
	}
	m.progress(mg, up, start)
	return nil
}

// interrupted is what the record of a migration says while statement i
// (0-based) of it runs: what is left if the runner dies there.
func interrupted(mg Migration, i int) string {
	if mg.Up != nil {
		return "interrupted while its Go function ran; the database may hold part of it"
	}
	if len(mg.UpSQL) == 0 {
		return "interrupted before its first statement"
	}
	return fmt.Sprintf("interrupted at statement %d of %d (%s); the database may hold statements 1 to %d of it",
		i+1, len(mg.UpSQL), firstLine(mg.UpSQL[i]), i+1)
}

// setFailed sets the failed text of mg's record on a connection of the
// pool ("": applied, and executed_at is now).
func (m *Migrator) setFailed(ctx context.Context, mg Migration, failed string) error {
	var f any
	if failed != "" {
		f = failed
	}
	_, err := m.db.ExecContext(ctx, "UPDATE "+m.quote(m.opts.Table)+" SET failed = "+m.placeholder(1)+", executed_at = "+m.placeholder(2)+
		" WHERE name = "+m.placeholder(3), f, time.Now().UTC(), mg.Name)
	return err
}

// apply runs one migration's statements (or its Go function) on ex;
// before, when set, runs before statement i (0-based) and stops apply with
// its error.
func (m *Migrator) apply(ctx context.Context, ex Execer, mg Migration, up bool, before func(i int) error) error {
	fn, stmts := mg.Up, mg.UpSQL
	if !up {
		fn, stmts = mg.Down, mg.DownSQL
	}
	if fn != nil {
		if err := fn(ctx, ex); err != nil {
			return fmt.Errorf("migrate: %s: %w", mg.Name, err)
		}
		return nil
	}
	if !up && mg.checksum == "go" {
		return fmt.Errorf("migrate: %s has no Down", mg.Name)
	}
	for i, s := range stmts {
		if before != nil {
			if err := before(i); err != nil {
				return fmt.Errorf("migrate: %s: recording that statement %d of %d starts: %w", mg.Name, i+1, len(stmts), err)
			}
		}
		if _, err := ex.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("migrate: %s: statement %d of %d (%s): %w", mg.Name, i+1, len(stmts), firstLine(s), err)
		}
	}
	return nil
}

// failedText words a record's failed text after the migration's name.
func failedText(failed string) string {
	if strings.HasPrefix(failed, "interrupted") {
		return "was " + failed
	}
	return "failed: " + failed
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// record writes (up) or deletes (down) a migration's record; failed, when
// set, records a migration that failed part way.
func (m *Migrator) record(ctx context.Context, ex Execer, mg Migration, up bool, failed string) error {
	table := m.quote(m.opts.Table)
	if !up {
		_, err := ex.ExecContext(ctx, "DELETE FROM "+table+" WHERE name = "+m.placeholder(1), mg.Name)
		return err
	}
	var f any
	if failed != "" {
		f = failed
	}
	_, err := ex.ExecContext(ctx, "INSERT INTO "+table+" (name, executed_at, checksum, failed) VALUES ("+
		m.placeholder(1)+", "+m.placeholder(2)+", "+m.placeholder(3)+", "+m.placeholder(4)+")", mg.Name, time.Now().UTC(), mg.checksum, f)
	return err
}

func (m *Migrator) progress(mg Migration, up bool, start time.Time) {
	if m.opts.Progress == nil {
		return
	}
	verb := "applied"
	if !up {
		verb = "reverted"
	}
	m.done++
	if m.opts.Terminal {
		fmt.Fprintf(m.opts.Progress, "[%d/%d] ", m.done, m.total)
	}
	fmt.Fprintf(m.opts.Progress, "%s %s (%s)\n", verb, mg.Name, time.Since(start).Round(time.Millisecond))
}

// lock takes the database's migration lock on conn: an advisory lock on
// PostgreSQL, GET_LOCK on MySQL and MariaDB. On SQLite the migrations'
// transaction itself takes the exclusive write lock (BEGIN IMMEDIATE).
func (m *Migrator) lock(ctx context.Context, conn *sql.Conn) (func(), error) {
	switch m.d {
	case qb.Postgres:
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7270306)"); err != nil {
			return nil, fmt.Errorf("migrate: lock: %w", err)
		}
		return func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7270306)") }, nil
	case qb.MySQL, qb.MariaDB:
		var got sql.NullInt64
		// GET_LOCK names are server-wide: the name carries the database's
		// and the table's, so that the runners of other databases on the
		// server do not wait for this one. A killed connection releases it.
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(CONCAT('mikro:', LEFT(IFNULL(DATABASE(), ''), 40), ':', LEFT(?, 16)), 600)", m.opts.Table).Scan(&got); err != nil {
			return nil, fmt.Errorf("migrate: lock: %w", err)
		}
		if got.Int64 != 1 {
			return nil, errors.New("migrate: lock: another runner held the migration lock for 10 minutes")
		}
		return func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(CONCAT('mikro:', LEFT(IFNULL(DATABASE(), ''), 40), ':', LEFT(?, 16)))", m.opts.Table)
		}, nil
	}
	return func() {}, nil
}
