package qb

// DeleteQuery builds a DELETE statement. It is a value: every method returns
// a new DeleteQuery.
type DeleteQuery struct {
	d   *Dialect
	err error

	ctes      seq[cte]
	table     string
	using     seq[fromItem]
	where     seq[Expr]
	orderBy   seq[Order]
	limit     int
	hasLimit  bool
	returning seq[operand]
}

// DeleteFrom starts a DELETE from table ("users", or "users u" where the
// dialect allows an alias).
func (d *Dialect) DeleteFrom(table string) DeleteQuery { return DeleteQuery{d: d, table: table} }

// Dialect returns the dialect the query is built for.
func (q DeleteQuery) Dialect() *Dialect { return q.d }

// With adds a common table expression (not on MariaDB).
func (q DeleteQuery) With(name string, sub Expr, columns ...string) DeleteQuery {
	q.ctes = q.ctes.add(cte{name: name, q: sub, columns: append([]string(nil), columns...)})
	return q
}

// Using adds tables to DELETE … USING (PostgreSQL).
func (q DeleteQuery) Using(tables ...string) DeleteQuery {
	items := make([]fromItem, len(tables))
	for i, t := range tables {
		items[i] = fromItem{table: t}
	}
	q.using = q.using.add(items...)
	return q
}

// Where adds conditions, joined with AND. A DELETE without conditions deletes
// every row.
func (q DeleteQuery) Where(conds ...Expr) DeleteQuery {
	q.where = q.where.add(conds...)
	return q
}

// OrderBy orders the rows to delete (MySQL, MariaDB).
func (q DeleteQuery) OrderBy(items ...any) DeleteQuery {
	for _, it := range items {
		q.orderBy = q.orderBy.add(toOrder(it))
	}
	return q
}

// Limit deletes at most n rows (MySQL, MariaDB).
func (q DeleteQuery) Limit(n int) DeleteQuery {
	if n < 0 {
		q.err = firstErr(q.err, invalid("LIMIT", "negative limit %d", n))
	}
	q.limit, q.hasLimit = n, true
	return q
}

// Returning adds RETURNING columns (PostgreSQL, SQLite, MariaDB).
func (q DeleteQuery) Returning(columns ...any) DeleteQuery {
	q.returning = q.returning.add(operands(columns)...)
	return q
}

func (q DeleteQuery) isQuery() bool { return true }

func (q DeleteQuery) appendTo(w *writer) {
	if q.err != nil {
		w.fail(q.err)
		return
	}
	if len(q.ctes.s) > 0 && !w.require(FeatureCTEInDML, "WITH … DELETE") {
		return
	}
	appendCTEs(w, q.ctes.s)
	w.str("DELETE FROM ")
	writeTableRef(w, "DELETE", q.table)
	if len(q.using.s) > 0 {
		if !w.require(FeatureDeleteUsing, "DELETE … USING") {
			return
		}
		w.str(" USING ")
		writeList(w, q.using.s, func(w *writer, f fromItem) { f.appendTo(w, "USING") })
	}
	appendWhere(w, " WHERE ", q.where.s)
	appendDMLOrderLimit(w, q.orderBy.s, q.limit, q.hasLimit)
	appendReturning(w, FeatureReturningDelete, "DELETE … RETURNING", q.returning.s)
}

// Build returns the SQL text with the dialect's placeholders and the
// arguments, or the first error met: an *UnsupportedError or *InvalidError.
func (q DeleteQuery) Build() (string, []any, error) { return build(q.d, q, false) }

// ToSql is squirrel's Sqlizer method: Build's SQL with '?' placeholders.
func (q DeleteQuery) ToSql() (string, []any, error) { return build(q.d, q, true) }

// String returns the SQL text, or the error text, for logs and debugging.
func (q DeleteQuery) String() string { return debugString(q.d, q) }
