package em

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/mikrogo/mikro/em/dbconn"
)

// SQLite set up safely: foreign keys on, and one text format for times.
// The package doc ("SQLite") says what and why.

// sqliteTimeLayout is how times are stored on SQLite: UTC, in the text form
// of SQLite's own date and time functions ('YYYY-MM-DD HH:MM:SS', as
// datetime() and CURRENT_TIMESTAMP write it), with the fraction of a second
// only when there is one. Text of one form compares as the instants it
// names, so range filters, equality and ORDER BY agree with rows others
// wrote in that form, and date() and the other functions read it.
const sqliteTimeLayout = "2006-01-02 15:04:05.999999999"

// sqliteDSN returns the DSN em.Open opens for driver, with foreign keys
// turned on for every connection of the pool unless the DSN already says
// something about them (then Open checks what it said).
func sqliteDSN(driver, dsn string) string {
	low := strings.ToLower(dsn)
	if strings.Contains(low, "foreign_keys") || strings.Contains(low, "_fk=") {
		return dsn
	}
	opt := "_pragma=foreign_keys(1)" // modernc.org/sqlite
	if strings.EqualFold(driver, "sqlite3") {
		opt = "_foreign_keys=1" // mattn/go-sqlite3
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + opt
}

// checkSQLiteForeignKeys returns an error matching ErrSQLiteForeignKeys when
// a connection of conn reports foreign key enforcement off.
func checkSQLiteForeignKeys(ctx context.Context, conn dbconn.DB) error {
	rows, err := conn.Query(ctx, "PRAGMA foreign_keys", nil)
	if err != nil {
		return fmt.Errorf("em: read PRAGMA foreign_keys: %w", err)
	}
	defer rows.Close()
	var on int64
	if rows.Next() {
		if err := rows.Scan(&on); err != nil {
			return fmt.Errorf("em: read PRAGMA foreign_keys: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("em: read PRAGMA foreign_keys: %w", err)
	}
	if on == 1 {
		return nil
	}
	return fmt.Errorf("%w (PRAGMA foreign_keys = %d), so the database would not enforce the schema's foreign keys "+
		"nor delete pivot rows with their owner (ON DELETE CASCADE): turn them on for every connection of the pool in its DSN, "+
		"\"file:app.db?_pragma=foreign_keys(1)\" with modernc.org/sqlite or \"_foreign_keys=1\" with mattn/go-sqlite3, "+
		"or give em.Open Driver and DSN and it turns them on", ErrSQLiteForeignKeys, on)
}

// sqliteArgs returns args with every time in SQLite's stored text form
// (sqliteTimeLayout, in UTC): the driver would otherwise write its own
// format (Go's time.String by default), which neither compares with nor
// reads as SQLite's. args itself is not modified; without times it is
// returned as it is.
func sqliteArgs(args []any) []any {
	var out []any
	for i, a := range args {
		s, ok := sqliteTimeArg(a)
		if !ok {
			continue
		}
		if out == nil {
			out = slices.Clone(args)
		}
		out[i] = s
	}
	if out == nil {
		return args
	}
	return out
}

// sqliteTimeArg is the stored text of a, when a is a time: a time.Time, a
// non-nil *time.Time, or a driver.Valuer (sql.NullTime and the like) whose
// value is one.
func sqliteTimeArg(a any) (string, bool) {
	switch x := a.(type) {
	case string, int64, int, []byte, nil, bool, float64:
		return "", false
	case time.Time:
		return x.UTC().Format(sqliteTimeLayout), true
	case *time.Time:
		if x != nil {
			return x.UTC().Format(sqliteTimeLayout), true
		}
	case driver.Valuer:
		if rv := reflect.ValueOf(x); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return "", false
		}
		if v, err := x.Value(); err == nil {
			if t, ok := v.(time.Time); ok {
				return t.UTC().Format(sqliteTimeLayout), true
			}
		}
	}
	return "", false
}

// sqliteTime is what a time.Time field is scanned as on SQLite: it takes
// the driver's time.Time (a column declared DATETIME, DATE or TIMESTAMP) or
// the text of any column, in every form SQLite's date functions accept and
// in Go's time.String form (which older versions of mikro stored), and
// stores the instant in UTC.
type sqliteTime time.Time

var sqliteTimeType = reflect.TypeFor[sqliteTime]()

// sqliteTextLayouts parse SQLite's time text: the date, with or without a
// time (seconds optional, a fraction of any length, 'T' or a space before
// it), with or without a zone ('Z' or ±HH:MM); and time.String's form.
var sqliteTextLayouts = []string{
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04Z07:00",
	"2006-01-02T15:04Z07:00",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
	"2006-01-02 15:04:05 -0700 MST",
}

// Scan implements sql.Scanner. It returns an error for NULL (a field that
// can hold none: use *time.Time or orm:"nullable") and for text that is
// no time.
func (t *sqliteTime) Scan(v any) error {
	switch x := v.(type) {
	case time.Time:
		*t = sqliteTime(x.UTC())
		return nil
	case string:
		return t.parse(x)
	case []byte:
		return t.parse(string(x))
	case nil:
		return fmt.Errorf("converting NULL to time.Time is unsupported (make the field *time.Time or orm:\"nullable\")")
	}
	return fmt.Errorf("unsupported Scan, storing driver.Value type %T into type time.Time", v)
}

func (t *sqliteTime) parse(s string) error {
	text := strings.TrimSpace(s)
	if i := strings.Index(text, " m="); i > 0 { // time.String's monotonic clock reading
		text = text[:i]
	}
	for _, l := range sqliteTextLayouts {
		if p, err := time.Parse(l, text); err == nil {
			*t = sqliteTime(p.UTC())
			return nil
		}
	}
	return fmt.Errorf("cannot read %q as a time: SQLite time text is 'YYYY-MM-DD HH:MM:SS[.SSS][±HH:MM]'", s)
}

// useSQLiteTimes makes the time.Time and *time.Time fields of every entity
// scan through sqliteTime.
func (r *registry) useSQLiteTimes() {
	for _, m := range r.order {
		for _, f := range m.Fields {
			switch f.Type {
			case timeType:
				f.addr, f.scanType = addrOf[sqliteTime], sqliteTimeType
			case reflect.PointerTo(timeType):
				f.addr = addrOf[*sqliteTime]
			}
		}
	}
}

var _ sql.Scanner = (*sqliteTime)(nil)
