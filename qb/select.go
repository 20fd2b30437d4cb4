package qb

// SelectQuery builds a SELECT statement, or a set operation (UNION, INTERSECT,
// EXCEPT) of several. It is a value: every method returns a new SelectQuery and
// leaves the receiver as it was. The zero value has no dialect; start from
// [Dialect.Select].
type SelectQuery struct {
	d   *Dialect
	err error

	ctes       seq[cte]
	distinct   bool
	distinctOn seq[operand]
	columns    seq[operand]
	from       fromItem
	joins      seq[join]
	where      seq[Expr]
	groupBy    seq[operand]
	having     seq[Expr]
	orderBy    seq[Order]
	limit      int
	offset     int
	hasLimit   bool
	lock       lock

	// A set operation: setFirst is the first operand, setOps the rest.
	setFirst *SelectQuery
	setOps   seq[setOp]
}

// Select starts a SELECT of the given columns. A column is a name ("id",
// "u.name", "u.*", "*") or an [Expr] ([As], [Raw], a subquery). An empty
// column list is an *InvalidError at Build unless Columns adds some.
func (d *Dialect) Select(columns ...any) SelectQuery {
	s := SelectQuery{d: d}
	if len(columns) > 0 {
		s.columns = s.columns.add(operands(columns)...)
	}
	return s
}

func operands(items []any) []operand {
	out := make([]operand, len(items))
	for i, it := range items {
		out[i] = toOperand(it)
	}
	return out
}

// Dialect returns the dialect the query is built for.
func (s SelectQuery) Dialect() *Dialect { return s.d }

// Columns adds columns to the select list (names or Exprs).
func (s SelectQuery) Columns(columns ...any) SelectQuery {
	s.columns = s.columns.add(operands(columns)...)
	return s
}

// Distinct makes it SELECT DISTINCT.
func (s SelectQuery) Distinct() SelectQuery { s.distinct = true; return s }

// DistinctOn makes it SELECT DISTINCT ON (columns) (PostgreSQL only; an
// *UnsupportedError elsewhere).
func (s SelectQuery) DistinctOn(columns ...any) SelectQuery {
	s.distinctOn = s.distinctOn.add(operands(columns)...)
	return s
}

type fromItem struct {
	table string // "name", "name alias" or "name AS alias"
	expr  Expr
	alias string
	set   bool
}

// From sets the table: "users", "public.users", "users u" or "users AS u".
func (s SelectQuery) From(table string) SelectQuery {
	s.from = fromItem{table: table, set: true}
	return s
}

// FromExpr selects from an expression, typically a subquery, under alias.
func (s SelectQuery) FromExpr(e Expr, alias string) SelectQuery {
	s.from = fromItem{expr: e, alias: alias, set: true}
	return s
}

func (f fromItem) appendTo(w *writer, clause string) {
	if f.expr == nil {
		writeTableRef(w, clause, f.table)
		return
	}
	w.expr(f.expr)
	if f.alias != "" {
		w.str(" AS ")
		w.quoted(f.alias)
	} else if a, ok := f.expr.(appender); ok && a.isQuery() {
		w.fail(invalid(clause, "a subquery in %s needs an alias", clause))
	}
}

// JoinKind is the kind of a join.
type JoinKind uint8

// The kinds of join.
const (
	JoinInner JoinKind = iota // INNER JOIN
	JoinLeft                  // LEFT JOIN
	JoinRight                 // RIGHT JOIN
	JoinFull                  // FULL JOIN
	JoinCross                 // CROSS JOIN
)

var joinText = [...]string{" INNER JOIN ", " LEFT JOIN ", " RIGHT JOIN ", " FULL JOIN ", " CROSS JOIN "}

type join struct {
	kind    JoinKind
	target  fromItem
	lateral bool
	on      Expr
	using   []string
}

// Join adds INNER JOIN table ON on. table is "name", "name alias" or
// "name AS alias".
func (s SelectQuery) Join(table string, on Expr) SelectQuery {
	return s.addJoin(join{kind: JoinInner, target: fromItem{table: table}, on: on})
}

