package qb

import (
	"strconv"
	"strings"
)

// Feature is one capability a dialect may or may not have. Code that must
// adapt to a database asks [Dialect.Has] instead of comparing dialect names.
type Feature uint64

// Features a dialect may have.
const (
	// FeatureReturningInsert: INSERT … RETURNING.
	FeatureReturningInsert Feature = 1 << iota
	// FeatureReturningUpdate: UPDATE … RETURNING.
	FeatureReturningUpdate
	// FeatureReturningDelete: DELETE … RETURNING.
	FeatureReturningDelete
	// FeatureOnConflict: INSERT … ON CONFLICT (…) DO NOTHING / DO UPDATE.
	FeatureOnConflict
	// FeatureOnDuplicateKey: INSERT … ON DUPLICATE KEY UPDATE.
	FeatureOnDuplicateKey
	// FeatureInsertRowAlias: INSERT … VALUES (…) AS alias, referenced from
	// ON DUPLICATE KEY UPDATE (MySQL 8.0.19 and later).
	FeatureInsertRowAlias
	// FeatureILike: a native ILIKE operator. Without it ILIKE is emulated with LOWER().
	FeatureILike
	// FeatureNullsOrder: ORDER BY … NULLS FIRST / NULLS LAST. Without it the
	// order is emulated with an IS NULL sort key.
	FeatureNullsOrder
	// FeatureLateral: LATERAL subqueries in FROM and JOIN.
	FeatureLateral
	// FeatureRightJoin: RIGHT JOIN.
	FeatureRightJoin
	// FeatureFullJoin: FULL JOIN.
	FeatureFullJoin
	// FeatureUpdateFrom: UPDATE … FROM.
	FeatureUpdateFrom
	// FeatureDeleteUsing: DELETE … USING.
	FeatureDeleteUsing
	// FeatureUpdateOrderLimit: ORDER BY and LIMIT on UPDATE and DELETE.
	FeatureUpdateOrderLimit
	// FeatureForUpdate: SELECT … FOR UPDATE.
	FeatureForUpdate
	// FeatureForShare: SELECT … FOR SHARE (or LOCK IN SHARE MODE).
	FeatureForShare
	// FeatureSkipLocked: SKIP LOCKED on a locking read.
	FeatureSkipLocked
	// FeatureNoWait: NOWAIT on a locking read.
	FeatureNoWait
	// FeatureLockOf: FOR UPDATE OF table.
	FeatureLockOf
	// FeatureIntersectExcept: INTERSECT and EXCEPT.
	FeatureIntersectExcept
	// FeatureParenSetOperand: a parenthesized SELECT as operand of UNION.
	FeatureParenSetOperand
	// FeatureCTEInDML: WITH before UPDATE and DELETE.
	FeatureCTEInDML
	// FeatureDefaultValues: INSERT … DEFAULT VALUES (otherwise "() VALUES ()").
	FeatureDefaultValues
	// FeatureDistinctOn: SELECT DISTINCT ON (…).
	FeatureDistinctOn
)

type placeholderStyle uint8

const (
	placeholderQuestion placeholderStyle = iota // ?
	placeholderDollar                           // $1, $2, …
)

type jsonStyle uint8

const (
	jsonArrows     jsonStyle = iota // PostgreSQL: col -> $1 ->> $2
	jsonExtract                     // MySQL, MariaDB: JSON_UNQUOTE(JSON_EXTRACT(col, ?))
	jsonExtractRaw                  // SQLite: json_extract(col, ?)
)

// bigInStyle is how a dialect binds a long IN list as one value.
type bigInStyle uint8

const (
	bigInNone      bigInStyle = iota // one placeholder per value
	bigInArray                       // PostgreSQL: col = ANY($1) with a Go slice
	bigInJSONTable                   // MySQL, MariaDB: IN (SELECT v FROM JSON_TABLE(?, …))
	bigInJSONEach                    // SQLite: IN (SELECT value FROM json_each(?))
)

// Dialect describes how one database spells SQL: identifier quoting,
// placeholders, LIMIT forms, upsert, RETURNING and JSON syntax, and which
// features it has. The dialects are the package values [Postgres], [MySQL],
// [MariaDB] and [SQLite]; statements are started from them.
type Dialect struct {
	name        string
	quote       byte
	placeholder placeholderStyle
	features    Feature
	json        jsonStyle
	maxParams   int
	bigIn       bigInStyle
	// limitAll is written as LIMIT when only OFFSET is given and the dialect
	// requires a LIMIT before OFFSET ("" when OFFSET alone is valid).
	limitAll  string
	forShare  string
	rowAlias  string
	emptyRows string // INSERT without columns and values, when DEFAULT VALUES is missing
}

