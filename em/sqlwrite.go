package em

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/mikrogo/mikro/qb"
)

func nowTime() time.Time { return time.Now() }

// bindValue is the value bound for field f of the entity at base.
func bindValue(f *FieldMeta, base unsafe.Pointer) (any, error) {
	if f.isRef {
		return refBind(f, f.ptr(base)), nil
	}
	if f.JSON {
		b, err := marshalJSON(f, base)
		if err != nil {
			return nil, fmt.Errorf("em: %s: encode JSON: %w", f.Name, err)
		}
		if b == nil {
			return nil, nil
		}
		return string(b), nil
	}
	if f.get != nil {
		return f.get(f.ptr(base)), nil
	}
	return f.value(base).Interface(), nil
}

// rowsPerStatement keeps a statement of cols parameters per row under the
// batch size and the database's parameter limit.
func (e *EntityManager) rowsPerStatement(cols int) int {
	n := e.orm.cfg.BatchSize
	if cols > 0 {
		n = min(n, e.orm.dialect.MaxParams()/cols)
	}
	return max(n, 1)
}

// insertAll inserts new entities of one type in multi-row INSERTs and writes
// generated keys back.
func (e *EntityManager) insertAll(ctx context.Context, tx *txState, m *EntityMeta, list []*entry) error {
	if m.selfRef {
		// A row referring to another new row of the same table (a tree)
		// waits for it: insert level by level, parents first.
		for len(list) > 0 {
			level, rest := splitLevel(m, list)
			if len(level) == 0 {
				// A cycle: the rest go in together, their references to rows
				// not in yet written afterwards (see bindRef).
				level, rest = rest, nil
			}
			if err := e.insertRows(ctx, tx, m, level); err != nil {
				return err
			}
			list = rest
		}
		return nil
	}
	return e.insertRows(ctx, tx, m, list)
}

// splitLevel returns the entities of list whose references to m point to no
// other entity of list (they can go in now) and the rest.
func splitLevel(m *EntityMeta, list []*entry) (level, rest []*entry) {
	waiting := make(map[unsafe.Pointer]bool, len(list))
	for _, en := range list {
		waiting[en.ptr] = true
	}
	for _, en := range list {
		blocked := false
		for _, f := range m.Fields {
			if f.isRef && f.Ref == m {
				if h := (*refHeader)(f.ptr(en.ptr)); h.entity != nil && h.entity != en.ptr && waiting[h.entity] {
					blocked = true
				}
			}
		}
		if blocked {
			rest = append(rest, en)
		} else {
			level = append(level, en)
		}
	}
	return level, rest
}

// insertRows inserts entities of one type in multi-row INSERTs.
func (e *EntityManager) insertRows(ctx context.Context, tx *txState, m *EntityMeta, list []*entry) error {
	// Rows whose auto-increment key is set go in with it; the rest get one.
	var withKey, withoutKey []*entry
	for _, en := range list {
		if m.PK.AutoIncr && m.PK.isZero(m.PK.ptr(en.ptr)) {
			withoutKey = append(withoutKey, en)
		} else {
			withKey = append(withKey, en)
		}
	}
	for _, group := range [2][]*entry{withKey, withoutKey} {
		if len(group) == 0 {
			continue
		}
		generate := m.PK.AutoIncr && m.PK.isZero(m.PK.ptr(group[0].ptr))
		var fields []*FieldMeta
		for _, f := range m.Fields {
			if f == m.PK && generate {
				continue
			}
			fields = append(fields, f)
		}
		cols := make([]string, len(fields))
		for i, f := range fields {
			cols[i] = f.Column
		}
		per := e.rowsPerStatement(len(fields))
		for start := 0; start < len(group); {
			chunk := group[start:min(start+per, len(group))]
			n, err := e.insertChunk(ctx, tx, m, fields, cols, chunk, generate)
			if err != nil {
				return err
			}
			chunk, start = chunk[:n], start+n
			// The rows are visible inside the transaction from now on: a find
			// there must return these instances, not load second copies.
			for _, en := range chunk {
				if !en.inIM {
					e.addIM(en)
				}
			}
		}
	}
	return nil
}

