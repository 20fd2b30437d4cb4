package em

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mikrogo/mikro/internal/dbtest"
)

// Driver error shapes, as translateError sees them: by method and field,
// never by import.

type pgErr struct {
	code, ConstraintName string
}

func (e *pgErr) Error() string    { return "pg " + e.code }
func (e *pgErr) SQLState() string { return e.code }

// pqErr is lib/pq's shape: the constraint in a field named Constraint.
type pqErr struct {
	code, Constraint string
}

func (e *pqErr) Error() string    { return "pq " + e.code }
func (e *pqErr) SQLState() string { return e.code }

type MySQLError struct {
	Number  uint16
	Message string
}

func (e *MySQLError) Error() string { return fmt.Sprintf("Error %d: %s", e.Number, e.Message) }

type sqliteErr struct{ code int }

func (e *sqliteErr) Error() string {
	return fmt.Sprintf("sqlite %d: constraint failed: UNIQUE constraint failed: t.name", e.code)
}
func (e *sqliteErr) Code() int { return e.code }

// sqliteMsgErr is a SQLite error with only a primary code and a message.
type sqliteMsgErr struct {
	code int
	msg  string
}

func (e *sqliteMsgErr) Error() string { return e.msg }
func (e *sqliteMsgErr) Code() int     { return e.code }

// TestDBErrClassify covers every code translateError knows, for the three
// drivers' error shapes, also when wrapped (by %w and by errors.Join).
func TestDBErrClassify(t *testing.T) {
	cases := []struct {
		err  error
		kind error
	}{
		{&pgErr{code: "23505", ConstraintName: "uq_x"}, ErrUniqueViolation},
		{&pgErr{code: "23503"}, ErrForeignKeyViolation},
		{&pgErr{code: "23502"}, ErrNotNullViolation},
		{&pgErr{code: "40P01"}, ErrDeadlock},
		{&pgErr{code: "40001"}, ErrSerialization},
		{&pgErr{code: "55P03"}, ErrLockTimeout},
		{&pqErr{code: "23505"}, ErrUniqueViolation},
		{&MySQLError{Number: 1062, Message: "Duplicate entry 'a' for key 'uq_name'"}, ErrUniqueViolation},
		{&MySQLError{Number: 1586}, ErrUniqueViolation},
		{&MySQLError{Number: 1452}, ErrForeignKeyViolation},
		{&MySQLError{Number: 1451}, ErrForeignKeyViolation},
		{&MySQLError{Number: 1216}, ErrForeignKeyViolation},
		{&MySQLError{Number: 1217}, ErrForeignKeyViolation},
		{&MySQLError{Number: 1048}, ErrNotNullViolation},
		{&MySQLError{Number: 1364}, ErrNotNullViolation},
		{&MySQLError{Number: 1213}, ErrDeadlock},
		{&MySQLError{Number: 1205}, ErrLockTimeout},
		{&MySQLError{Number: 3572}, ErrLockTimeout},
		{&sqliteErr{2067}, ErrUniqueViolation},
		{&sqliteErr{1555}, ErrUniqueViolation},
		{&sqliteErr{787}, ErrForeignKeyViolation},
		{&sqliteErr{1299}, ErrNotNullViolation},
		{&sqliteErr{5}, ErrLockTimeout},
		{&sqliteErr{517}, ErrLockTimeout}, // SQLITE_BUSY_SNAPSHOT
		{&sqliteErr{6}, ErrLockTimeout},   // SQLITE_LOCKED
		{&sqliteMsgErr{19, "UNIQUE constraint failed: t.a, t.b"}, ErrUniqueViolation},
		{&sqliteMsgErr{19, "FOREIGN KEY constraint failed"}, ErrForeignKeyViolation},
		{&sqliteMsgErr{19, "NOT NULL constraint failed: t.a"}, ErrNotNullViolation},
	}
	for _, c := range cases {
		for _, err := range []error{c.err, fmt.Errorf("wrapped: %w", c.err), errors.Join(errors.New("first"), fmt.Errorf("second: %w", c.err))} {
			got := translateError(err, "Thing")
			var dbe *DBError
			if !errors.Is(got, c.kind) || !errors.As(got, &dbe) || dbe.Entity != "Thing" || !errors.Is(got, c.err) || dbe.Err != err {
				t.Errorf("%v: got %v, want %v", err, got, c.kind)
				continue
			}
			if (c.kind == ErrDeadlock || c.kind == ErrSerialization) != dbe.Retryable() {
				t.Errorf("%v: Retryable() = %v", err, dbe.Retryable())
			}
		}
	}
	constraints := []struct {
		err  error
		want string
	}{
		{&pgErr{code: "23505", ConstraintName: "uq_x"}, "uq_x"},
		{&pqErr{code: "23503", Constraint: "fk_y"}, "fk_y"},
		{&MySQLError{Number: 1062, Message: "Duplicate entry 'a' for key 'uq_name'"}, "uq_name"},
		{&MySQLError{Number: 1062, Message: "Duplicate entry 'a' for key 'users.uq_name'"}, "uq_name"}, // MySQL 8
		{&MySQLError{Number: 1452, Message: "Cannot add or update a child row: a foreign key constraint fails (`db`.`c`, CONSTRAINT `fk_c_p` FOREIGN KEY (`p`) REFERENCES `p` (`id`))"}, "fk_c_p"},
		{&sqliteErr{2067}, "t.name"},
		{&sqliteMsgErr{2067, "constraint failed: UNIQUE constraint failed: t.a, t.b (2067)"}, "t.a, t.b"},
		{&sqliteMsgErr{787, "constraint failed: FOREIGN KEY constraint failed (787)"}, ""},
	}
	for _, c := range constraints {
		if got := translateError(c.err, ""); got.(*DBError).Constraint != c.want {
			t.Errorf("%v: constraint %q, want %q", c.err, got.(*DBError).Constraint, c.want)
		}
	}
	translated := translateError(&pgErr{code: "23505"}, "A")
	for _, plain := range []error{nil, context.Canceled, fmt.Errorf("query: %w", context.DeadlineExceeded), errors.New("other"),
		&pgErr{code: "42P01"}, &MySQLError{Number: 1146}, &sqliteErr{1}, sql.ErrNoRows, translated} {
		if got := translateError(plain, "B"); got != plain {
			t.Errorf("%v was translated to %v", plain, got)
		}
	}
}

