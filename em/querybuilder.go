package em

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unsafe"

	"github.com/mikrogo/mikro/qb"
)

// QueryBuilder is a SELECT over entity T that speaks property names and
// relation paths instead of tables and columns: the qb builder with the
// entity manager's metadata behind it. Make one with QB. Like qb's builders
// it is a value: every method returns a new builder and leaves the receiver
// as it was, so a base query can be shared and refined. A mistake (an unknown
// alias, property or relation) is kept and returned by the method that runs
// the query, as a *FilterError naming the entity and property.
//
// Paths are "alias.property" ("b.title", "a.name") or a bare property of the
// root alias ("title"). A reference property ("b.author") stands for its
// foreign key column.
type QueryBuilder[T any] struct {
	e        *EntityManager
	m        *EntityMeta
	alias    string
	joins    []qbJoin
	sel      []any
	where    []any
	group    []string
	having   []F
	order    []string
	limit    int
	offset   int
	distinct bool
	populate []string
	err      error
}

type qbJoin struct {
	left  bool
	path  string
	alias string
	on    []F
}

// qbAlias is what an alias of a query builder stands for.
type qbAlias struct {
	m      *EntityMeta
	toMany bool // reached through a collection: joins repeat the root rows
}

// QB starts a query builder on entity T under alias (the root alias, "e0"
// when empty), run by e. The entity manager is resolved when the query runs,
// so a root manager defers to the fork in the context like Find does.
func QB[T any](e *EntityManager, alias string) QueryBuilder[T] {
	if alias == "" {
		alias = "e0"
	}
	q := QueryBuilder[T]{e: e, alias: alias}
	if e.invalid() {
		q.err = errNilManager
		return q
	}
	q.m, q.err = e.orm.metaFor(reflect.TypeFor[T]())
	return q
}

// Select sets what Execute returns, replacing earlier Select calls: property
// paths ("b.title", "a.name"), aggregates over them ("count(b.id)",
// "count(distinct b.id)", "sum(b.price)", "avg(…)", "min(…)", "max(…)",
// "count(*)"), each optionally followed by "as label", or qb expressions. A
// row's key is the label, else the property name, else the function name.
// All ignores Select: it always reads whole entities.
func (q QueryBuilder[T]) Select(items ...any) QueryBuilder[T] {
	q.sel = slices.Clone(items)
	return q
}

// Distinct makes Execute return distinct rows.
func (q QueryBuilder[T]) Distinct() QueryBuilder[T] { q.distinct = true; return q }

// Join adds an INNER JOIN along a relation path ("b.author": a reference,
// "a.books": a one-to-many collection, "b.tags": a many-to-many collection,
// joined through its pivot table) under alias, which later paths may use.
// Optional filters add conditions to the join's ON clause.
func (q QueryBuilder[T]) Join(path, alias string, on ...F) QueryBuilder[T] {
	q.joins = append(slices.Clip(q.joins), qbJoin{path: path, alias: alias, on: on})
	return q
}

// LeftJoin is Join with a LEFT JOIN: root rows without related rows stay.
func (q QueryBuilder[T]) LeftJoin(path, alias string, on ...F) QueryBuilder[T] {
	q.joins = append(slices.Clip(q.joins), qbJoin{left: true, path: path, alias: alias, on: on})
	return q
}

// Where adds a condition in the filter language of Find (an em.F or a
// primary key of T); several calls are joined with AND. Keys may start with
// an alias ("a.name") and may traverse relations ("author.name",
// {"tags": {"name": …}}) as in Find.
func (q QueryBuilder[T]) Where(filter any) QueryBuilder[T] {
	q.where = append(slices.Clip(q.where), filter)
	return q
}

// GroupBy groups Execute's rows by property paths.
func (q QueryBuilder[T]) GroupBy(paths ...string) QueryBuilder[T] {
	q.group = append(slices.Clip(q.group), paths...)
	return q
}

// Having adds a condition on groups: keys are aggregates as in Select
// ("count(b.id)": em.F{"$gt": 2}) or property paths.
func (q QueryBuilder[T]) Having(filter F) QueryBuilder[T] {
	q.having = append(slices.Clip(q.having), filter)
	return q
}

