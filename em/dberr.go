package em

import (
	"context"
	"errors"
	"reflect"
	"strings"
)

// translateError turns a driver's constraint or concurrency error into a
// *DBError of the matching kind, wrapping it; any other error is returned as
// it is. It knows the drivers by the shape of their errors, so this package
// imports none of them: pgx's *pgconn.PgError (SQLState), go-sql-driver's
// *mysql.MySQLError (Number) and modernc's *sqlite.Error (Code).
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

type sqlStater interface{ SQLState() string }

type coder interface{ Code() int }

func classify(err error) (kind error, constraint string) {
	var st sqlStater
	if errors.As(err, &st) {
		switch st.SQLState() {
		case "23505":
			kind = ErrUniqueViolation
		case "23503":
			kind = ErrForeignKeyViolation
		case "23502":
			kind = ErrNotNullViolation
		case "40P01":
			kind = ErrDeadlock
		case "40001":
			kind = ErrSerialization
		case "55P03":
			kind = ErrLockTimeout
		}
		return kind, stringField(st, "ConstraintName")
	}
	if n, ok := mysqlNumber(err); ok {
		switch n {
		case 1062, 1586:
			kind = ErrUniqueViolation
		case 1451, 1452, 1216, 1217:
			kind = ErrForeignKeyViolation
		case 1048, 1364:
			kind = ErrNotNullViolation
		case 1213:
			kind = ErrDeadlock
		case 1205, 3572:
			kind = ErrLockTimeout
		}
		msg := err.Error()
		if i := strings.Index(msg, "for key '"); i >= 0 {
			constraint, _, _ = strings.Cut(msg[i+len("for key '"):], "'")
		} else if i := strings.Index(msg, "CONSTRAINT `"); i >= 0 {
			constraint, _, _ = strings.Cut(msg[i+len("CONSTRAINT `"):], "`")
		}
		return kind, constraint
	}
	var c coder
	if errors.As(err, &c) && strings.Contains(reflect.TypeOf(c).String(), "sqlite") {
		switch c.Code() {
		case 2067, 1555: // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY
			kind = ErrUniqueViolation
		case 787: // SQLITE_CONSTRAINT_FOREIGNKEY
			kind = ErrForeignKeyViolation
		case 1299: // SQLITE_CONSTRAINT_NOTNULL
			kind = ErrNotNullViolation
		case 5, 6, 261, 262, 517: // SQLITE_BUSY, _LOCKED and their extended codes
			kind = ErrLockTimeout
		}
		msg := err.Error()
		if i := strings.LastIndex(msg, "constraint failed: "); i >= 0 {
			constraint, _, _ = strings.Cut(msg[i+len("constraint failed: "):], " ")
		}
		return kind, constraint
	}
	return nil, ""
}

// mysqlNumber finds a *mysql.MySQLError in err's chain and returns its Number.
func mysqlNumber(err error) (uint16, bool) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		v := reflect.ValueOf(e)
		if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
			continue
		}
		if v.Elem().Type().Name() != "MySQLError" {
			continue
		}
		if n := v.Elem().FieldByName("Number"); n.IsValid() && n.Kind() == reflect.Uint16 {
			return uint16(n.Uint()), true
		}
	}
	return 0, false
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
	if f := rv.FieldByName(name); f.IsValid() && f.Kind() == reflect.String {
		return f.String()
	}
	return ""
}