type dbeParent struct {
	ID   int64  `db:"id" orm:"pk"`
	Name string `db:"name" orm:"unique,length=50"`
}

func (dbeParent) TableName() string { return "dberr_parent" }

type dbeChild struct {
	ID       int64  `db:"id" orm:"pk"`
	ParentID int64  `db:"parent_id" orm:"ref=dbeParent"`
	Note     string `db:"note" orm:"length=20"`
}

func (dbeChild) TableName() string { return "dberr_child" }

// driverErrorType is the error type each database's driver returns.
var driverErrorType = map[string]string{dbtest.Postgres: "*pgconn.PgError", dbtest.MariaDB: "*mysql.MySQLError", dbtest.SQLite: "*sqlite.Error"}

// dberrSetup creates dberr_parent (rows 1 "a" and 2 "b") and dberr_child
// with the generated DDL, and drops them when the test ends.
func dberrSetup(t *testing.T, ctx context.Context, tg dbtest.Target) {
	t.Helper()
	reg, err := buildRegistry([]any{dbeParent{}, dbeChild{}}, nil, SnakeCase{}, ddlGens)
	if err != nil {
		t.Fatal(err)
	}
	d := ddlDialects[tg.Name]
	create, err := createSchemaSQL(d, reg.order)
	if err != nil {
		t.Fatal(err)
	}
	drop := dropSchemaSQL(d, reg.order)
	run := func(ctx context.Context, stmts []string) error {
		conn, err := tg.DB.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		for _, s := range stmts {
			if _, err := conn.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	}
	if err := run(ctx, append(drop, create...)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := run(ctx, drop); err != nil {
			t.Error(err)
		}
	})
	if _, err := tg.DB.ExecContext(ctx, ddlPlaceholders(d, "INSERT INTO dberr_parent (id, name) VALUES (?, ?), (?, ?)"), 1, "a", 2, "b"); err != nil {
		t.Fatal(err)
	}
}