// insertChunk inserts the first rows of chunk in one statement: all of them,
// or as many as stay under the database's packet limit (at least one). It
// returns how many it inserted.
func (e *EntityManager) insertChunk(ctx context.Context, tx *txState, m *EntityMeta, fields []*FieldMeta, cols []string, chunk []*entry, generate bool) (int, error) {
	d := e.orm.dialect
	if len(cols) == 0 && len(chunk) > 1 {
		// DEFAULT VALUES inserts one row: one statement per entity.
		for _, en := range chunk {
			if _, err := e.insertChunk(ctx, tx, m, fields, cols, []*entry{en}, generate); err != nil {
				return 0, err
			}
		}
		return len(chunk), nil
	}
	budget := 0
	if len(chunk) > 1 {
		var err error
		if budget, err = e.orm.packetBudget(ctx, tx.conn()); err != nil {
			return 0, err
		}
	}
	args := make([]any, 0, len(chunk)*len(fields))
	size := 0
	for r, en := range chunk {
		row, deferred := len(args), len(tx.deferred)
		for _, f := range fields {
			var v any
			var err error
			if f.isRef {
				v, err = e.bindRef(tx, en, f)
			} else {
				v, err = bindValue(f, en.ptr)
			}
			if err != nil {
				return 0, err
			}
			args = append(args, v)
		}
		if budget > 0 {
			if size += rowBytes(args[row:]); size > budget && r > 0 {
				// This row would take the statement over the packet limit: it
				// starts the next one. (A reference bindRef deferred for it is
				// bound again then.)
				tx.deferred = tx.deferred[:deferred]
				args, chunk = args[:row], chunk[:r]
				break
			}
		}
	}
	returning := generate && d.Has(qb.FeatureReturningInsert)
	sql, err := e.orm.insertSQL(m, cols, len(chunk), returning)
	if err != nil {
		return 0, err
	}
	if tx.inserted == nil {
		tx.inserted = map[unsafe.Pointer]bool{}
	}
	for _, en := range chunk {
		tx.inserted[en.ptr] = true
	}
	if !returning {
		res, err := e.orm.exec(ctx, tx.conn(), sql, args)
		if err != nil {
			return 0, translateError(err, m.Name)
		}
		if generate {
			// MySQL gives the first key of a multi-row INSERT; InnoDB hands out
			// consecutive keys to one simple INSERT (auto_increment_increment 1).
			first, err := res.LastInsertId()
			if err != nil {
				return 0, fmt.Errorf("em: insert %s: reading the generated key: %w", m.Name, err)
			}
			for i, en := range chunk {
				tx.zeroed = append(tx.zeroed, zeroRec{en, m.PK})
				if err := assignValue(m.PK.value(en.ptr), first+int64(i)); err != nil {
					return 0, err
				}
			}
		}
		return len(chunk), nil
	}
	rows, err := e.orm.query(ctx, tx.conn(), sql, args)
	if err != nil {
		return 0, translateError(err, m.Name)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		if i >= len(chunk) {
			return 0, fmt.Errorf("em: insert %s: the database returned more keys than rows", m.Name)
		}
		tx.zeroed = append(tx.zeroed, zeroRec{chunk[i], m.PK})
		if err := rows.Scan(m.PK.Addr(chunk[i].object())); err != nil {
			return 0, fmt.Errorf("em: insert %s: reading the generated key: %w", m.Name, err)
		}
		i++
	}
	if err := rows.Err(); err != nil {
		return 0, translateError(err, m.Name)
	}
	if i != len(chunk) {
		return 0, fmt.Errorf("em: insert %s: %d keys returned for %d rows", m.Name, i, len(chunk))
	}
	return len(chunk), nil
}