// LeftJoin adds LEFT JOIN table ON on.
func (s SelectQuery) LeftJoin(table string, on Expr) SelectQuery {
	return s.addJoin(join{kind: JoinLeft, target: fromItem{table: table}, on: on})
}

// RightJoin adds RIGHT JOIN table ON on.
func (s SelectQuery) RightJoin(table string, on Expr) SelectQuery {
	return s.addJoin(join{kind: JoinRight, target: fromItem{table: table}, on: on})
}

// CrossJoin adds CROSS JOIN table.
func (s SelectQuery) CrossJoin(table string) SelectQuery {
	return s.addJoin(join{kind: JoinCross, target: fromItem{table: table}})
}

// JoinUsing adds a join of the given kind with USING (columns).
func (s SelectQuery) JoinUsing(kind JoinKind, table string, columns ...string) SelectQuery {
	if len(columns) == 0 {
		s.err = firstErr(s.err, invalid("JOIN", "USING needs at least one column (joining %q)", table))
		return s
	}
	return s.addJoin(join{kind: kind, target: fromItem{table: table}, using: append([]string(nil), columns...)})
}

// JoinExpr adds a join of the given kind to an expression (typically a
// subquery) under alias. on may be nil for JoinCross.
func (s SelectQuery) JoinExpr(kind JoinKind, e Expr, alias string, on Expr) SelectQuery {
	return s.addJoin(join{kind: kind, target: fromItem{expr: e, alias: alias}, on: on})
}

// JoinLateral adds a LATERAL join to a subquery that may refer to the tables
// before it (PostgreSQL, MySQL 8.0.14+; an *UnsupportedError elsewhere). A nil
// on gives ON TRUE (or CROSS JOIN LATERAL for JoinCross).
func (s SelectQuery) JoinLateral(kind JoinKind, sub Expr, alias string, on Expr) SelectQuery {
	return s.addJoin(join{kind: kind, target: fromItem{expr: sub, alias: alias}, lateral: true, on: on})
}

func (s SelectQuery) addJoin(j join) SelectQuery {
	s.joins = s.joins.add(j)
	return s
}

func (j join) appendTo(w *writer) {
	switch j.kind {
	case JoinRight:
		w.require(FeatureRightJoin, "RIGHT JOIN")
	case JoinFull:
		w.require(FeatureFullJoin, "FULL JOIN")
	}
	if int(j.kind) >= len(joinText) {
		w.fail(invalid("JOIN", "unknown join kind %d", j.kind))
		return
	}
	w.str(joinText[j.kind])
	if j.lateral {
		if !w.require(FeatureLateral, "LATERAL") {
			return
		}
		w.str("LATERAL ")
	}
	j.target.appendTo(w, "JOIN")
	switch {
	case len(j.using) > 0:
		w.str(" USING (")
		writeList(w, j.using, (*writer).quoted)
		w.byte(')')
	case j.kind == JoinCross:
		if j.on != nil {
			w.fail(invalid("JOIN", "CROSS JOIN takes no ON condition"))
		}
	case j.on == nil && j.lateral:
		w.str(" ON 1 = 1")
	case j.on == nil:
		w.fail(invalid("JOIN", "join needs an ON condition or USING columns"))
	default:
		w.str(" ON ")
		w.expr(j.on)
	}
}

// Where adds conditions, joined with AND to those already there.
func (s SelectQuery) Where(conds ...Expr) SelectQuery {
	s.where = s.where.add(conds...)
	return s
}

// GroupBy adds GROUP BY columns (names or Exprs).
func (s SelectQuery) GroupBy(columns ...any) SelectQuery {
	s.groupBy = s.groupBy.add(operands(columns)...)
	return s
}

// Having adds HAVING conditions, joined with AND.
func (s SelectQuery) Having(conds ...Expr) SelectQuery {
	s.having = s.having.add(conds...)
	return s
}

