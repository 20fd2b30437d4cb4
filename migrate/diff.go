package migrate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/mysql"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlite"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/qb"
)

// Changes is the difference between a database and the schema of the
// entities: the statements that bring the database to the entities' schema,
// and those that undo them.
type Changes struct {
	Up   []string
	Down []string // in the order to run them; empty where a change cannot be undone
	// Unplanned describes differences no statement was planned for (atlas
	// cannot plan every change, e.g. a serial column to an identity one):
	// they need a hand-written migration.
	Unplanned []string
}

// Empty reports whether the database matches the entities.
func (c *Changes) Empty() bool { return len(c.Up) == 0 && len(c.Unplanned) == 0 }

// DriftError reports a database whose schema differs from the entities',
// with the statements that would fix it and the differences that need a
// hand-written migration.
type DriftError struct {
	Statements []string
	Unplanned  []string
}

// Error lists the statements and the unplanned differences.
func (e *DriftError) Error() string {
	msg := fmt.Sprintf("migrate: the database differs from the entities; %d statement(s) would fix it:\n%s", len(e.Statements), strings.Join(e.Statements, ";\n"))
	if len(e.Unplanned) > 0 {
		msg += fmt.Sprintf("\nand %d difference(s) need a hand-written migration:\n%s", len(e.Unplanned), strings.Join(e.Unplanned, "\n"))
	}
	return msg
}

// Diff compares the tables of orm's entities in target with the schema the
// entities describe, and plans the statements between them.
//
// The entities' schema is not derived from the metadata and compared with
// introspection (where every ORM's diff turns noisy: type aliases, default
// spellings, implicit indexes): it is created in dev, an empty database on
// the same server and version that Diff may wipe (atlas's "dev database"),
// and both sides are read by the same inspector, so that the only
// differences are real ones. Only the tables of the entities (and their
// pivot tables) are compared; other tables in target are left alone.
func Diff(ctx context.Context, orm *em.ORM, target, dev *sql.DB) (*Changes, error) {
	d := orm.Dialect()
	if d == nil {
		return nil, errors.New("migrate: Diff needs an ORM on a SQL database")
	}
	tdrv, err := driverFor(d, target)
	if err != nil {
		return nil, err
	}
	ddrv, err := driverFor(d, dev)
	if err != nil {
		return nil, err
	}
	opts := &schema.InspectOptions{Tables: tableNames(orm)}
	want, err := desired(ctx, orm, ddrv, dev, opts)
	if err != nil {
		return nil, err
	}
	have, err := tdrv.InspectSchema(ctx, "", opts)
	if err != nil {
		return nil, fmt.Errorf("migrate: inspect the database: %w", err)
	}
	// The dev database's own name and defaults (MySQL's database collation)
	// are not differences: the tables are compared, not the databases.
	want.Name, want.Attrs = have.Name, have.Attrs
	changes, err := tdrv.SchemaDiff(have, want)
	if err != nil {
		return nil, fmt.Errorf("migrate: diff: %w", err)
	}
	return planOf(ctx, tdrv, changes)
}

// planOf turns schema changes into statements up and down.
func planOf(ctx context.Context, drv migrate.Driver, changes []schema.Change) (*Changes, error) {
	out := &Changes{}
	if len(changes) == 0 {
		return out, nil
	}
	// Unqualified names: a migration written against one database runs on
	// another of another name (dev, test, production).
	noQualifier := func(o *migrate.PlanOptions) { o.SchemaQualifier = new(string) }
	plan, err := drv.PlanChanges(ctx, "diff", changes, noQualifier)
	if err != nil {
		// Plan what can be planned, one change at a time, and report the rest.
		plan = &migrate.Plan{}
		for _, c := range changes {
			p, err := drv.PlanChanges(ctx, "diff", []schema.Change{c}, noQualifier)
			if err != nil {
				out.Unplanned = append(out.Unplanned, fmt.Sprintf("%T on %s: %v", c, changeTable(c), err))
				continue
			}
			plan.Changes = append(plan.Changes, p.Changes...)
		}
	}
	for _, c := range plan.Changes {
		out.Up = append(out.Up, c.Cmd)
	}
	for i := len(plan.Changes) - 1; i >= 0; i-- {
		switch r := plan.Changes[i].Reverse.(type) {
		case string:
			if r != "" {
				out.Down = append(out.Down, r)
			}
		case []string:
			out.Down = append(out.Down, r...)
		}
	}
	return out, nil
}

// SnapshotFile is the file of a migrations folder that records the
// entities' schema as of the last migration CreateFromSnapshot wrote.
const SnapshotFile = "schema-snapshot.json"

type snapshot struct {
	Dialect    string   `json:"dialect"`
	Statements []string `json:"statements"`
}

// CreateFromSnapshot is Create without the target database: the schema the
// last migration left is rebuilt in dev from the snapshot file of dir (none:
// an empty schema), diffed against the entities' schema, and the snapshot
// is updated with the migration. Only dev is used, so a SQLite in memory
// does for SQLite, and a scratch database elsewhere.
func CreateFromSnapshot(ctx context.Context, orm *em.ORM, dev *sql.DB, dir, name string) (string, error) {
	d := orm.Dialect()
	if d == nil {
		return "", errors.New("migrate: CreateFromSnapshot needs an ORM on a SQL database")
	}
	drv, err := driverFor(d, dev)
	if err != nil {
		return "", err
	}
	var old snapshot
	path := filepath.Join(dir, SnapshotFile)
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &old); err != nil {
			return "", fmt.Errorf("migrate: %s: %w", path, err)
		}
		if old.Dialect != d.Name() {
			return "", fmt.Errorf("migrate: %s is a snapshot of %s, not %s", path, old.Dialect, d.Name())
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	opts := &schema.InspectOptions{Tables: tableNames(orm)}
	have, err := inspectAfter(ctx, drv, dev, old.Statements, opts)
	if err != nil {
		return "", err
	}
	want, err := desired(ctx, orm, drv, dev, opts)
	if err != nil {
		return "", err
	}
	changes, err := drv.SchemaDiff(have, want)
	if err != nil {
		return "", fmt.Errorf("migrate: diff: %w", err)
	}
	c, err := planOf(ctx, drv, changes)
	if err != nil || c.Empty() {
		return "", err
	}
	file, err := writeMigration(dir, name, c)
	if err != nil {
		return "", err
	}
	stmts, _ := orm.SchemaSQL()
	b, _ := json.MarshalIndent(snapshot{Dialect: d.Name(), Statements: stmts}, "", "  ")
	return file, os.WriteFile(path, append(b, '\n'), 0o644)
}