// updateAll writes the changed columns of updated entities, batching
// entities of one type that changed the same columns into one statement.
func (e *EntityManager) updateAll(ctx context.Context, tx *txState, updates []update) error {
	type group struct {
		m      *EntityMeta
		fields []*FieldMeta
		list   []*entry
	}
	var groups []*group
	index := map[string]*group{}
	for _, u := range updates {
		k := u.en.meta.Name + "\x01" + changedKey(u.fields)
		g := index[k]
		if g == nil {
			g = &group{m: u.en.meta, fields: u.fields}
			index[k] = g
			groups = append(groups, g)
		}
		g.list = append(g.list, u.en)
	}
	for _, g := range groups {
		// Parameters per row: the key, each value, and the key again in WHERE,
		// plus two for a version check.
		per := e.rowsPerStatement(2*len(g.fields) + 4)
		for start := 0; start < len(g.list); {
			chunk := g.list[start:min(start+per, len(g.list))]
			n, err := e.updateChunk(ctx, tx, g.m, g.fields, chunk)
			if err != nil {
				return err
			}
			start += n
		}
	}
	return nil
}

// updateFromValues writes a multi-row update as one join with a VALUES list
// (PostgreSQL, SQLite): UPDATE t SET c = v.c FROM (VALUES (…), …) AS v (pk, c)
// WHERE t.pk = v.pk. It scales linearly, where CASE WHEN makes the database
// compare every row with every branch. On PostgreSQL the first row carries
// typed CASTs, from which it types the whole list; SQLite names the columns
// of a VALUES list column1, column2, … itself.
func (e *EntityManager) updateFromValues(ctx context.Context, tx *txState, m *EntityMeta, fields []*FieldMeta, chunk []*entry) error {
	d := e.orm.dialect
	const alias = "mikro_v"
	const expected = "mikro_expected_version"
	cols := append([]*FieldMeta{m.PK}, fields...)
	if m.Version != nil {
		cols = append(cols, m.Version) // the version each row must still have
	}
	pg := d == qb.Postgres
	casts := make([]string, len(cols))
	names := make([]string, len(cols)) // how the join refers to each column of v
	for i, f := range cols {
		if pg {
			t, err := columnType(d, f)
			if err != nil {
				return err
			}
			casts[i] = castType(t)
			names[i] = f.Column
		} else {
			names[i] = "column" + strconv.Itoa(i+1)
		}
	}
	if m.Version != nil && pg {
		names[len(names)-1] = expected
	}
	var b strings.Builder
	args := make([]any, 0, len(chunk)*len(cols))
	b.WriteString("(VALUES ")
	for r, en := range chunk {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for i, f := range cols {
			if i > 0 {
				b.WriteString(", ")
			}
			var v any
			var err error
			if m.Version != nil && i == len(cols)-1 {
				v = f.value(en.snap).Interface()
			} else if v, err = bindValue(f, en.ptr); err != nil {
				return err
			}
			if r == 0 && pg {
				b.WriteString("CAST(? AS " + casts[i] + ")")
			} else {
				b.WriteByte('?')
			}
			args = append(args, v)
		}
		b.WriteByte(')')
	}
	b.WriteString(") AS " + quote(d, alias))
	if pg {
		quoted := make([]string, len(names))
		for i, n := range names {
			quoted[i] = quote(d, n)
		}
		b.WriteString(" (" + strings.Join(quoted, ", ") + ")")
	}
	q := d.Update(m.Table)
	for i, f := range fields {
		q = q.Set(f.Column, qb.Ident(alias, names[i+1]))
	}
	q = q.FromExpr(qb.Raw(b.String(), args...), "").
		Where(qb.Eq(qb.Ident(m.Table, m.PK.Column), qb.Ident(alias, names[0])))
	if m.Version != nil {
		q = q.Where(qb.Eq(qb.Ident(m.Table, m.Version.Column), qb.Ident(alias, names[len(names)-1])))
	}
	return e.execChecked(ctx, tx, m, chunk, q)
}

