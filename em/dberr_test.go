package em

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
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