// checkDBError asserts that err is a *DBError of kind, for entity, wrapping
// the driver's own error.
func checkDBError(t *testing.T, tg dbtest.Target, err, kind error, entity, constraint string) {
	t.Helper()
	var dbe *DBError
	if !errors.As(err, &dbe) || !errors.Is(err, kind) {
		t.Fatalf("want %v, got %v (%T)", kind, err, err)
	}
	for _, other := range []error{ErrUniqueViolation, ErrForeignKeyViolation, ErrNotNullViolation, ErrDeadlock, ErrSerialization, ErrLockTimeout} {
		if other != kind && errors.Is(err, other) {
			t.Errorf("%v also matches %v", err, other)
		}
	}
	if dbe.Entity != entity || dbe.Constraint != constraint {
		t.Errorf("entity %q, constraint %q; want %q, %q", dbe.Entity, dbe.Constraint, entity, constraint)
	}
	if got := reflect.TypeOf(errors.Unwrap(err)).String(); got != driverErrorType[tg.Name] {
		t.Errorf("Unwrap gives a %s, want the driver's %s", got, driverErrorType[tg.Name])
	}
	if want := kind == ErrDeadlock || kind == ErrSerialization; dbe.Retryable() != want {
		t.Errorf("Retryable() = %v for %v", dbe.Retryable(), kind)
	}
	if !strings.Contains(err.Error(), kind.Error()) {
		t.Errorf("message %q does not say %q", err, kind)
	}
}

// TestDBErrConstraints provokes unique, foreign key and not-null violations
// on every database and checks their translation.
func TestDBErrConstraints(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		dberrSetup(t, ctx, tg)
		d := ddlDialects[tg.Name]
		exec := func(entity, query string, args ...any) error {
			_, err := tg.DB.ExecContext(ctx, ddlPlaceholders(d, query), args...)
			return translateError(err, entity)
		}
		// The constraint each database names: PostgreSQL and MariaDB the
		// constraint or index, SQLite the columns.
		named := func(pg, maria, sqlite string) string {
			return map[string]string{dbtest.Postgres: pg, dbtest.MariaDB: maria, dbtest.SQLite: sqlite}[tg.Name]
		}

		err := exec("dbeParent", "INSERT INTO dberr_parent (id, name) VALUES (?, ?)", 3, "a")
		checkDBError(t, tg, err, ErrUniqueViolation, "dbeParent", named("uq_dberr_parent_name", "uq_dberr_parent_name", "dberr_parent.name"))
		err = exec("dbeParent", "INSERT INTO dberr_parent (id, name) VALUES (?, ?)", 1, "c")
		checkDBError(t, tg, err, ErrUniqueViolation, "dbeParent", named("dberr_parent_pkey", "PRIMARY", "dberr_parent.id"))

		err = exec("dbeChild", "INSERT INTO dberr_child (id, parent_id, note) VALUES (?, ?, ?)", 1, 99, "x")
		checkDBError(t, tg, err, ErrForeignKeyViolation, "dbeChild", named("fk_dberr_child_parent_id", "fk_dberr_child_parent_id", ""))
		if err := exec("dbeChild", "INSERT INTO dberr_child (id, parent_id, note) VALUES (?, ?, ?)", 1, 1, "x"); err != nil {
			t.Fatal(err)
		}
		err = exec("dbeParent", "DELETE FROM dberr_parent WHERE id = ?", 1)
		checkDBError(t, tg, err, ErrForeignKeyViolation, "dbeParent", named("fk_dberr_child_parent_id", "fk_dberr_child_parent_id", ""))

		err = exec("dbeParent", "INSERT INTO dberr_parent (id, name) VALUES (?, ?)", 4, nil)
		checkDBError(t, tg, err, ErrNotNullViolation, "dbeParent", named("", "", "dberr_parent.name"))
		err = exec("dbeChild", "UPDATE dberr_child SET note = NULL WHERE id = ?", 1)
		checkDBError(t, tg, err, ErrNotNullViolation, "dbeChild", named("", "", "dberr_child.note"))

		// Other errors go through as they are.
		_, raw := tg.DB.ExecContext(ctx, "SELECT * FROM dberr_missing")
		if raw == nil || translateError(raw, "x") != raw {
			t.Errorf("a missing table: %v became %v", raw, translateError(raw, "x"))
		}
	})
}