// updateChunk writes one UPDATE of the first rows of chunk: SET col = CASE
// pk WHEN … THEN … END for several rows (with a typed CAST on PostgreSQL,
// which cannot infer the type of a parameter in a CASE), or plain SETs for
// one row. It writes all the rows, or as many as stay under the database's
// packet limit (at least one), and returns how many.
func (e *EntityManager) updateChunk(ctx context.Context, tx *txState, m *EntityMeta, fields []*FieldMeta, chunk []*entry) (int, error) {
	d := e.orm.dialect
	if len(chunk) > 1 && (d == qb.Postgres || d == qb.SQLite) {
		return len(chunk), e.updateFromValues(ctx, tx, m, fields, chunk)
	}
	ver := m.Version
	q := d.Update(m.Table)
	if len(chunk) == 1 {
		for _, f := range fields {
			v, err := bindValue(f, chunk[0].ptr)
			if err != nil {
				return 0, err
			}
			q = q.Set(f.Column, v)
		}
		if ver == nil {
			q = q.Where(qb.Eq(m.PK.Column, m.PK.value(chunk[0].ptr).Interface()))
		} else {
			q = q.Where(versionConds(m, chunk))
		}
		return 1, e.execChecked(ctx, tx, m, chunk, q)
	}
	// The values row by row, so that the rows past the packet limit are
	// left for the next statement.
	budget, err := e.orm.packetBudget(ctx, tx.conn())
	if err != nil {
		return 0, err
	}
	vals := make([]any, 0, len(chunk)*len(fields))
	size := 0
	for r, en := range chunk {
		row := len(vals)
		for _, f := range fields {
			v, err := bindValue(f, en.ptr)
			if err != nil {
				return 0, err
			}
			vals = append(vals, v)
		}
		if budget > 0 {
			if size += rowBytes(vals[row:]); size > budget && r > 0 {
				vals, chunk = vals[:row], chunk[:r]
				break
			}
		}
	}
	pks := make([]any, len(chunk))
	for i, en := range chunk {
		pks[i] = m.PK.value(en.ptr).Interface()
	}
	for j, f := range fields {
		cast := ""
		if d == qb.Postgres {
			t, err := columnType(d, f)
			if err != nil {
				return 0, err
			}
			cast = castType(t)
		}
		var tmpl strings.Builder
		tmpl.Grow(12 + len(chunk)*(len(" WHEN ? THEN CAST(? AS )")+len(cast)))
		tmpl.WriteString("CASE ?")
		args := make([]any, 0, 1+2*len(chunk))
		args = append(args, qb.C(m.PK.Column))
		for i := range chunk {
			v := vals[i*len(fields)+j]
			if cast != "" {
				tmpl.WriteString(" WHEN ? THEN CAST(? AS ")
				tmpl.WriteString(cast)
				tmpl.WriteByte(')')
			} else {
				tmpl.WriteString(" WHEN ? THEN ?")
			}
			args = append(args, pks[i], v)
		}
		tmpl.WriteString(" END")
		q = q.Set(f.Column, qb.Raw(tmpl.String(), args...))
	}
	if ver == nil {
		q = q.Where(qb.In(m.PK.Column, pks))
	} else {
		// The version each entity was loaded with is in its snapshot.
		q = q.Where(versionConds(m, chunk))
	}
	return len(chunk), e.execChecked(ctx, tx, m, chunk, q)
}

// execChecked runs a write of chunk and, for a versioned entity, checks that
// it touched every row: one that did not had its version changed or was
// deleted, an *OptimisticLockError.
func (e *EntityManager) execChecked(ctx context.Context, tx *txState, m *EntityMeta, chunk []*entry, q interface {
	Build() (string, []any, error)
}) error {
	sql, args, err := q.Build()
	if err != nil {
		return err
	}
	res, err := e.orm.exec(ctx, tx.conn(), sql, args)
	if err != nil {
		return translateError(err, m.Name)
	}
	if m.Version != nil {
		if n, err := res.RowsAffected(); err != nil || int(n) != len(chunk) {
			// Which entity is stale can only be read once the batch's own
			// writes are undone (they give the rows it did change the very
			// version another writer may have set): Flush rolls back, then
			// resolveStale asks.
			return &staleBatch{m: m, chunk: slices.Clone(chunk)}
		}
	}
	return nil
}

