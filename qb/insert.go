package qb

// InsertQuery builds an INSERT statement: one or more rows of VALUES,
// INSERT … SELECT, or DEFAULT VALUES, with an optional upsert clause and
// RETURNING. It is a value: every method returns a new InsertQuery.
type InsertQuery struct {
	d   *Dialect
	err error

	table         string
	columns       []string
	rows          seq[[]any]
	sel           Expr
	defaultValues bool
	conflict      conflict
	returning     seq[operand]
}

type assign struct {
	column string
	value  any
}

type conflict struct {
	set       bool
	target    []string
	doNothing bool
	updates   seq[assign]
	where     seq[Expr]
}

// InsertInto starts an INSERT into table ("users" or "schema.users").
func (d *Dialect) InsertInto(table string) InsertQuery { return InsertQuery{d: d, table: table} }

// Dialect returns the dialect the query is built for.
func (q InsertQuery) Dialect() *Dialect { return q.d }

// Columns sets the columns that Values rows fill, in order.
func (q InsertQuery) Columns(columns ...string) InsertQuery {
	q.columns = append([]string(nil), columns...)
	return q
}

// Values adds one row. It must have one value per column; a value that is an
// Expr is written in place (Raw("DEFAULT"), a subquery), any other is bound.
// Call it once per row for a multi-row INSERT.
func (q InsertQuery) Values(values ...any) InsertQuery {
	q.rows = q.rows.add(append([]any(nil), values...))
	return q
}

// Select makes it INSERT INTO table (columns) SELECT …: q is usually a
// SelectQuery.
func (q InsertQuery) Select(sel Expr) InsertQuery { q.sel = sel; return q }

// DefaultValues inserts one row of column defaults: DEFAULT VALUES, or
// () VALUES () on MySQL and MariaDB.
func (q InsertQuery) DefaultValues() InsertQuery { q.defaultValues = true; return q }

// OnConflict starts an upsert clause on a conflict over the given unique
// columns. Follow it with DoNothing, DoUpdateSet or DoUpdateColumns. MySQL and
// MariaDB cannot name the conflict target (any unique key conflicts there).
func (q InsertQuery) OnConflict(columns ...string) InsertQuery {
	q.conflict.set = true
	q.conflict.target = append([]string(nil), columns...)
	return q
}

// DoNothing skips rows that conflict: ON CONFLICT DO NOTHING, or on MySQL and
// MariaDB an ON DUPLICATE KEY UPDATE that sets a column to itself (unlike
// INSERT IGNORE, it does not hide other errors).
func (q InsertQuery) DoNothing() InsertQuery {
	q.conflict.set, q.conflict.doNothing = true, true
	return q
}

// DoUpdateSet sets column to value when a row conflicts; value may be
// [Excluded] to take the value the row tried to insert.
func (q InsertQuery) DoUpdateSet(column string, value any) InsertQuery {
	q.conflict.set = true
	q.conflict.updates = q.conflict.updates.add(assign{column, value})
	return q
}

// DoUpdateColumns sets each column to the value the conflicting row tried to
// insert (column = EXCLUDED.column).
func (q InsertQuery) DoUpdateColumns(columns ...string) InsertQuery {
	q.conflict.set = true
	as := make([]assign, len(columns))
	for i, c := range columns {
		as[i] = assign{c, Excluded(c)}
	}
	q.conflict.updates = q.conflict.updates.add(as...)
	return q
}

// DoUpdateWhere restricts the conflict update to rows matching conds
// (PostgreSQL and SQLite only).
func (q InsertQuery) DoUpdateWhere(conds ...Expr) InsertQuery {
	q.conflict.where = q.conflict.where.add(conds...)
	return q
}

// Returning adds RETURNING columns (PostgreSQL, SQLite, MariaDB).
func (q InsertQuery) Returning(columns ...any) InsertQuery {
	q.returning = q.returning.add(operands(columns)...)
	return q
}

func (q InsertQuery) isQuery() bool { return true }