// OrderBy adds order items: a property path or aggregate, optionally
// followed by ASC or DESC and NULLS FIRST or NULLS LAST ("b.title DESC").
func (q QueryBuilder[T]) OrderBy(items ...string) QueryBuilder[T] {
	q.order = append(slices.Clip(q.order), items...)
	return q
}

// Limit caps the rows; with All it counts root entities, even
// across joined collections.
func (q QueryBuilder[T]) Limit(n int) QueryBuilder[T] { q.limit = n; return q }

// Offset skips rows (root entities with All).
func (q QueryBuilder[T]) Offset(n int) QueryBuilder[T] { q.offset = n; return q }

// Populate loads relations of the entities All returns, by path
// as in FindOptions.Populate (select-in, one query per level).
func (q QueryBuilder[T]) Populate(paths ...string) QueryBuilder[T] {
	q.populate = append(slices.Clip(q.populate), paths...)
	return q
}

// valid returns the error that stops q from building: QB's, or errZeroQB.
func (q QueryBuilder[T]) valid() error {
	if q.err != nil {
		return q.err
	}
	if q.e == nil || q.m == nil {
		return errZeroQB
	}
	return nil
}

// aliases resolves the root alias and the joins, in order: every join's
// path must start with an alias defined before it.
func (q QueryBuilder[T]) aliases() (map[string]qbAlias, []qbResolved, error) {
	if err := q.valid(); err != nil {
		return nil, nil, err
	}
	as := map[string]qbAlias{q.alias: {m: q.m}}
	out := make([]qbResolved, 0, len(q.joins))
	for _, j := range q.joins {
		head, prop, ok := strings.Cut(j.path, ".")
		from, known := as[head]
		if !ok || !known {
			return nil, nil, &FilterError{Entity: q.m.Name, Property: j.path, Reason: "a join path is alias.property, with an alias defined before it"}
		}
		if _, taken := as[j.alias]; taken || j.alias == "" || strings.Contains(j.alias, ".") {
			return nil, nil, &FilterError{Entity: from.m.Name, Property: j.path, Reason: fmt.Sprintf("alias %q is empty, dotted or already used", j.alias)}
		}
		r := qbResolved{join: j, from: head}
		if rel := relationNamed(from.m, prop); rel != nil {
			r.rel, r.target = rel, rel.Target
		} else if inv := inverseNamed(from.m, prop); inv != nil {
			r.inv, r.target = inv, inv.Target
		} else if f := from.m.props[prop]; f != nil && f.Ref != nil {
			r.ref, r.target = f, f.Ref
		} else {
			return nil, nil, &FilterError{Entity: from.m.Name, Property: prop, Reason: "no such reference or collection (in Join)"}
		}
		as[j.alias] = qbAlias{m: r.target, toMany: from.toMany || r.rel != nil}
		out = append(out, r)
	}
	return as, out, nil
}

type qbResolved struct {
	join   qbJoin
	from   string
	ref    *FieldMeta    // a reference join
	rel    *RelationMeta // a collection join
	inv    *RelationMeta // the inverse side of a one-to-one
	target *EntityMeta
}

// scope is the filter scope of the query: the root entity under its alias,
// and every alias the keys may name.
func (q QueryBuilder[T]) scope(as map[string]qbAlias) fscope {
	byAlias := make(map[string]*EntityMeta, len(as))
	for k, a := range as {
		byAlias[k] = a.m
	}
	return fscope{d: q.e.orm.dialect, m: q.m, alias: q.alias, aliases: byAlias}
}

// path resolves "alias.property" (or a property of the root) to its
// qualified column.
func (q QueryBuilder[T]) path(as map[string]qbAlias, p string) (string, error) {
	alias, prop, ok := strings.Cut(strings.TrimSpace(p), ".")
	if !ok {
		alias, prop = q.alias, alias
	}
	a, known := as[alias]
	if !known {
		return "", &FilterError{Entity: q.m.Name, Property: p, Reason: fmt.Sprintf("no alias %q in the query", alias)}
	}
	f := a.m.props[prop]
	if f == nil {
		return "", &FilterError{Entity: a.m.Name, Property: prop, Reason: "no such property"}
	}
	return alias + "." + f.Column, nil
}

var aggregateRe = regexp.MustCompile(`(?i)^(count|sum|avg|min|max)\(\s*(distinct\s+)?([\w.*]+)\s*\)$`)