// OrderBy adds ORDER BY items: strings "col", "col DESC", "col ASC NULLS LAST",
// [Order] values from [Asc] and [Desc], or Exprs (ascending).
func (s SelectQuery) OrderBy(items ...any) SelectQuery {
	orders := make([]Order, len(items))
	for i, it := range items {
		orders[i] = toOrder(it)
	}
	s.orderBy = s.orderBy.add(orders...)
	return s
}

// Limit sets LIMIT n. A negative n is an *InvalidError at Build.
func (s SelectQuery) Limit(n int) SelectQuery {
	if n < 0 {
		s.err = firstErr(s.err, invalid("LIMIT", "negative limit %d", n))
	}
	s.limit, s.hasLimit = n, true
	return s
}

// Offset sets OFFSET n. A negative n is an *InvalidError at Build.
func (s SelectQuery) Offset(n int) SelectQuery {
	if n < 0 {
		s.err = firstErr(s.err, invalid("OFFSET", "negative offset %d", n))
	}
	s.offset = n
	return s
}

func appendLimit(w *writer, limit, offset int, hasLimit bool) {
	switch {
	case hasLimit:
		w.str(" LIMIT ")
		w.int(int64(limit))
	case offset > 0 && w.d.limitAll != "":
		w.str(" LIMIT ")
		w.str(w.d.limitAll)
	}
	if offset > 0 {
		w.str(" OFFSET ")
		w.int(int64(offset))
	}
}

type lockStrength uint8

const (
	lockNone lockStrength = iota
	lockUpdate
	lockShare
)

type lockWait uint8

const (
	waitDefault lockWait = iota
	waitNoWait
	waitSkipLocked
)

type lock struct {
	strength lockStrength
	wait     lockWait
	of       []string
}

// ForUpdate adds FOR UPDATE (an *UnsupportedError on SQLite, which has no
// row locks).
func (s SelectQuery) ForUpdate() SelectQuery { s.lock.strength = lockUpdate; return s }

// ForShare adds FOR SHARE (LOCK IN SHARE MODE on MariaDB).
func (s SelectQuery) ForShare() SelectQuery { s.lock.strength = lockShare; return s }

// SkipLocked adds SKIP LOCKED to the locking clause.
func (s SelectQuery) SkipLocked() SelectQuery { s.lock.wait = waitSkipLocked; return s }

// NoWait adds NOWAIT to the locking clause.
func (s SelectQuery) NoWait() SelectQuery { s.lock.wait = waitNoWait; return s }

// LockOf restricts the locking clause to the given tables (FOR UPDATE OF t).
func (s SelectQuery) LockOf(tables ...string) SelectQuery {
	s.lock.of = append([]string(nil), tables...)
	return s
}

func (l lock) appendTo(w *writer) {
	switch l.strength {
	case lockNone:
		if l.wait != waitDefault || len(l.of) > 0 {
			w.fail(invalid("locking clause", "SKIP LOCKED, NOWAIT and LockOf need ForUpdate or ForShare"))
		}
		return
	case lockUpdate:
		if !w.require(FeatureForUpdate, "FOR UPDATE") {
			return
		}
		w.str(" FOR UPDATE")
	case lockShare:
		if !w.require(FeatureForShare, "FOR SHARE") {
			return
		}
		w.byte(' ')
		w.str(w.d.forShare)
	}
	if len(l.of) > 0 {
		if !w.require(FeatureLockOf, "FOR UPDATE OF") {
			return
		}
		w.str(" OF ")
		writeList(w, l.of, writeIdent)
	}
	switch l.wait {
	case waitNoWait:
		if w.require(FeatureNoWait, "NOWAIT") {
			w.str(" NOWAIT")
		}
	case waitSkipLocked:
		if w.require(FeatureSkipLocked, "SKIP LOCKED") {
			w.str(" SKIP LOCKED")
		}
	}
}

type cte struct {
	name      string
	columns   []string
	q         Expr
	recursive bool
}

