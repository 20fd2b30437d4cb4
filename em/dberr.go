package em

import (
	"context"
	"errors"
	"reflect"
	"strings"
)

// translateError returns err as a *DBError wrapping it when err, or an error
// it wraps, is a constraint or concurrency error of a driver (a unique,
// foreign key or not-null violation, a deadlock, a serialization failure, a
// lock wait timeout), with entity and, where the driver says, the constraint
// name filled in. Any other error is returned unchanged: nil, context errors,
// an error that already holds a *DBError, and every error it does not know.
//
// It knows the drivers by the shape of their errors, so this package imports
// none of them: anything with SQLState() string (pgx's *pgconn.PgError,
// lib/pq's *pq.Error), a struct named MySQLError with a Number uint16 field
// (go-sql-driver/mysql), and SQLite errors with Code() int (modernc.org/sqlite)
// or an ExtendedCode field (mattn/go-sqlite3).
func translateError(err error, entity string) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var dbe *DBError
	if errors.As(err, &dbe) {
		return err
	}
	kind, constraint := classify(err)
	if kind == nil {
		return err
	}
	return &DBError{Kind: kind, Entity: entity, Constraint: constraint, Err: err}
}

// sqlStater is PostgreSQL drivers' errors: the SQLSTATE code.
type sqlStater interface{ SQLState() string }

// coder is modernc.org/sqlite's *sqlite.Error: the (extended) result code.
type coder interface{ Code() int }

// classify returns the sentinel for a driver error (nil when it is none of
// them) and the constraint name the driver gives, if any.
func classify(err error) (kind error, constraint string) {
	var st sqlStater
	if errors.As(err, &st) {
		return pgKind(st.SQLState()), pgConstraint(st)
	}
	if e, n, ok := mysqlNumber(err); ok {
		return mysqlKind(n), mysqlConstraint(e.Error())
	}
	if e, code, ok := sqliteCode(err); ok {
		kind = sqliteKind(code, e.Error())
		if kind == ErrUniqueViolation || kind == ErrNotNullViolation {
			constraint = sqliteConstraint(e.Error())
		}
		return kind, constraint
	}
	return nil, ""
}

// pgKind maps a PostgreSQL SQLSTATE to a sentinel, or nil.
func pgKind(state string) error {
	switch state {
	case "23505": // unique_violation
		return ErrUniqueViolation
	case "23503": // foreign_key_violation
		return ErrForeignKeyViolation
	case "23502": // not_null_violation
		return ErrNotNullViolation
	case "40P01": // deadlock_detected
		return ErrDeadlock
	case "40001": // serialization_failure
		return ErrSerialization
	case "55P03": // lock_not_available (lock_timeout, NOWAIT)
		return ErrLockTimeout
	}
	return nil
}

// pgConstraint reads the constraint name of pgx's PgError (ConstraintName)
// or lib/pq's Error (Constraint).
func pgConstraint(e any) string {
	if s := stringField(e, "ConstraintName"); s != "" {
		return s
	}
	return stringField(e, "Constraint")
}

// mysqlKind maps a MySQL/MariaDB error number to a sentinel, or nil.
func mysqlKind(n uint16) error {
	switch n {
	case 1062, 1586: // ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME
		return ErrUniqueViolation
	case 1451, 1452, 1216, 1217: // ER_ROW_IS_REFERENCED_2, ER_NO_REFERENCED_ROW_2 and their old forms
		return ErrForeignKeyViolation
	case 1048, 1364: // ER_BAD_NULL_ERROR, ER_NO_DEFAULT_FOR_FIELD
		return ErrNotNullViolation
	case 1213: // ER_LOCK_DEADLOCK
		return ErrDeadlock
	case 1205, 3572: // ER_LOCK_WAIT_TIMEOUT, ER_LOCK_NOWAIT
		return ErrLockTimeout
	}
	return nil
}

// mysqlConstraint finds the key or constraint name in a MySQL message:
// "Duplicate entry 'x' for key 'name'" (MySQL 8 writes 'table.name') or
// "… a foreign key constraint fails (`db`.`t`, CONSTRAINT `name` …".
func mysqlConstraint(msg string) string {
	if _, rest, ok := strings.Cut(msg, "for key '"); ok {
		name, _, _ := strings.Cut(rest, "'")
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			name = name[i+1:]
		}
		return name
	}
	if _, rest, ok := strings.Cut(msg, "CONSTRAINT `"); ok {
		name, _, _ := strings.Cut(rest, "`")
		return name
	}
	return ""
}

