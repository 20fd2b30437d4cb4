package qb

import "reflect"

// Sqlizer is squirrel's interface: anything that renders itself as SQL with '?'
// placeholders and its arguments. Every qb expression and statement is a
// Sqlizer, and qb accepts any Sqlizer where it takes an [Expr].
type Sqlizer interface {
	ToSql() (string, []any, error)
}

// Expr is a SQL expression or condition: one made by this package (a
// condition, [Raw], [Ident], [JSON], a statement used as a subquery) or any
// other [Sqlizer], such as a squirrel expression. A foreign Sqlizer's '?'
// placeholders are renumbered for the dialect of the statement it is built in.
type Expr = Sqlizer

// appender is implemented by qb's own expressions: they write themselves into
// the statement's writer directly instead of going through ToSql.
type appender interface {
	appendTo(w *writer)
	isQuery() bool
}

// standard renders qb expressions outside any statement (their ToSql): double
// quoted identifiers and '?' placeholders, as in standard SQL. Inside a MySQL
// squirrel statement use [Dialect.Fragment] instead.
var standard = &Dialect{name: "standard SQL", quote: '"', placeholder: placeholderQuestion, json: jsonExtractRaw, maxParams: 65535, limitAll: "-1",
	features: Postgres.features &^ (FeatureILike)}

// exprToSql renders a qb expression on its own, for ToSql.
func exprToSql(d *Dialect, a appender) (string, []any, error) {
	w := getWriter(d, true)
	a.appendTo(w)
	return w.finish()
}

// Fragment returns e rendered for d as a Sqlizer with '?' placeholders, for
// use inside a squirrel statement: squirrel numbers the placeholders itself
// when its statement uses the Dollar format. Identifiers are quoted for d.
func (d *Dialect) Fragment(e Expr) Sqlizer { return fragment{d: d, e: e} }

type fragment struct {
	d *Dialect
	e Expr
}

func (f fragment) ToSql() (string, []any, error) {
	if f.d == nil {
		return "", nil, invalid("fragment", "nil dialect")
	}
	w := getWriter(f.d, true)
	w.expr(f.e)
	return w.finish()
}

// Raw is a SQL fragment written as given, with '?' marking each argument in
// order ('??' for a literal question mark). An argument that is an [Expr] is
// written in place (a statement in parentheses); any other argument is bound.
// Raw never quotes anything: use it for SQL you wrote, never for user input. A
// wrong number of arguments is an *InvalidError at Build.
func Raw(sql string, args ...any) Expr { return raw{sql: sql, args: args} }

type raw struct {
	sql  string
	args []any
}

func (r raw) appendTo(w *writer)            { w.template(r.sql, r.args) }
func (r raw) isQuery() bool                 { return false }
func (r raw) ToSql() (string, []any, error) { return exprToSql(standard, r) }

// Ident is an identifier made of the given parts, each quoted verbatim
// (Ident("s", "a.b") is "s"."a.b"). Strings given as column or table names
// elsewhere are split on dots instead.
func Ident(parts ...string) Expr { return ident(parts) }

type ident []string

func (id ident) appendTo(w *writer) {
	if len(id) == 0 {
		w.fail(invalid("identifier", "empty identifier"))
		return
	}
	for i, p := range id {
		if i > 0 {
			w.byte('.')
		}
		w.quoted(p)
	}
}
func (id ident) isQuery() bool                 { return false }
func (id ident) ToSql() (string, []any, error) { return exprToSql(standard, id) }

// C is a column reference by name ("name" or "u.name"), for places that take
// a value but should compare with another column: Eq("u.id", C("p.user_id")).
func C(name string) Expr { return col(name) }

type col string

func (c col) appendTo(w *writer)            { w.ident(string(c)) }
func (c col) isQuery() bool                 { return false }
func (c col) ToSql() (string, []any, error) { return exprToSql(standard, c) }

// As gives e an alias, for a select list: As(Raw("count(*)"), "n").
func As(e Expr, alias string) Expr { return aliased{e: e, alias: alias} }

type aliased struct {
	e     Expr
	alias string
}

func (a aliased) appendTo(w *writer) {
	w.expr(a.e)
	w.str(" AS ")
	w.quoted(a.alias)
}
func (a aliased) isQuery() bool                 { return false }
func (a aliased) ToSql() (string, []any, error) { return exprToSql(standard, a) }

// Excluded refers to the value a conflicting INSERT tried to write into column,
// inside an upsert's DoUpdateSet: EXCLUDED."col" on PostgreSQL and SQLite,
// new.`col` on MySQL, VALUES(`col`) on MariaDB.
func Excluded(column string) Expr { return excluded(column) }

type excluded string

func (x excluded) appendTo(w *writer) {
	switch {
	case w.d.Has(FeatureOnConflict):
		w.str("EXCLUDED.")
		w.quoted(string(x))
	case w.d.Has(FeatureInsertRowAlias):
		w.quoted(w.d.rowAlias)
		w.byte('.')
		w.quoted(string(x))
	case w.d.Has(FeatureOnDuplicateKey):
		w.str("VALUES(")
		w.quoted(string(x))
		w.byte(')')
	default:
		w.require(FeatureOnConflict, "upsert")
	}
}
func (x excluded) isQuery() bool                 { return false }
func (x excluded) ToSql() (string, []any, error) { return exprToSql(standard, x) }

// isNil reports whether an interface holds nil or a nil pointer, map, slice or
// func, so that nil builder parts are an error rather than a panic.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Interface, reflect.Chan:
		return rv.IsNil()
	}
	return false
}