// resolveStale replaces a *staleBatch in err by the *OptimisticLockError of
// the entity that really conflicted, read through q once the flush's own
// writes are undone. Any other error is returned as it is.
func (e *EntityManager) resolveStale(ctx context.Context, q querier, err error) error {
	var sb *staleBatch
	if !errors.As(err, &sb) {
		return err
	}
	if lerr := e.lockError(ctx, q, sb.m, sb.chunk); lerr != nil {
		return lerr
	}
	return err
}

// versionConds matches each entity of chunk by key and the version it was
// loaded with.
func versionConds(m *EntityMeta, chunk []*entry) qb.Expr {
	conds := make([]qb.Expr, len(chunk))
	for i, en := range chunk {
		conds[i] = qb.And(qb.Eq(m.PK.Column, m.PK.value(en.ptr).Interface()), qb.Eq(m.Version.Column, m.Version.value(en.snap).Interface()))
	}
	return qb.Or(conds...)
}

// bindRef is the value of reference f of en on insert. A reference to an
// entity of this flush that is not inserted yet (a cycle between new
// entities) is written as NULL and set by an UPDATE after every insert
// (writeDeferred); through a NOT NULL reference that is impossible, a
// *ValidationError.
func (e *EntityManager) bindRef(tx *txState, en *entry, f *FieldMeta) (any, error) {
	h := (*refHeader)(f.ptr(en.ptr))
	if h.entity != nil && !tx.inserted[h.entity] {
		if t, ok := e.recOK(h.entity); ok && t.state == stateNew && h.entity != en.ptr {
			if !f.Nullable {
				return nil, &ValidationError{Entity: en.meta.Name, Field: f.Name, Value: en.meta.PK.Get(en.object()),
					Reason: fmt.Sprintf("new entities refer to each other through this NOT NULL reference to %s; make one reference nullable, or flush one entity first", f.Ref.Name)}
			}
			tx.deferred = append(tx.deferred, deferredRef{en, f})
			return nil, nil
		}
	}
	return refBind(f, f.ptr(en.ptr)), nil
}

// writeDeferred sets the references bindRef wrote as NULL, now that every
// row of the flush is in.
func (e *EntityManager) writeDeferred(ctx context.Context, tx *txState) error {
	for _, dr := range tx.deferred {
		m := dr.en.meta
		sql, args, err := e.orm.dialect.Update(m.Table).Set(dr.f.Column, refBind(dr.f, dr.f.ptr(dr.en.ptr))).
			Where(qb.Eq(m.PK.Column, m.PK.value(dr.en.ptr).Interface())).Build()
		if err != nil {
			return err
		}
		if _, err := e.orm.exec(ctx, tx.conn(), sql, args); err != nil {
			return translateError(err, m.Name)
		}
	}
	tx.deferred = nil
	return nil
}

// writePivots deletes the pivot rows of removed many-to-many links and
// inserts those of added ones, batched per pivot table. Links of entities
// being deleted are left to the foreign keys' ON DELETE CASCADE.
func (e *EntityManager) writePivots(ctx context.Context, tx *txState, ops []pivotOp) error {
	type row struct{ owner, item any }
	adds := map[*RelationMeta][]row{}
	dels := map[*RelationMeta][]row{}
	var rels []*RelationMeta // in the order first met
	for _, op := range ops {
		if !slices.Contains(rels, op.rel) {
			rels = append(rels, op.rel)
		}
		owner := keyOf(op.rel.Owner.PK, op.owner.ptr).value(op.rel.Owner.PK)
		// An item this manager does not track but whose key is set is an
		// existing row (the cascade rule of Persist): its link is written by
		// key like a managed item's.
		pk := op.rel.Target.PK
		linkable := func(it unsafe.Pointer, en *entry) bool {
			if en == nil {
				return !pk.isZero(pk.ptr(it))
			}
			return en.state == stateManaged
		}
		for _, it := range op.h.removed {
			if linkable(it, e.rec(it)) {
				dels[op.rel] = append(dels[op.rel], row{owner, keyOf(pk, it).value(pk)})
			}
		}
		for _, it := range op.h.added {
			if en := e.rec(it); en != nil && en.state == stateNew || linkable(it, en) {
				adds[op.rel] = append(adds[op.rel], row{owner, keyOf(pk, it).value(pk)})
			}
		}
	}
	d := e.orm.dialect
	per := e.rowsPerStatement(2)
	for _, rel := range rels {
		list := dels[rel]
		for start := 0; start < len(list); start += per {
			chunk := list[start:min(start+per, len(list))]
			conds := make([]qb.Expr, len(chunk))
			for i, r := range chunk {
				conds[i] = qb.And(qb.Eq(rel.JoinColumn, r.owner), qb.Eq(rel.InverseColumn, r.item))
			}
			sql, args, err := d.DeleteFrom(rel.Pivot).Where(qb.Or(conds...)).Build()
			if err != nil {
				return err
			}
			if _, err := e.orm.exec(ctx, tx.conn(), sql, args); err != nil {
				return translateError(err, rel.Owner.Name)
			}
		}
		list = adds[rel]
		for start := 0; start < len(list); start += per {
			chunk := list[start:min(start+per, len(list))]
			q := d.InsertInto(rel.Pivot).Columns(rel.JoinColumn, rel.InverseColumn)
			for _, r := range chunk {
				q = q.Values(r.owner, r.item)
			}
			sql, args, err := q.Build()
			if err != nil {
				return err
			}
			if _, err := e.orm.exec(ctx, tx.conn(), sql, args); err != nil {
				return translateError(err, rel.Owner.Name)
			}
		}
	}
	return nil
}