// mysqlNumber finds a go-sql-driver *mysql.MySQLError (a struct named
// MySQLError with a uint16 field Number) in err's tree.
func mysqlNumber(err error) (error, uint16, bool) {
	var num uint16
	e := findInTree(err, func(v reflect.Value) bool {
		if v.Type().Name() != "MySQLError" {
			return false
		}
		n := directField(v, "Number")
		if !n.IsValid() || n.Kind() != reflect.Uint16 {
			return false
		}
		num = uint16(n.Uint())
		return true
	})
	return e, num, e != nil
}

// sqliteCode finds a SQLite error in err's tree and returns it with its
// extended result code: modernc's *sqlite.Error (Code()), or mattn's
// sqlite3.Error (an int-kinded ExtendedCode field).
func sqliteCode(err error) (error, int, bool) {
	var c coder
	if errors.As(err, &c) && strings.Contains(reflect.TypeOf(c).PkgPath()+reflect.TypeOf(c).String(), "sqlite") {
		return c.(error), c.Code(), true
	}
	var code int
	e := findInTree(err, func(v reflect.Value) bool {
		if !strings.Contains(v.Type().PkgPath(), "sqlite") {
			return false
		}
		x := directField(v, "ExtendedCode")
		if !x.IsValid() || x.Kind() != reflect.Int {
			return false
		}
		code = int(x.Int())
		return true
	})
	return e, code, e != nil
}

// sqliteKind maps a SQLite result code to a sentinel, or nil. With only the
// primary code SQLITE_CONSTRAINT (19) the message tells the kind.
func sqliteKind(code int, msg string) error {
	switch code {
	case 2067, 1555: // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
		return ErrUniqueViolation
	case 787: // SQLITE_CONSTRAINT_FOREIGNKEY
		return ErrForeignKeyViolation
	case 1299: // SQLITE_CONSTRAINT_NOTNULL
		return ErrNotNullViolation
	}
	switch code & 0xff {
	case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED and their extended codes
		return ErrLockTimeout
	case 19: // SQLITE_CONSTRAINT without an extended code
		switch {
		case strings.Contains(msg, "UNIQUE constraint failed"), strings.Contains(msg, "PRIMARY KEY constraint failed"):
			return ErrUniqueViolation
		case strings.Contains(msg, "FOREIGN KEY constraint failed"):
			return ErrForeignKeyViolation
		case strings.Contains(msg, "NOT NULL constraint failed"):
			return ErrNotNullViolation
		}
	}
	return nil
}

// sqliteConstraint is what SQLite names in "UNIQUE constraint failed:
// t.a, t.b (2067)": the table's columns (SQLite gives no index name).
func sqliteConstraint(msg string) string {
	i := strings.LastIndex(msg, "constraint failed: ")
	if i < 0 {
		return ""
	}
	s := msg[i+len("constraint failed: "):]
	if j := strings.LastIndex(s, " ("); j >= 0 && strings.HasSuffix(s, ")") {
		s = s[:j] // modernc appends the code: " (2067)"
	}
	return strings.TrimSpace(s)
}

// findInTree walks err's tree (Unwrap() error and Unwrap() []error, depth
// first, as errors.As does) and returns the first error that is a struct,
// or a pointer to one, for which match reports true.
func findInTree(err error, match func(v reflect.Value) bool) error {
	for err != nil {
		v := reflect.ValueOf(err)
		if v.Kind() == reflect.Pointer && !v.IsNil() {
			v = v.Elem()
		}
		if v.Kind() == reflect.Struct && match(v) {
			return err
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if found := findInTree(e, match); found != nil {
					return found
				}
			}
			return nil
		default:
			return nil
		}
	}
	return nil
}

// stringField reads a string field of the struct behind v, or "".
func stringField(v any, name string) string {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return ""
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return ""
	}
	if f := directField(rv, name); f.IsValid() && f.Kind() == reflect.String {
		return f.String()
	}
	return ""
}

// directField is the field of struct value v called name, declared in v's
// type itself (not promoted through an embedded pointer, which might be
// nil), or the zero Value.
func directField(v reflect.Value, name string) reflect.Value {
	sf, ok := v.Type().FieldByName(name)
	if !ok || len(sf.Index) != 1 {
		return reflect.Value{}
	}
	return v.Field(sf.Index[0])
}