// item resolves a select, group or order item: an aggregate or a path, with
// the label it reads as.
func (q QueryBuilder[T]) item(as map[string]qbAlias, s string) (qb.Expr, string, error) {
	s = strings.TrimSpace(s)
	label := ""
	if i := strings.LastIndex(strings.ToLower(s), " as "); i > 0 {
		s, label = strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+4:])
	}
	if m := aggregateRe.FindStringSubmatch(s); m != nil {
		fn, distinct, arg := strings.ToUpper(m[1]), m[2] != "", m[3]
		if label == "" {
			label = strings.ToLower(fn)
		}
		if arg == "*" {
			if fn != "COUNT" || distinct {
				return nil, "", &FilterError{Entity: q.m.Name, Property: s, Reason: "only count(*) takes *"}
			}
			return qb.Raw("COUNT(*)"), label, nil
		}
		col, err := q.path(as, arg)
		if err != nil {
			return nil, "", err
		}
		if distinct {
			return qb.Raw(fn+"(DISTINCT ?)", qb.C(col)), label, nil
		}
		return qb.Raw(fn+"(?)", qb.C(col)), label, nil
	}
	if strings.ContainsAny(s, "() ") {
		return nil, "", &FilterError{Entity: q.m.Name, Property: s, Reason: "not a property path or an aggregate (count, sum, avg, min, max); use a qb expression for anything else"}
	}
	col, err := q.path(as, s)
	if err != nil {
		return nil, "", err
	}
	if label == "" {
		label = q.propertyOf(as, s)
	}
	return qb.C(col), label, nil
}

// propertyOf returns the property name a path ends in.
func (q QueryBuilder[T]) propertyOf(as map[string]qbAlias, p string) string {
	alias, prop, ok := strings.Cut(p, ".")
	if !ok {
		alias, prop = q.alias, alias
	}
	if f := as[alias].m.props[prop]; f != nil {
		return f.Property
	}
	return prop
}

// base builds FROM, the joins and WHERE: what every form of the query
// shares. toMany reports a join through a collection.
func (q QueryBuilder[T]) base(as map[string]qbAlias, joins []qbResolved, cols ...any) (qb.SelectQuery, bool, error) {
	d := q.e.orm.dialect
	s := d.Select(cols...).From(q.m.Table + " " + q.alias)
	sc := q.scope(as)
	toMany := false
	for i, r := range joins {
		kind := qb.JoinInner
		if r.join.left {
			kind = qb.JoinLeft
		}
		from := as[r.from]
		var on []qb.Expr
		switch {
		case r.ref != nil:
			on = append(on, qb.Eq(r.join.alias+"."+r.target.PK.Column, qb.C(r.from+"."+r.ref.Column)))
		case r.inv != nil:
			on = append(on, qb.Eq(r.join.alias+"."+r.inv.MappedBy.Column, qb.C(r.from+"."+from.m.PK.Column)))
		case r.rel.Kind == OneToMany:
			toMany = true
			on = append(on, qb.Eq(r.join.alias+"."+r.rel.MappedBy.Column, qb.C(r.from+"."+from.m.PK.Column)))
		default: // many-to-many, through the pivot under an alias of its own
			toMany = true
			own, link, other := r.rel, r.rel.JoinColumn, r.rel.InverseColumn
			if !r.rel.Owning {
				own, link, other = r.rel.Inverse, r.rel.Inverse.InverseColumn, r.rel.Inverse.JoinColumn
			}
			pv := fmt.Sprintf("%s_p%d", r.join.alias, i)
			s = s.JoinExpr(kind, qb.Ident(own.Pivot), pv, qb.Eq(pv+"."+link, qb.C(r.from+"."+from.m.PK.Column)))
			on = append(on, qb.Eq(r.join.alias+"."+r.target.PK.Column, qb.C(pv+"."+other)))
		}
		for _, f := range r.join.on {
			c, err := sc.filter(f)
			if err != nil {
				return s, false, err
			}
			if c != nil {
				on = append(on, c)
			}
		}
		cond := on[0]
		if len(on) > 1 {
			cond = qb.And(on...)
		}
		s = s.JoinExpr(kind, qb.Ident(r.target.Table), r.join.alias, cond)
	}
	for _, w := range q.where {
		c, err := sc.filter(w)
		if err != nil {
			return s, false, err
		}
		if c != nil {
			s = s.Where(c)
		}
	}
	return s, toMany, nil
}

