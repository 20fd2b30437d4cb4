package qb

import (
	"slices"
)

// UpdateQuery builds an UPDATE statement. It is a value: every method returns
// a new UpdateQuery.
type UpdateQuery struct {
	d   *Dialect
	err error

	ctes      seq[cte]
	table     string
	sets      seq[assign]
	from      seq[fromItem]
	where     seq[Expr]
	orderBy   seq[Order]
	limit     int
	hasLimit  bool
	returning seq[operand]
}

// Update starts an UPDATE of table ("users", "users u" or "users AS u").
func (d *Dialect) Update(table string) UpdateQuery { return UpdateQuery{d: d, table: table} }

// Dialect returns the dialect the query is built for.
func (q UpdateQuery) Dialect() *Dialect { return q.d }

// With adds a common table expression (not on MariaDB).
func (q UpdateQuery) With(name string, sub Expr, columns ...string) UpdateQuery {
	q.ctes = q.ctes.add(cte{name: name, q: sub, columns: append([]string(nil), columns...)})
	return q
}

// Set assigns value to column. A value that is an Expr ([Raw], [C], a
// subquery) is written in place; any other is bound.
func (q UpdateQuery) Set(column string, value any) UpdateQuery {
	q.sets = q.sets.add(assign{column, value})
	return q
}

// SetMap assigns every column of m, in the order of the column names.
func (q UpdateQuery) SetMap(m map[string]any) UpdateQuery {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	as := make([]assign, len(keys))
	for i, k := range keys {
		as[i] = assign{k, m[k]}
	}
	q.sets = q.sets.add(as...)
	return q
}

// From adds tables to UPDATE … FROM (PostgreSQL, SQLite).
func (q UpdateQuery) From(tables ...string) UpdateQuery {
	items := make([]fromItem, len(tables))
	for i, t := range tables {
		items[i] = fromItem{table: t}
	}
	q.from = q.from.add(items...)
	return q
}

// FromExpr adds an expression, such as a subquery, to UPDATE … FROM under alias.
func (q UpdateQuery) FromExpr(e Expr, alias string) UpdateQuery {
	q.from = q.from.add(fromItem{expr: e, alias: alias})
	return q
}

// Where adds conditions, joined with AND. An UPDATE without conditions
// updates every row.
func (q UpdateQuery) Where(conds ...Expr) UpdateQuery {
	q.where = q.where.add(conds...)
	return q
}

// OrderBy orders the rows to update (MySQL, MariaDB), as in SelectQuery.OrderBy.
func (q UpdateQuery) OrderBy(items ...any) UpdateQuery {
	for _, it := range items {
		q.orderBy = q.orderBy.add(toOrder(it))
	}
	return q
}

// Limit updates at most n rows (MySQL, MariaDB).
func (q UpdateQuery) Limit(n int) UpdateQuery {
	if n < 0 {
		q.err = firstErr(q.err, invalid("LIMIT", "negative limit %d", n))
	}
	q.limit, q.hasLimit = n, true
	return q
}

// Returning adds RETURNING columns (PostgreSQL, SQLite).
func (q UpdateQuery) Returning(columns ...any) UpdateQuery {
	q.returning = q.returning.add(operands(columns)...)
	return q
}

func (q UpdateQuery) isQuery() bool { return true }

func (q UpdateQuery) appendTo(w *writer) {
	if q.err != nil {
		w.fail(q.err)
		return
	}
	if len(q.ctes.s) > 0 && !w.require(FeatureCTEInDML, "WITH … UPDATE") {
		return
	}
	appendCTEs(w, q.ctes.s)
	w.str("UPDATE ")
	writeTableRef(w, "UPDATE", q.table)
	if len(q.sets.s) == 0 {
		w.fail(invalid("UPDATE", "no columns to set in %q", q.table))
		return
	}
	w.str(" SET ")
	writeList(w, q.sets.s, appendAssign)
	if len(q.from.s) > 0 {
		if !w.require(FeatureUpdateFrom, "UPDATE … FROM") {
			return
		}
		w.str(" FROM ")
		writeList(w, q.from.s, func(w *writer, f fromItem) { f.appendTo(w, "FROM") })
	}
	appendWhere(w, " WHERE ", q.where.s)
	appendDMLOrderLimit(w, q.orderBy.s, q.limit, q.hasLimit)
	appendReturning(w, FeatureReturningUpdate, "UPDATE … RETURNING", q.returning.s)
}

func appendDMLOrderLimit(w *writer, orders []Order, limit int, hasLimit bool) {
	if len(orders) == 0 && !hasLimit {
		return
	}
	if !w.require(FeatureUpdateOrderLimit, "ORDER BY/LIMIT in UPDATE and DELETE") {
		return
	}
	if len(orders) > 0 {
		w.str(" ORDER BY ")
		appendOrders(w, orders)
	}
	if hasLimit {
		w.str(" LIMIT ")
		w.int(int64(limit))
	}
}

// Build returns the SQL text with the dialect's placeholders and the
// arguments, or the first error met: an *UnsupportedError or *InvalidError.
func (q UpdateQuery) Build() (string, []any, error) { return build(q.d, q, false) }

// ToSql is squirrel's Sqlizer method: Build's SQL with '?' placeholders.
func (q UpdateQuery) ToSql() (string, []any, error) { return build(q.d, q, true) }

// String returns the SQL text, or the error text, for logs and debugging.
func (q UpdateQuery) String() string { return debugString(q.d, q) }