// The dialects qb knows. They are pointers to shared, read-only values.
var (
	// Postgres is PostgreSQL (tested against 15). Placeholders are $1, $2, ….
	Postgres = &Dialect{
		name: "postgres", quote: '"', placeholder: placeholderDollar, json: jsonArrows, maxParams: 65535, bigIn: bigInArray,
		forShare: "FOR SHARE",
		features: FeatureReturningInsert | FeatureReturningUpdate | FeatureReturningDelete |
			FeatureOnConflict | FeatureILike | FeatureNullsOrder | FeatureLateral | FeatureRightJoin |
			FeatureFullJoin | FeatureUpdateFrom | FeatureDeleteUsing | FeatureForUpdate | FeatureForShare |
			FeatureSkipLocked | FeatureNoWait | FeatureLockOf | FeatureIntersectExcept |
			FeatureParenSetOperand | FeatureCTEInDML | FeatureDefaultValues | FeatureDistinctOn,
	}
	// MySQL is MySQL 8.0.19 or later. Upserts reference the inserted row through
	// a row alias (VALUES … AS new), since VALUES() is deprecated in MySQL 8.
	MySQL = &Dialect{
		name: "mysql", quote: '`', placeholder: placeholderQuestion, json: jsonExtract, maxParams: 65535, bigIn: bigInJSONTable,
		limitAll: "18446744073709551615", forShare: "FOR SHARE", rowAlias: "new", emptyRows: "() VALUES ()",
		features: FeatureOnDuplicateKey | FeatureInsertRowAlias | FeatureLateral | FeatureRightJoin |
			FeatureUpdateOrderLimit | FeatureForUpdate | FeatureForShare | FeatureSkipLocked |
			FeatureNoWait | FeatureLockOf | FeatureIntersectExcept | FeatureParenSetOperand | FeatureCTEInDML,
	}
	// MariaDB is MariaDB 10.6 or later: RETURNING on INSERT and DELETE,
	// ON DUPLICATE KEY UPDATE with VALUES(), LOCK IN SHARE MODE.
	MariaDB = &Dialect{
		name: "mariadb", quote: '`', placeholder: placeholderQuestion, json: jsonExtract, maxParams: 65535, bigIn: bigInJSONTable,
		limitAll: "18446744073709551615", forShare: "LOCK IN SHARE MODE", emptyRows: "() VALUES ()",
		features: FeatureReturningInsert | FeatureReturningDelete | FeatureOnDuplicateKey | FeatureRightJoin |
			FeatureUpdateOrderLimit | FeatureForUpdate | FeatureForShare | FeatureSkipLocked |
			FeatureNoWait | FeatureIntersectExcept | FeatureParenSetOperand,
	}
	// SQLite is SQLite 3.35 or later (RETURNING, UPDATE … FROM, NULLS FIRST/LAST).
	// It has no locking reads: FOR UPDATE is an error.
	SQLite = &Dialect{
		name: "sqlite", quote: '"', placeholder: placeholderQuestion, json: jsonExtractRaw, maxParams: 32766, bigIn: bigInJSONEach,
		limitAll: "-1",
		features: FeatureReturningInsert | FeatureReturningUpdate | FeatureReturningDelete |
			FeatureOnConflict | FeatureNullsOrder | FeatureRightJoin | FeatureFullJoin | FeatureUpdateFrom |
			FeatureIntersectExcept | FeatureCTEInDML | FeatureDefaultValues,
	}
)

// Name returns the dialect's name: "postgres", "mysql", "mariadb" or "sqlite".
func (d *Dialect) Name() string {
	if d == nil {
		return "<nil dialect>"
	}
	return d.name
}

// String returns the dialect's name.
func (d *Dialect) String() string { return d.Name() }

// Has reports whether the dialect has every feature in f.
func (d *Dialect) Has(f Feature) bool { return d != nil && d.features&f == f }

// MaxParams returns the largest number of bound parameters one statement may
// carry on this database (65535 on PostgreSQL and MySQL, 32766 on SQLite).
func (d *Dialect) MaxParams() int { return d.maxParams }

// QuoteIdent returns name quoted as one identifier for the dialect, with any
// quote character inside it doubled. The name is not split on dots. It
// returns an *InvalidError if name is empty or contains a NUL byte, which no
// database accepts in an identifier.
func (d *Dialect) QuoteIdent(name string) (string, error) {
	if err := checkIdent(name); err != nil {
		return "", err
	}
	return string(d.appendQuoted(make([]byte, 0, len(name)+2), name, false)), nil
}

// Placeholder returns the n-th (1-based) bound-parameter placeholder: "$n" on
// PostgreSQL, "?" elsewhere.
func (d *Dialect) Placeholder(n int) string {
	if d.placeholder == placeholderDollar {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

func checkIdent(name string) error {
	if name == "" {
		return invalid("identifier", "empty identifier")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return invalid("identifier", "identifier %q contains a NUL byte", name)
	}
	return nil
}

// appendQuoted appends name quoted. In question mode a '?' inside the name is
// doubled, so that a squirrel statement that renumbers placeholders leaves it be.
func (d *Dialect) appendQuoted(b []byte, name string, question bool) []byte {
	q := d.quote
	b = append(b, q)
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == q:
			b = append(b, q, q)
		case c == '?' && question:
			b = append(b, '?', '?')
		default:
			b = append(b, c)
		}
	}
	return append(b, q)
}