// With adds a common table expression: WITH name (columns) AS (q).
func (s SelectQuery) With(name string, q Expr, columns ...string) SelectQuery {
	s.ctes = s.ctes.add(cte{name: name, q: q, columns: append([]string(nil), columns...)})
	return s
}

// WithRecursive adds a recursive common table expression; the statement is
// written WITH RECURSIVE.
func (s SelectQuery) WithRecursive(name string, q Expr, columns ...string) SelectQuery {
	s.ctes = s.ctes.add(cte{name: name, q: q, columns: append([]string(nil), columns...), recursive: true})
	return s
}

func appendCTEs(w *writer, ctes []cte) {
	if len(ctes) == 0 {
		return
	}
	w.str("WITH ")
	for _, c := range ctes {
		if c.recursive {
			w.str("RECURSIVE ")
			break
		}
	}
	for i, c := range ctes {
		if i > 0 {
			w.str(", ")
		}
		w.quoted(c.name)
		if len(c.columns) > 0 {
			w.str(" (")
			writeList(w, c.columns, (*writer).quoted)
			w.byte(')')
		}
		w.str(" AS ")
		if a, ok := c.q.(appender); ok && a.isQuery() {
			w.value(c.q)
		} else {
			w.byte('(')
			w.expr(c.q)
			w.byte(')')
		}
	}
	w.byte(' ')
}

type setKind uint8

const (
	setUnion setKind = iota
	setUnionAll
	setIntersect
	setExcept
)

var setText = [...]string{" UNION ", " UNION ALL ", " INTERSECT ", " EXCEPT "}

type setOp struct {
	kind setKind
	q    SelectQuery
}

// Union combines the query with other: s UNION other. ORDER BY, LIMIT and
// OFFSET set afterwards apply to the whole result. WHERE, JOIN, GROUP BY and
// the like cannot be added to the result (an *InvalidError at Build): use it
// as a subquery with FromExpr instead.
func (s SelectQuery) Union(other SelectQuery) SelectQuery { return s.combine(setUnion, other) }

// UnionAll is s UNION ALL other.
func (s SelectQuery) UnionAll(other SelectQuery) SelectQuery { return s.combine(setUnionAll, other) }

// Intersect is s INTERSECT other.
func (s SelectQuery) Intersect(other SelectQuery) SelectQuery { return s.combine(setIntersect, other) }

// Except is s EXCEPT other.
func (s SelectQuery) Except(other SelectQuery) SelectQuery { return s.combine(setExcept, other) }

func (s SelectQuery) combine(kind setKind, other SelectQuery) SelectQuery {
	if s.setFirst != nil && !s.hasTail() {
		s.setOps = s.setOps.add(setOp{kind, other})
		return s
	}
	first := s
	out := SelectQuery{d: s.d, err: s.err, setFirst: &first}
	out.setOps = out.setOps.add(setOp{kind, other})
	return out
}

// hasTail reports whether the query has clauses that make it need parentheses
// as the operand of a set operation.
func (s SelectQuery) hasTail() bool {
	return len(s.orderBy.s) > 0 || s.hasLimit || s.offset > 0 || s.lock.strength != lockNone || len(s.ctes.s) > 0
}

func (s SelectQuery) appendSetOperand(w *writer, q SelectQuery) {
	if !q.hasTail() && q.setFirst == nil {
		q.appendTo(w)
		return
	}
	if w.d.Has(FeatureParenSetOperand) {
		w.byte('(')
		q.appendTo(w)
		w.byte(')')
		return
	}
	// SQLite accepts no parenthesized operand; a subquery in FROM is equivalent.
	w.str("SELECT * FROM (")
	q.appendTo(w)
	w.byte(')')
}

func (s SelectQuery) isQuery() bool { return true }