// castType is the type name usable in CAST for a column type.
func castType(columnType string) string {
	switch columnType {
	case "BIGINT GENERATED BY DEFAULT AS IDENTITY":
		return "BIGINT"
	case "INTEGER GENERATED BY DEFAULT AS IDENTITY":
		return "INTEGER"
	case "SMALLINT GENERATED BY DEFAULT AS IDENTITY":
		return "SMALLINT"
	}
	return columnType
}

// lockError finds which entity of a batch failed its version check, read
// through q where the batch's writes are not visible (after its rollback).
func (e *EntityManager) lockError(ctx context.Context, q querier, m *EntityMeta, chunk []*entry) error {
	ver := m.Version
	for _, en := range chunk {
		pk := m.PK.value(en.ptr).Interface()
		expected := ver.value(en.snap).Interface()
		sql, args, err := e.orm.dialect.Select(ver.Column).From(m.Table).Where(qb.Eq(m.PK.Column, pk)).Build()
		if err != nil {
			return err
		}
		rows, err := e.orm.query(ctx, q, sql, args)
		if err != nil {
			return translateError(err, m.Name)
		}
		var actual any
		found := rows.Next()
		if found {
			err = rows.Scan(&actual)
		}
		rows.Close()
		if err != nil {
			return err
		}
		if !found {
			return &OptimisticLockError{Entity: m.Name, ID: pk, ExpectedVersion: expected}
		}
		if fmt.Sprint(normalizeScalar(actual)) != fmt.Sprint(expected) {
			return &OptimisticLockError{Entity: m.Name, ID: pk, ExpectedVersion: expected, ActualVersion: normalizeScalar(actual)}
		}
	}
	return &OptimisticLockError{Entity: m.Name, ExpectedVersion: "?", ActualVersion: "?"}
}

func normalizeScalar(v any) any {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v
}

// deleteAll deletes removed entities of one type: DELETE … WHERE pk IN (…),
// or with each version for a versioned entity.
func (e *EntityManager) deleteAll(ctx context.Context, tx *txState, m *EntityMeta, list []*entry) error {
	per := e.rowsPerStatement(2)
	for start := 0; start < len(list); start += per {
		chunk := list[start:min(start+per, len(list))]
		q := e.orm.dialect.DeleteFrom(m.Table)
		if m.Version == nil {
			pks := make([]any, len(chunk))
			for i, en := range chunk {
				pks[i] = m.PK.value(en.ptr).Interface()
			}
			q = q.Where(qb.In(m.PK.Column, pks))
		} else {
			q = q.Where(versionConds(m, chunk))
		}
		if err := e.execChecked(ctx, tx, m, chunk, q); err != nil {
			return err
		}
	}
	return nil
}