// TestDBErrLockTimeout holds a row lock in one transaction and updates the
// row from another session that waits at most a moment.
func TestDBErrLockTimeout(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		dberrSetup(t, ctx, tg)
		d := ddlDialects[tg.Name]
		update := ddlPlaceholders(d, "UPDATE dberr_parent SET name = ? WHERE id = ?")

		holder, err := tg.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Rollback()
		if _, err := holder.ExecContext(ctx, update, "held", 1); err != nil {
			t.Fatal(err)
		}

		var waitErr error
		switch tg.Name {
		case dbtest.SQLite:
			// A second connection to the file, with a short busy timeout.
			dsn := strings.Replace(tg.DSN, "busy_timeout(10000)", "busy_timeout(100)", 1)
			if dsn == tg.DSN {
				t.Skip("the harness's SQLite DSN has no busy_timeout(10000) to shorten")
			}
			other, err := sql.Open(tg.Driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			_, waitErr = other.ExecContext(ctx, update, "waiter", 1)
		default:
			conn, err := tg.DB.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			set, reset := "SET lock_timeout = '100ms'", "RESET lock_timeout"
			if tg.Name == dbtest.MariaDB {
				set, reset = "SET SESSION innodb_lock_wait_timeout = 1", "SET SESSION innodb_lock_wait_timeout = DEFAULT"
			}
			if _, err := conn.ExecContext(ctx, set); err != nil {
				t.Fatal(err)
			}
			defer conn.ExecContext(context.Background(), reset)
			start := time.Now()
			_, waitErr = conn.ExecContext(ctx, update, "waiter", 1)
			if waited := time.Since(start); waited > 10*time.Second {
				t.Errorf("waited %v", waited)
			}
		}
		checkDBError(t, tg, translateError(waitErr, "dbeParent"), ErrLockTimeout, "dbeParent", "")
	})
}

// TestDBErrDeadlock: two transactions update two rows in opposite order; the
// database picks a victim, whose error is a retryable ErrDeadlock.
func TestDBErrDeadlock(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		if tg.Name == dbtest.SQLite {
			t.Skip("SQLite has one writer at a time: no deadlocks between row locks")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		dberrSetup(t, ctx, tg)
		update := ddlPlaceholders(ddlDialects[tg.Name], "UPDATE dberr_parent SET name = ? WHERE id = ?")
		tx1, err := tg.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx1.Rollback()
		tx2, err := tg.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx2.Rollback()
		if _, err := tx1.ExecContext(ctx, update, "tx1 row 1", 1); err != nil {
			t.Fatal(err)
		}
		if _, err := tx2.ExecContext(ctx, update, "tx2 row 2", 2); err != nil {
			t.Fatal(err)
		}
		err1, err2 := make(chan error, 1), make(chan error, 1)
		go func() {
			_, err := tx1.ExecContext(ctx, update, "tx1 row 2", 2)
			err1 <- translateError(err, "dbeParent")
		}()
		time.Sleep(200 * time.Millisecond) // tx1 waits on row 2 first
		go func() {
			_, err := tx2.ExecContext(ctx, update, "tx2 row 1", 1)
			err2 <- translateError(err, "dbeParent")
		}()
		// The victim's statement fails; rolling its transaction back lets
		// the other one through.
		var r1, r2 error
		select {
		case r1 = <-err1:
			_ = tx1.Rollback()
			r2 = <-err2
		case r2 = <-err2:
			_ = tx2.Rollback()
			r1 = <-err1
		case <-ctx.Done():
			t.Fatal("no deadlock detected in time")
		}
		if (r1 == nil) == (r2 == nil) {
			t.Fatalf("want exactly one victim, got %v and %v", r1, r2)
		}
		victim := r1
		if victim == nil {
			victim = r2
		}
		checkDBError(t, tg, victim, ErrDeadlock, "dbeParent", "")
	})
}

// TestDBErrSerialization: on PostgreSQL a REPEATABLE READ transaction that
// updates a row changed since its snapshot fails with a retryable
// ErrSerialization. (MariaDB's REPEATABLE READ does not fail there.)
func TestDBErrSerialization(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		if tg.Name != dbtest.Postgres {
			t.Skip("serialization failures of REPEATABLE READ are PostgreSQL's")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		dberrSetup(t, ctx, tg)
		tx, err := tg.DB.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var name string
		if err := tx.QueryRowContext(ctx, "SELECT name FROM dberr_parent WHERE id = 1").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if _, err := tg.DB.ExecContext(ctx, "UPDATE dberr_parent SET name = 'changed' WHERE id = 1"); err != nil {
			t.Fatal(err)
		}
		_, err = tx.ExecContext(ctx, "UPDATE dberr_parent SET name = 'mine' WHERE id = 1")
		err = translateError(err, "dbeParent")
		checkDBError(t, tg, err, ErrSerialization, "dbeParent", "")
		if !err.(*DBError).Retryable() {
			t.Error("a serialization failure is retryable")
		}
	})
}
