package em

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

type pgErr struct {
	code, ConstraintName string
}

func (e *pgErr) Error() string    { return "pg " + e.code }
func (e *pgErr) SQLState() string { return e.code }

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

// TestClassify covers every code translateError knows, for the three
// drivers' error shapes, also when wrapped.
func TestClassify(t *testing.T) {
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
		{&MySQLError{Number: 1062, Message: "Duplicate entry 'a' for key 'uq_name'"}, ErrUniqueViolation},
		{&MySQLError{Number: 1452}, ErrForeignKeyViolation},
		{&MySQLError{Number: 1451}, ErrForeignKeyViolation},
		{&MySQLError{Number: 1048}, ErrNotNullViolation},
		{&MySQLError{Number: 1213}, ErrDeadlock},
		{&MySQLError{Number: 1205}, ErrLockTimeout},
		{&sqliteErr{2067}, ErrUniqueViolation},
		{&sqliteErr{1555}, ErrUniqueViolation},
		{&sqliteErr{787}, ErrForeignKeyViolation},
		{&sqliteErr{1299}, ErrNotNullViolation},
		{&sqliteErr{5}, ErrLockTimeout},
	}
	for _, c := range cases {
		for _, err := range []error{c.err, fmt.Errorf("wrapped: %w", c.err)} {
			got := translateError(err, "Thing")
			var dbe *DBError
			if !errors.Is(got, c.kind) || !errors.As(got, &dbe) || dbe.Entity != "Thing" || !errors.Is(got, c.err) {
				t.Errorf("%v: got %v, want %v", err, got, c.kind)
			}
			if (c.kind == ErrDeadlock || c.kind == ErrSerialization) != dbe.Retryable() {
				t.Errorf("%v: Retryable() = %v", err, dbe.Retryable())
			}
		}
	}
	if got := translateError(&pgErr{code: "23505", ConstraintName: "uq_x"}, ""); got.(*DBError).Constraint != "uq_x" {
		t.Errorf("postgres constraint name: %q", got.(*DBError).Constraint)
	}
	if got := translateError(&MySQLError{Number: 1062, Message: "Duplicate entry 'a' for key 'uq_name'"}, ""); got.(*DBError).Constraint != "uq_name" {
		t.Errorf("mysql constraint name: %q", got.(*DBError).Constraint)
	}
	if got := translateError(&sqliteErr{2067}, ""); got.(*DBError).Constraint != "t.name" {
		t.Errorf("sqlite constraint name: %q", got.(*DBError).Constraint)
	}
	for _, plain := range []error{nil, context.Canceled, errors.New("other"), &pgErr{code: "42P01"}, &MySQLError{Number: 1146}, &sqliteErr{1}} {
		if got := translateError(plain, ""); got != plain {
			t.Errorf("%v was translated to %v", plain, got)
		}
	}
}