func (s SelectQuery) appendTo(w *writer) {
	if s.err != nil {
		w.fail(s.err)
		return
	}
	if s.d != nil && s.d != w.d && w.d != standard {
		w.fail(invalid("subquery", "a %s subquery inside a %s statement", s.d.Name(), w.d.Name()))
		return
	}
	appendCTEs(w, s.ctes.s)
	if s.setFirst != nil {
		if len(s.columns.s) > 0 || s.from.set || len(s.joins.s) > 0 || len(s.where.s) > 0 ||
			len(s.groupBy.s) > 0 || len(s.having.s) > 0 || s.distinct || len(s.distinctOn.s) > 0 {
			w.fail(invalid("set operation", "columns, FROM, JOIN, WHERE, GROUP BY and HAVING cannot be added to a UNION/INTERSECT/EXCEPT; select from it as a subquery with FromExpr"))
			return
		}
		s.appendSetOperand(w, *s.setFirst)
		for _, op := range s.setOps.s {
			if op.kind >= setIntersect && !w.require(FeatureIntersectExcept, "INTERSECT/EXCEPT") {
				return
			}
			w.str(setText[op.kind])
			s.appendSetOperand(w, op.q)
		}
	} else {
		s.appendSelect(w)
	}
	if len(s.orderBy.s) > 0 {
		w.str(" ORDER BY ")
		appendOrders(w, s.orderBy.s)
	}
	appendLimit(w, s.limit, s.offset, s.hasLimit)
	s.lock.appendTo(w)
}

func (s SelectQuery) appendSelect(w *writer) {
	w.str("SELECT ")
	if len(s.distinctOn.s) > 0 {
		if !w.require(FeatureDistinctOn, "DISTINCT ON") {
			return
		}
		w.str("DISTINCT ON (")
		writeList(w, s.distinctOn.s, appendOperand)
		w.str(") ")
	} else if s.distinct {
		w.str("DISTINCT ")
	}
	if len(s.columns.s) == 0 {
		w.fail(invalid("SELECT", "no columns to select"))
		return
	}
	writeList(w, s.columns.s, appendOperand)
	if s.from.set {
		w.str(" FROM ")
		s.from.appendTo(w, "FROM")
	} else if len(s.joins.s) > 0 {
		w.fail(invalid("JOIN", "JOIN without FROM"))
		return
	}
	for _, j := range s.joins.s {
		j.appendTo(w)
	}
	appendWhere(w, " WHERE ", s.where.s)
	if len(s.groupBy.s) > 0 {
		w.str(" GROUP BY ")
		writeList(w, s.groupBy.s, appendOperand)
	}
	appendWhere(w, " HAVING ", s.having.s)
}

func appendOperand(w *writer, o operand) { o.appendTo(w) }

func appendWhere(w *writer, keyword string, conds []Expr) {
	if len(conds) == 0 {
		return
	}
	w.str(keyword)
	appendJunction(w, conds, false)
}

// Build returns the SQL text with the dialect's placeholders and the arguments
// in order, or the first error met while building the query: an
// *UnsupportedError or an *InvalidError.
func (s SelectQuery) Build() (string, []any, error) { return build(s.d, s, false) }

// ToSql is squirrel's Sqlizer method: the same SQL as Build but with '?'
// placeholders whatever the dialect, so the query can be nested in a squirrel
// statement, which numbers the placeholders itself. To run the query, use Build.
func (s SelectQuery) ToSql() (string, []any, error) { return build(s.d, s, true) }

// String returns the SQL text, or the error text if the query cannot be built.
// It is meant for logs and debugging.
func (s SelectQuery) String() string { return debugString(s.d, s) }

func build(d *Dialect, a appender, question bool) (string, []any, error) {
	if d == nil {
		return "", nil, invalid("statement", "no dialect: start statements from qb.Postgres, qb.MySQL, qb.MariaDB or qb.SQLite")
	}
	w := getWriter(d, question)
	a.appendTo(w)
	return w.finish()
}

func debugString(d *Dialect, a appender) string {
	sql, _, err := build(d, a, false)
	if err != nil {
		return "!error: " + err.Error()
	}
	return sql
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