// Check returns a *DriftError when the database differs from the entities
// (nil when it matches): the `schema:check` of the command line.
func Check(ctx context.Context, orm *em.ORM, target, dev *sql.DB) error {
	c, err := Diff(ctx, orm, target, dev)
	if err != nil {
		return err
	}
	if !c.Empty() {
		return &DriftError{Statements: c.Up, Unplanned: c.Unplanned}
	}
	return nil
}

// Apply runs the statements of c.Up on target, in order, and stops at the
// first that fails, returning its error with the statement.
func Apply(ctx context.Context, target *sql.DB, c *Changes) error {
	for _, s := range c.Up {
		if _, err := target.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("migrate: %s: %w", s, err)
		}
	}
	return nil
}

// desired creates the entities' schema in dev, emptied first, and reads it.
func desired(ctx context.Context, orm *em.ORM, drv migrate.Driver, dev *sql.DB, opts *schema.InspectOptions) (*schema.Schema, error) {
	stmts, err := orm.SchemaSQL()
	if err != nil {
		return nil, err
	}
	return inspectAfter(ctx, drv, dev, stmts, opts)
}

// inspectAfter empties dev (every table: the dev database is Diff's to
// wipe, and a leftover table could hold a foreign key to one of ours), runs
// stmts on it and reads the result.
func inspectAfter(ctx context.Context, drv migrate.Driver, dev *sql.DB, stmts []string, opts *schema.InspectOptions) (*schema.Schema, error) {
	old, err := drv.InspectSchema(ctx, "", nil)
	if err != nil {
		return nil, fmt.Errorf("migrate: inspect the dev database: %w", err)
	}
	if len(old.Tables) > 0 {
		drop, err := drv.SchemaDiff(old, &schema.Schema{Name: old.Name, Attrs: old.Attrs})
		if err != nil {
			return nil, fmt.Errorf("migrate: empty the dev database: %w", err)
		}
		if err := drv.ApplyChanges(ctx, drop); err != nil {
			return nil, fmt.Errorf("migrate: empty the dev database: %w", err)
		}
	}
	if err := execAll(ctx, dev, stmts); err != nil {
		return nil, err
	}
	return drv.InspectSchema(ctx, "", opts)
}

// execAll runs stmts in order on one connection of db, given back before it
// returns (a dev database may allow a single connection).
func execAll(ctx context.Context, db *sql.DB, stmts []string) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("migrate: dev database: %s: %w", s, err)
		}
	}
	return nil
}

// tableNames are the tables of orm's entities and their pivot tables.
func tableNames(orm *em.ORM) []string {
	var out []string
	for _, m := range orm.Metas() {
		out = append(out, m.Table)
		for _, r := range m.Relations {
			if r.Owning {
				out = append(out, r.Pivot)
			}
		}
	}
	return out
}

func driverFor(d *qb.Dialect, db *sql.DB) (migrate.Driver, error) {
	switch d {
	case qb.Postgres:
		return postgres.Open(db)
	case qb.MySQL, qb.MariaDB:
		return mysql.Open(db)
	case qb.SQLite:
		return sqlite.Open(db)
	}
	return nil, fmt.Errorf("migrate: no schema driver for dialect %s", d.Name())
}

// Safe leaves out the statements of a plan that drop anything (tables,
// columns, indexes, constraints): schema:update --safe.
func Safe(stmts []string) []string {
	var out []string
	for _, s := range stmts {
		u := strings.ToUpper(s)
		if strings.HasPrefix(u, "DROP ") || strings.Contains(u, " DROP ") {
			continue
		}
		out = append(out, s)
	}
	return out
}

// DropAll drops every table of the database's current schema (of every
// owner, not only the entities'): migration:fresh.
func DropAll(ctx context.Context, db *sql.DB, d *qb.Dialect) error {
	drv, err := driverFor(d, db)
	if err != nil {
		return err
	}
	s, err := drv.InspectSchema(ctx, "", nil)
	if err != nil {
		return fmt.Errorf("migrate: inspect: %w", err)
	}
	if len(s.Tables) == 0 {
		return nil
	}
	changes, err := drv.SchemaDiff(s, &schema.Schema{Name: s.Name, Attrs: s.Attrs})
	if err != nil {
		return fmt.Errorf("migrate: drop everything: %w", err)
	}
	if err := drv.ApplyChanges(ctx, changes); err != nil {
		return fmt.Errorf("migrate: drop everything: %w", err)
	}
	return nil
}

// changeTable names the table a change is about, for messages.
func changeTable(c schema.Change) string {
	switch x := c.(type) {
	case *schema.ModifyTable:
		return x.T.Name
	case *schema.AddTable:
		return x.T.Name
	case *schema.DropTable:
		return x.T.Name
	}
	return "the schema"
}