// orders resolves the order items; wrap, when set, puts each item that is
// not a column of the root inside an aggregate (MIN ascending, MAX
// descending), for a query grouped by the root's key.
func (q QueryBuilder[T]) orders(as map[string]qbAlias, wrap bool) ([]any, error) {
	out := make([]any, 0, len(q.order))
	for _, o := range q.order {
		o = strings.TrimSpace(o)
		// The item is up to the first space, or up to its closing
		// parenthesis for an aggregate ("count(distinct b.id) DESC").
		head, rest, _ := strings.Cut(o, " ")
		if i := strings.LastIndex(o, ")"); i > 0 {
			head, rest = o[:i+1], o[i+1:]
		}
		rest = strings.TrimSpace(rest)
		e, _, err := q.item(as, head)
		if err != nil {
			return nil, err
		}
		ord := qb.Asc(e)
		upper := strings.ToUpper(rest)
		for _, w := range strings.Fields(upper) {
			switch w {
			case "ASC", "DESC", "NULLS", "FIRST", "LAST":
			default:
				return nil, &FilterError{Entity: q.m.Name, Property: o, Reason: "an order item is a path or aggregate, then ASC or DESC, then NULLS FIRST or NULLS LAST"}
			}
		}
		desc := strings.Contains(upper, "DESC")
		if wrap && !aggregateRe.MatchString(head) {
			if a, _, _ := strings.Cut(head, "."); strings.Contains(head, ".") && a != q.alias {
				fn := "MIN(?)"
				if desc {
					fn = "MAX(?)"
				}
				e = qb.Raw(fn, e)
			}
		}
		if desc {
			ord = qb.Desc(e)
		} else {
			ord = qb.Asc(e)
		}
		switch {
		case strings.Contains(upper, "NULLS FIRST"):
			ord = ord.NullsFirst()
		case strings.Contains(upper, "NULLS LAST"):
			ord = ord.NullsLast()
		}
		out = append(out, ord)
	}
	return out, nil
}

// entitySelect is the SELECT of All: the root's columns, one row
// per root entity even across joined collections (grouped by its key).
func (q QueryBuilder[T]) entitySelect() (qb.SelectQuery, error) {
	as, joins, err := q.aliases()
	if err != nil {
		return qb.SelectQuery{}, err
	}
	cols := make([]any, len(q.m.Fields))
	for i, f := range q.m.Fields {
		cols[i] = q.alias + "." + f.Column
	}
	s, toMany, err := q.base(as, joins, cols...)
	if err != nil {
		return s, err
	}
	if toMany {
		s = s.GroupBy(q.alias + "." + q.m.PK.Column)
	}
	if len(q.group) > 0 || len(q.having) > 0 {
		return s, &FilterError{Entity: q.m.Name, Property: "GroupBy", Reason: "All reads whole entities; group with Execute"}
	}
	ords, err := q.orders(as, toMany)
	if err != nil {
		return s, err
	}
	if len(ords) > 0 {
		s = s.OrderBy(ords...)
	}
	return q.page(s), nil
}

func (q QueryBuilder[T]) page(s qb.SelectQuery) qb.SelectQuery {
	if q.limit > 0 {
		s = s.Limit(q.limit)
	}
	if q.offset > 0 {
		s = s.Offset(q.offset)
	}
	return s
}

// rowSelect is the SELECT of Execute, with the label of every column.
func (q QueryBuilder[T]) rowSelect() (qb.SelectQuery, []string, error) {
	as, joins, err := q.aliases()
	if err != nil {
		return qb.SelectQuery{}, nil, err
	}
	items := q.sel
	if len(items) == 0 {
		for _, f := range q.m.Fields {
			items = append(items, q.alias+"."+f.Property)
		}
	}
	cols := make([]any, len(items))
	labels := make([]string, len(items))
	for i, it := range items {
		switch v := it.(type) {
		case string:
			e, label, err := q.item(as, v)
			if err != nil {
				return qb.SelectQuery{}, nil, err
			}
			cols[i], labels[i] = qb.As(e, label), label
		case qb.Expr:
			cols[i], labels[i] = v, fmt.Sprintf("column%d", i+1)
		default:
			return qb.SelectQuery{}, nil, &FilterError{Entity: q.m.Name, Property: fmt.Sprint(it), Reason: fmt.Sprintf("a select item is a string or a qb.Expr, not %T", it)}
		}
	}
	s, _, err := q.base(as, joins, cols...)
	if err != nil {
		return s, nil, err
	}
	if q.distinct {
		s = s.Distinct()
	}
	for _, g := range q.group {
		col, err := q.path(as, g)
		if err != nil {
			return s, nil, err
		}
		s = s.GroupBy(col)
	}
	for _, h := range q.having {
		c, err := q.havingCond(as, h)
		if err != nil {
			return s, nil, err
		}
		s = s.Having(c)
	}
	ords, err := q.orders(as, false)
	if err != nil {
		return s, nil, err
	}
	if len(ords) > 0 {
		s = s.OrderBy(ords...)
	}
	return q.page(s), labels, nil
}