func (q InsertQuery) appendTo(w *writer) {
	if q.err != nil {
		w.fail(q.err)
		return
	}
	w.str("INSERT INTO ")
	w.ident(q.table)
	sources := 0
	for _, has := range []bool{len(q.rows.s) > 0, q.sel != nil, q.defaultValues} {
		if has {
			sources++
		}
	}
	switch {
	case sources == 0:
		w.fail(invalid("INSERT", "nothing to insert into %q: call Values, Select or DefaultValues", q.table))
		return
	case sources > 1:
		w.fail(invalid("INSERT", "Values, Select and DefaultValues exclude each other (inserting into %q)", q.table))
		return
	}
	if q.defaultValues {
		if len(q.columns) > 0 {
			w.fail(invalid("INSERT", "DefaultValues takes no columns (inserting into %q)", q.table))
			return
		}
		if w.d.Has(FeatureDefaultValues) {
			w.str(" DEFAULT VALUES")
		} else {
			w.byte(' ')
			w.str(w.d.emptyRows)
		}
	} else {
		if len(q.columns) > 0 {
			w.str(" (")
			writeList(w, q.columns, (*writer).quoted)
			w.byte(')')
		} else if q.sel == nil {
			w.fail(invalid("INSERT", "Values without Columns (inserting into %q)", q.table))
			return
		}
		if q.sel != nil {
			w.byte(' ')
			if a, ok := q.sel.(appender); ok && a.isQuery() {
				a.appendTo(w)
			} else {
				w.expr(q.sel)
			}
		} else {
			w.str(" VALUES ")
			for i, row := range q.rows.s {
				if len(row) != len(q.columns) {
					w.fail(invalid("INSERT", "row %d has %d values for %d columns (inserting into %q)", i+1, len(row), len(q.columns), q.table))
					return
				}
				if i > 0 {
					w.str(", ")
				}
				w.byte('(')
				writeList(w, row, (*writer).value)
				w.byte(')')
			}
		}
	}
	q.appendConflict(w)
	appendReturning(w, FeatureReturningInsert, "INSERT … RETURNING", q.returning.s)
}

func (q InsertQuery) appendConflict(w *writer) {
	c := q.conflict
	if !c.set {
		return
	}
	if c.doNothing && len(c.updates.s) > 0 {
		w.fail(invalid("upsert", "DoNothing and DoUpdate exclude each other (inserting into %q)", q.table))
		return
	}
	if !c.doNothing && len(c.updates.s) == 0 {
		w.fail(invalid("upsert", "OnConflict needs DoNothing, DoUpdateSet or DoUpdateColumns (inserting into %q)", q.table))
		return
	}
	switch {
	case w.d.Has(FeatureOnConflict):
		w.str(" ON CONFLICT")
		if len(c.target) > 0 {
			w.str(" (")
			writeList(w, c.target, (*writer).quoted)
			w.byte(')')
		}
		if c.doNothing {
			w.str(" DO NOTHING")
			return
		}
		if len(c.target) == 0 {
			w.fail(invalid("upsert", "DO UPDATE needs the conflict columns: OnConflict(columns…) (inserting into %q)", q.table))
			return
		}
		w.str(" DO UPDATE SET ")
		writeList(w, c.updates.s, appendAssign)
		appendWhere(w, " WHERE ", c.where.s)
	case w.d.Has(FeatureOnDuplicateKey):
		if len(c.where.s) > 0 {
			w.require(FeatureOnConflict, "DoUpdateWhere")
			return
		}
		if w.d.Has(FeatureInsertRowAlias) {
			if q.sel != nil && !c.doNothing {
				w.require(FeatureOnConflict, "ON DUPLICATE KEY UPDATE with INSERT … SELECT")
				return
			}
			if q.sel == nil && !c.doNothing {
				w.str(" AS ")
				w.quoted(w.d.rowAlias)
			}
		}
		w.str(" ON DUPLICATE KEY UPDATE ")
		if c.doNothing {
			col := ""
			if len(c.target) > 0 {
				col = c.target[0]
			} else if len(q.columns) > 0 {
				col = q.columns[0]
			}
			if col == "" {
				w.fail(invalid("upsert", "DoNothing on %s needs a column: name it in OnConflict (inserting into %q)", w.d.Name(), q.table))
				return
			}
			w.quoted(col)
			w.str(" = ")
			w.quoted(col)
			return
		}
		writeList(w, c.updates.s, appendAssign)
	default:
		w.require(FeatureOnConflict, "upsert")
	}
}

func appendAssign(w *writer, a assign) {
	w.ident(a.column)
	w.str(" = ")
	w.value(a.value)
}

func appendReturning(w *writer, f Feature, clause string, cols []operand) {
	if len(cols) == 0 {
		return
	}
	if !w.require(f, clause) {
		return
	}
	w.str(" RETURNING ")
	writeList(w, cols, appendOperand)
}

// Build returns the SQL text with the dialect's placeholders and the
// arguments, or the first error met: an *UnsupportedError or *InvalidError.
func (q InsertQuery) Build() (string, []any, error) { return build(q.d, q, false) }

// ToSql is squirrel's Sqlizer method: Build's SQL with '?' placeholders.
func (q InsertQuery) ToSql() (string, []any, error) { return build(q.d, q, true) }

// String returns the SQL text, or the error text, for logs and debugging.
func (q InsertQuery) String() string { return debugString(q.d, q) }