// havingCond compiles a Having filter: aggregate keys compare their value,
// other keys are filters as in Where.
func (q QueryBuilder[T]) havingCond(as map[string]qbAlias, h F) (qb.Expr, error) {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var conds []qb.Expr
	sc := q.scope(as)
	for _, k := range keys {
		v := h[k]
		var c qb.Expr
		var err error
		if aggregateRe.MatchString(strings.TrimSpace(k)) {
			var e qb.Expr
			if e, _, err = q.item(as, k); err != nil {
				return nil, err
			}
			if ops, ok := v.(F); ok {
				c, err = sc.compileOpsOn(e, nil, k, ops)
			} else {
				c = qb.Eq(e, v)
			}
		} else {
			c, err = sc.filter(F{k: v})
		}
		if err != nil {
			return nil, err
		}
		conds = append(conds, c)
	}
	if len(conds) == 1 {
		return conds[0], nil
	}
	return qb.And(conds...), nil
}

// subquery is the query as a list of the root's keys, for $in of another
// query: QB[Author](e, "a").Where(em.F{"id": em.F{"$in": QB[Book](e, "b").Select("b.author")}}).
// With a Select of one item it selects that item instead.
func (q QueryBuilder[T]) subquery() (qb.SelectQuery, error) {
	if len(q.sel) == 0 {
		q.sel = []any{q.alias + "." + q.m.PK.Property}
	}
	if len(q.sel) != 1 {
		return qb.SelectQuery{}, &FilterError{Entity: q.m.Name, Property: "Select", Reason: "a subquery selects one item"}
	}
	s, _, err := q.rowSelect()
	return s, err
}

// Build returns the query All runs, for use with qb directly or
// for inspection; it fails as All would before running.
func (q QueryBuilder[T]) Build() (qb.SelectQuery, error) { return q.entitySelect() }

// manager resolves the entity manager the query runs on.
func (q QueryBuilder[T]) manager(ctx context.Context) (*EntityManager, error) {
	if ctx == nil {
		return nil, ErrNilContext
	}
	if err := q.valid(); err != nil {
		return nil, err
	}
	if q.e.orm.backend != nil {
		return nil, q.e.orm.unsupported("the SQL query builder (QB)")
	}
	return q.e.usable(ctx)
}

// All runs the query and returns the root entities, managed in the
// identity map (an entity already managed is returned as the same instance,
// with its in-memory changes kept), in the query's order, each once even
// when joined collections repeat it; nil when nothing matches. It returns
// the builder's mistake as a *FilterError (before any query), ErrNilContext
// for a nil ctx, an error matching ErrUnsupported on a store without SQL
// (MongoDB), the errors of an unusable manager as Find does, or the
// database error (a *DBError when it is one em knows).
func (q QueryBuilder[T]) All(ctx context.Context) ([]*T, error) {
	e, err := q.manager(ctx)
	if err != nil {
		return nil, err
	}
	s, err := q.entitySelect()
	if err != nil {
		return nil, err
	}
	query, args, err := s.Build()
	if err != nil {
		return nil, err
	}
	var out []*T
	var loaded []unsafe.Pointer
	err = func() error {
		e.mu.Lock()
		defer e.mu.Unlock()
		rows, err := e.orm.query(ctx, e.conn(), query, args)
		if err != nil {
			return translateError(err, q.m.Name)
		}
		defer rows.Close()
		return e.hydrate(rows, q.m, q.m.Fields, false, false, func(obj any) {
			out = append(out, obj.(*T))
			loaded = append(loaded, entityPtr(obj))
		})
	}()
	if err != nil {
		return nil, err
	}
	if len(q.populate) > 0 && len(loaded) > 0 {
		if err := e.populate(ctx, q.m, loaded, q.populate, popOpts{}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// One runs the query for its first root entity (in the query's order; it
// replaces the builder's Limit with 1 and keeps its Offset). Nothing
// matching is not an error: One returns nil and a nil error, like FindOne.
// Several matching is not an error either: One returns the first, so order
// the query when which one matters (Count tells how many there are). Its
// errors are those of All.
func (q QueryBuilder[T]) One(ctx context.Context) (*T, error) {
	list, err := q.Limit(1).All(ctx)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	return list[0], nil
}

// Count returns the number of distinct root entities the query matches,
// ignoring order, limit and offset. Its errors are those of All.
func (q QueryBuilder[T]) Count(ctx context.Context) (int64, error) {
	e, err := q.manager(ctx)
	if err != nil {
		return 0, err
	}
	as, joins, err := q.aliases()
	if err != nil {
		return 0, err
	}
	s, _, err := q.base(as, joins, qb.Raw("COUNT(DISTINCT ?)", qb.C(q.alias+"."+q.m.PK.Column)))
	if err != nil {
		return 0, err
	}
	var n int64
	err = e.rawRows(ctx, q.m, s, func(scan func(...any) error) error { return scan(&n) })
	return n, err
}

// Execute runs the query for plain rows, not entities: one map per row from
// label (see Select) to the value as the driver returns it, except that
// bytes are returned as a string. Nothing enters the identity map.
func (q QueryBuilder[T]) Execute(ctx context.Context) ([]map[string]any, error) {
	e, err := q.manager(ctx)
	if err != nil {
		return nil, err
	}
	s, labels, err := q.rowSelect()
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	vals := make([]any, len(labels))
	ptrs := make([]any, len(labels))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	err = e.rawRows(ctx, q.m, s, func(scan func(...any) error) error {
		if err := scan(ptrs...); err != nil {
			return err
		}
		row := make(map[string]any, len(labels))
		for i, l := range labels {
			if b, ok := vals[i].([]byte); ok {
				row[l] = string(b)
			} else {
				row[l] = vals[i]
			}
		}
		out = append(out, row)
		return nil
	})
	return out, err
}

// ExecuteInto runs the query for plain rows into dest, a pointer to a slice
// of structs (or of pointers to structs): each label is matched to a field
// by its `db` tag, else by the naming strategy's column name for the field,
// else by the field's property name. A label no field matches is an error,
// before the query runs. Nothing enters the identity map.
func (q QueryBuilder[T]) ExecuteInto(ctx context.Context, dest any) error {
	e, err := q.manager(ctx)
	if err != nil {
		return err
	}
	dv := reflect.ValueOf(dest)
	if dv.Kind() != reflect.Pointer || dv.IsNil() || dv.Elem().Kind() != reflect.Slice {
		return fmt.Errorf("em: ExecuteInto needs a pointer to a slice, not %T", dest)
	}
	slice := dv.Elem()
	elem := slice.Type().Elem()
	ptrElem := elem.Kind() == reflect.Pointer
	st := elem
	if ptrElem {
		st = elem.Elem()
	}
	if st.Kind() != reflect.Struct {
		return fmt.Errorf("em: ExecuteInto needs a slice of structs, not %s", slice.Type())
	}
	s, labels, err := q.rowSelect()
	if err != nil {
		return err
	}
	index := make([][]int, len(labels))
	for i, l := range labels {
		sf, ok := fieldForLabel(st, l, e.orm.cfg.Naming)
		if !ok {
			return fmt.Errorf("em: ExecuteInto: %s has no field for column %q (add a db:%q tag)", st, l, l)
		}
		index[i] = sf.Index
	}
	ptrs := make([]any, len(labels))
	return e.rawRows(ctx, q.m, s, func(scan func(...any) error) error {
		v := reflect.New(st)
		for i, idx := range index {
			ptrs[i] = v.Elem().FieldByIndex(idx).Addr().Interface()
		}
		if err := scan(ptrs...); err != nil {
			return err
		}
		if ptrElem {
			slice.Set(reflect.Append(slice, v))
		} else {
			slice.Set(reflect.Append(slice, v.Elem()))
		}
		return nil
	})
}

// fieldForLabel finds the exported field of st that a result label names.
func fieldForLabel(st reflect.Type, label string, n NamingStrategy) (reflect.StructField, bool) {
	for _, sf := range reflect.VisibleFields(st) {
		if !sf.IsExported() || sf.Anonymous {
			continue
		}
		tag, _, _ := strings.Cut(sf.Tag.Get("db"), ",")
		switch {
		case tag == "-":
			continue
		case tag != "":
			if tag == label {
				return sf, true
			}
		case n.ColumnName(sf.Name) == label, propertyName(sf.Name) == label, strings.EqualFold(sf.Name, label):
			return sf, true
		}
	}
	return reflect.StructField{}, false
}

// rawRows runs s and calls each for every row, under the manager's lock.
func (e *EntityManager) rawRows(ctx context.Context, m *EntityMeta, s qb.SelectQuery, each func(scan func(...any) error) error) error {
	query, args, err := s.Build()
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rows, err := e.orm.query(ctx, e.conn(), query, args)
	if err != nil {
		return translateError(err, m.Name)
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows.Scan); err != nil {
			return fmt.Errorf("em: query on %s: %w", m.Name, err)
		}
	}
	return translateError(rows.Err(), m.Name)
}

// Update sets properties of every T the query's Where matches, in one
// UPDATE statement, and returns the number of rows changed. Keys of set are
// properties of T (a reference takes an em.Ref, an entity pointer or a key);
// joins are refused (filter across relations in Where instead). Entities
// already managed are not changed in memory and version fields are not
// checked or incremented: Refresh or Clear what the update touched.
func (q QueryBuilder[T]) Update(ctx context.Context, set F) (int64, error) {
	e, err := q.manager(ctx)
	if err != nil {
		return 0, err
	}
	where, err := q.bulkWhere("Update")
	if err != nil {
		return 0, err
	}
	if len(set) == 0 {
		return 0, &FilterError{Entity: q.m.Name, Property: "set", Reason: "Update needs at least one property to set"}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	u := e.orm.dialect.Update(q.m.Table)
	for _, k := range keys {
		prop := strings.TrimPrefix(k, q.alias+".")
		f := q.m.props[prop]
		if f == nil {
			return 0, &FilterError{Entity: q.m.Name, Property: k, Reason: "no such property (in Update)"}
		}
		v := set[k]
		if f.isRef {
			v = refArg(f, v)
		}
		u = u.Set(f.Column, v)
	}
	if where != nil {
		u = u.Where(where)
	}
	return e.execNative(ctx, q.m, u)
}

// Delete deletes every T the query's Where matches (all rows without a
// Where), in one DELETE statement, and returns the number of rows deleted.
// Joins are refused. Managed entities stay in the identity map, and no hook
// or cascade runs: this is a statement, not the unit of work's Remove.
func (q QueryBuilder[T]) Delete(ctx context.Context) (int64, error) {
	e, err := q.manager(ctx)
	if err != nil {
		return 0, err
	}
	where, err := q.bulkWhere("Delete")
	if err != nil {
		return 0, err
	}
	d := e.orm.dialect.DeleteFrom(q.m.Table)
	if where != nil {
		d = d.Where(where)
	}
	return e.execNative(ctx, q.m, d)
}

// bulkWhere compiles the Where of a single-table statement.
func (q QueryBuilder[T]) bulkWhere(op string) (qb.Expr, error) {
	if err := q.valid(); err != nil {
		return nil, err
	}
	if len(q.joins) > 0 || len(q.group) > 0 || len(q.having) > 0 || len(q.order) > 0 || q.limit > 0 || q.offset > 0 {
		return nil, &FilterError{Entity: q.m.Name, Property: op, Reason: op + " takes Where only (no joins, grouping, order or paging); filter across relations in Where"}
	}
	sc := fscope{d: q.e.orm.dialect, m: q.m, alias: q.alias, aliases: map[string]*EntityMeta{q.alias: q.m}, bare: true}
	var conds []qb.Expr
	for _, w := range q.where {
		c, err := sc.filter(w)
		if err != nil {
			return nil, err
		}
		if c != nil {
			conds = append(conds, c)
		}
	}
	switch len(conds) {
	case 0:
		return nil, nil
	case 1:
		return conds[0], nil
	}
	return qb.And(conds...), nil
}
