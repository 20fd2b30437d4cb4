package em

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/mikrogo/mikro/qb"
)

// Populate loads the entities that entities (a slice of *T, or one *T, all
// managed by e) refer to along the given property paths, as FindOptions.Populate
// does for a find. Already loaded references cost nothing; managed ones are
// filled from the identity map without a query.
func (e *EntityManager) Populate(ctx context.Context, entities any, paths ...string) error {
	e, err := e.usable(ctx)
	if err != nil {
		return err
	}
	rv := reflect.ValueOf(entities)
	var ptrs []unsafe.Pointer
	var t reflect.Type
	switch {
	case rv.Kind() == reflect.Slice:
		for i := range rv.Len() {
			el := rv.Index(i)
			if el.Kind() != reflect.Pointer || el.IsNil() {
				continue
			}
			t = el.Type().Elem()
			ptrs = append(ptrs, el.UnsafePointer())
		}
	case rv.Kind() == reflect.Pointer && !rv.IsNil():
		t = rv.Type().Elem()
		ptrs = append(ptrs, rv.UnsafePointer())
	default:
		return &FilterError{Entity: "?", Reason: "Populate needs a *T or a []*T of an entity type"}
	}
	if len(ptrs) == 0 {
		return nil
	}
	m, err := e.orm.metaFor(t)
	if err != nil {
		return err
	}
	return e.populate(ctx, m, ptrs, paths, popOpts{})
}

// popOpts are the per-path conditions and orders of a populate; prefix is
// the path walked so far ("books." inside "books.reviews").
type popOpts struct {
	where  map[string]F
	order  map[string][]string
	limit  map[string]int
	prefix string
}

func (o popOpts) at(prop string) (F, []string, int, popOpts) {
	path := o.prefix + prop
	return o.where[path], o.order[path], o.limit[path], popOpts{where: o.where, order: o.order, limit: o.limit, prefix: path + "."}
}

// checkPaths returns a *FilterError for a populate path, or a path keying
// the per-path options, that names no reference or collection: at the
// start, so that the answer does not depend on the data (a wrong second
// step went unnoticed when the first found nothing).
func checkPaths(m *EntityMeta, paths []string, o popOpts) error {
	for _, p := range paths {
		if err := checkPath(m, p); err != nil {
			return err
		}
	}
	for p := range o.where {
		if err := checkPath(m, p); err != nil {
			return err
		}
	}
	for p := range o.order {
		if err := checkPath(m, p); err != nil {
			return err
		}
	}
	for p := range o.limit {
		if err := checkPath(m, p); err != nil {
			return err
		}
	}
	return nil
}

// checkPath walks one dotted populate path from m.
func checkPath(m *EntityMeta, path string) error {
	for path != "" {
		head, rest, _ := strings.Cut(path, ".")
		if head == "*" {
			return nil
		}
		var next *EntityMeta
		if rel := relationNamed(m, head); rel != nil {
			next = rel.Target
		} else if inv := inverseNamed(m, head); inv != nil {
			next = inv.Target
		} else if f := m.props[head]; f != nil && f.isRef {
			next = f.Ref
		} else {
			return &FilterError{Entity: m.Name, Property: head, Reason: "no such reference or collection to populate"}
		}
		m, path = next, rest
	}
	return nil
}

// populate resolves each path on the entities at ptrs (all of type m).
func (e *EntityManager) populate(ctx context.Context, m *EntityMeta, ptrs []unsafe.Pointer, paths []string, opts popOpts) error {
	if opts.prefix == "" {
		if err := checkPaths(m, paths, opts); err != nil {
			return err
		}
	}
	// Group the paths by their first property: "author", "author.publisher"
	// load authors once and go on with "publisher" on them.
	// A step is a reference field or a collection.
	type step struct {
		f   *FieldMeta
		rel *RelationMeta
		inv *RelationMeta // the inverse side of a one-to-one
	}
	next := map[step][]string{}
	var order []step
	add := func(s step, rest string) {
		if _, seen := next[s]; !seen {
			order = append(order, s)
			next[s] = nil
		}
		if rest != "" {
			next[s] = append(next[s], rest)
		}
	}
	for _, path := range paths {
		head, rest, _ := strings.Cut(path, ".")
		if head == "*" {
			for _, f := range m.Fields {
				if f.isRef {
					add(step{f: f}, rest)
				}
			}
			for _, rel := range m.Relations {
				add(step{rel: rel}, rest)
			}
			for _, inv := range m.Inverses {
				add(step{inv: inv}, rest)
			}
			continue
		}
		if rel := relationNamed(m, head); rel != nil {
			add(step{rel: rel}, rest)
			continue
		}
		if inv := inverseNamed(m, head); inv != nil {
			add(step{inv: inv}, rest)
			continue
		}
		f := m.props[head]
		if f == nil || !f.isRef {
			return &FilterError{Entity: m.Name, Property: head, Reason: "no such reference or collection to populate"}
		}
		add(step{f: f}, rest)
	}
	for _, s := range order {
		var (
			targets []unsafe.Pointer
			target  *EntityMeta
			err     error
			sub     popOpts
		)
		switch {
		case s.inv != nil:
			_, _, _, sub = opts.at(s.inv.Property)
			targets, err = e.loadInverses(ctx, s.inv, ptrs)
			target = s.inv.Target
		case s.rel != nil:
			where, orderBy, limit, inner := opts.at(s.rel.Property)
			sub, target = inner, s.rel.Target
			if s.rel.Kind == ManyToMany {
				targets, err = e.loadManyToMany(ctx, s.rel, ptrs, where, orderBy, limit)
			} else {
				targets, err = e.loadCollections(ctx, s.rel, ptrs, where, orderBy, limit)
			}
		default:
			_, _, _, sub = opts.at(s.f.Property)
			targets, err = e.loadRefs(ctx, s.f, ptrs)
			target = s.f.Ref
		}
		if err != nil {
			return err
		}
		if len(next[s]) > 0 && len(targets) > 0 {
			if err := e.populate(ctx, target, targets, next[s], sub); err != nil {
				return err
			}
		}
	}
	return nil
}

// inListSize is how many keys one IN (…) of a populate query carries: as
// many as the database's parameter limit allows (the batch size is for
// writes), so that 70,000 parents take two queries on PostgreSQL, not 234.
func (e *EntityManager) inListSize() int {
	if e.orm.backend != nil {
		return backendInList
	}
	return max(e.orm.dialect.MaxParams()-16, 1)
}

// backendInList is how many keys one $in of a populate carries on a
// backend: well under MongoDB's 16 MB document limit.
const backendInList = 10000

// inverseNamed returns the inverse one-to-one side of m called name, or nil.
func inverseNamed(m *EntityMeta, name string) *RelationMeta {
	for _, r := range m.Inverses {
		if r.Property == name || r.Name == name {
			return r
		}
	}
	return nil
}

func relationNamed(m *EntityMeta, name string) *RelationMeta {
	for _, r := range m.Relations {
		if r.Property == name || r.Name == name {
			return r
		}
	}
	return nil
}

// ownersToLoad returns the owners at ptrs whose collection rel is not
// initialized, by key, and their keys in order.
func ownersToLoad(rel *RelationMeta, ptrs []unsafe.Pointer) (map[pkKey]unsafe.Pointer, []any) {
	owners := map[pkKey]unsafe.Pointer{}
	var keys []any
	for _, p := range ptrs {
		h := (*collHeader)(unsafe.Add(p, rel.offset))
		if h.owner == nil {
			attachCollections(rel.Owner, p, false)
		}
		if h.initialized {
			continue
		}
		k := keyOf(rel.Owner.PK, p)
		if _, dup := owners[k]; !dup {
			owners[k] = p
			keys = append(keys, k.value(rel.Owner.PK))
		}
	}
	return owners, keys
}

// markLoaded marks the collection rel of every owner at ptrs initialized
// and returns all their items.
func markLoaded(rel *RelationMeta, ptrs []unsafe.Pointer) []unsafe.Pointer {
	var out []unsafe.Pointer
	for _, p := range ptrs {
		h := (*collHeader)(unsafe.Add(p, rel.offset))
		h.initialized = true
		out = append(out, h.items...)
	}
	return out
}

// loadManyToMany initializes the many-to-many collection rel of every owner
// at ptrs: one query reads the pivot rows of the owners, one more the items
// not managed yet (per chunk of keys).
func (e *EntityManager) loadManyToMany(ctx context.Context, rel *RelationMeta, ptrs []unsafe.Pointer, where F, orderBy []string, limit int) ([]unsafe.Pointer, error) {
	owners, keys := ownersToLoad(rel, ptrs)
	ls := &m2mLinks{rel: rel, seen: map[pkKey]bool{}}
	per := e.inListSize()
	for start := 0; start < len(keys); start += per {
		chunk := keys[start:min(start+per, len(keys))]
		var err error
		if e.orm.backend != nil {
			err = e.backendLinks(ctx, ls, chunk)
		} else {
			err = e.sqlLinks(ctx, ls, chunk, where, orderBy, limit)
		}
		if err != nil {
			return nil, err
		}
	}
	// The items: those not managed yet loaded by key; with a condition or an
	// order, all of them, in that order, keeping the matching ones.
	// (With a per-owner limit the links are already filtered and ordered,
	// except on a backend, where the items are read in order and the first
	// limit of each owner kept.)
	backendLimit := limit > 0 && e.orm.backend != nil
	if backendLimit && len(orderBy) == 0 {
		orderBy = []string{rel.Target.PK.Property}
	}
	filtered := (len(where) > 0 || len(orderBy) > 0) && (limit == 0 || backendLimit)
	ordered, err := e.loadLinkedItems(ctx, ls, filtered, where, orderBy)
	if err != nil {
		return nil, err
	}
	keep := 0
	if backendLimit {
		keep = limit
	}
	e.mu.Lock()
	ls.fill(e, owners, ordered, filtered, keep)
	e.mu.Unlock()
	return markLoaded(rel, ptrs), nil
}

// m2mLinks are the pivot rows read for loadManyToMany: (owner, item) key
// pairs in pivot order, and the distinct item keys.
type m2mLinks struct {
	rel      *RelationMeta
	links    []m2mLink
	itemKeys []any
	seen     map[pkKey]bool
}

type m2mLink struct{ owner, item pkKey }

// add notes the link from the owner key a to the item key b; a pair that
// is not a key of its entity is skipped.
func (ls *m2mLinks) add(a, b any) {
	ownerKey, good1 := keyFromValue(ls.rel.Owner.PK, a)
	ik, good2 := keyFromValue(ls.rel.Target.PK, b)
	if !good1 || !good2 {
		return
	}
	ls.links = append(ls.links, m2mLink{ownerKey, ik})
	if !ls.seen[ik] {
		ls.seen[ik] = true
		ls.itemKeys = append(ls.itemKeys, ik.value(ls.rel.Target.PK))
	}
}

// pivotSides returns the owning side of rel and the pivot's columns of
// rel's owner (mine) and of its items (theirs).
func pivotSides(rel *RelationMeta) (own *RelationMeta, mine, theirs string) {
	if !rel.Owning {
		return rel.Inverse, rel.Inverse.InverseColumn, rel.Inverse.JoinColumn
	}
	return rel, rel.JoinColumn, rel.InverseColumn
}

// backendLinks reads the links of the owners keyed chunk from a backend.
func (e *EntityManager) backendLinks(ctx context.Context, ls *m2mLinks, chunk []any) error {
	rel := ls.rel
	own, _, _ := pivotSides(rel)
	start := time.Now()
	pairs, err := e.orm.backend.Links(e.backendCtx(ctx), own, chunk, !rel.Owning)
	e.orm.logBackend(ctx, "SELECT FROM "+own.Pivot, start, err)
	if err != nil {
		return err
	}
	for _, p := range pairs {
		a, b := p[0], p[1] // (owning side's owner, its item)
		if !rel.Owning {
			a, b = b, a
		}
		ls.add(a, b)
	}
	return nil
}

// sqlLinks reads the pivot rows of the owners keyed chunk; with a limit,
// only the first limit of each owner, filtered by where and ordered by
// orderBy (topLinksPerOwner).
func (e *EntityManager) sqlLinks(ctx context.Context, ls *m2mLinks, chunk []any, where F, orderBy []string, limit int) error {
	rel, d := ls.rel, e.orm.dialect
	own, mine, theirs := pivotSides(rel)
	lq := d.Select(mine, theirs).From(own.Pivot).Where(qb.In(mine, chunk)).OrderBy(mine, theirs)
	if limit > 0 {
		var err error
		if lq, err = topLinksPerOwner(d, rel, own.Pivot, mine, theirs, chunk, where, orderBy, limit); err != nil {
			return err
		}
	}
	return e.rawRows(ctx, rel.Owner, lq, func(scan func(...any) error) error {
		var a, b refHolder
		if err := scan(&a, &b); err != nil {
			return err
		}
		ls.add(a.v, b.v)
		return nil
	})
}

// loadLinkedItems finds the linked items that are not managed yet (all of
// them when filtered: where and orderBy apply) and returns, when filtered,
// the matching ones in order.
func (e *EntityManager) loadLinkedItems(ctx context.Context, ls *m2mLinks, filtered bool, where F, orderBy []string) ([]unsafe.Pointer, error) {
	rel := ls.rel
	var load []any
	e.mu.Lock()
	for _, k := range ls.itemKeys {
		kk, _ := keyFromValue(rel.Target.PK, k)
		if filtered || e.lookup(rel.Target, kk) == nil {
			load = append(load, k)
		}
	}
	e.mu.Unlock()
	var ordered []unsafe.Pointer
	per := e.inListSize()
	for start := 0; start < len(load); start += per {
		chunk := load[start:min(start+per, len(load))]
		filter := F{rel.Target.PK.Property: F{"$in": chunk}}
		if len(where) > 0 {
			filter = F{"$and": []F{filter, where}}
		}
		err := e.find(ctx, rel.Target.Type, filter, FindOptions{OrderBy: orderBy}, func(obj any) { ordered = append(ordered, entityPtr(obj)) })
		if err != nil {
			return nil, err
		}
	}
	return ordered, nil
}

// fill puts the items into their owners' collections: when filtered, the
// ordered items that matched, else every managed item in pivot order;
// with keep > 0, at most keep per owner. e.mu is held.
func (ls *m2mLinks) fill(e *EntityManager, owners map[pkKey]unsafe.Pointer, ordered []unsafe.Pointer, filtered bool, keep int) {
	rel := ls.rel
	add := func(owner, it unsafe.Pointer) {
		h := (*collHeader)(unsafe.Add(owner, rel.offset))
		if keep > 0 && len(h.items) >= keep {
			return
		}
		if !slices.Contains(h.items, it) && !slices.Contains(h.removed, it) {
			h.items = append(h.items, it)
		}
	}
	if filtered {
		ownersOf := make(map[pkKey][]pkKey, len(ls.itemKeys)) // item → its owners, in pivot order
		for _, l := range ls.links {
			ownersOf[l.item] = append(ownersOf[l.item], l.owner)
		}
		for _, it := range ordered {
			for _, k := range ownersOf[keyOf(rel.Target.PK, it)] {
				if owner := owners[k]; owner != nil {
					add(owner, it)
				}
			}
		}
		return
	}
	for _, l := range ls.links {
		owner := owners[l.owner]
		en := e.lookup(rel.Target, l.item)
		if owner == nil || en == nil || en.state == stateRemoved {
			continue
		}
		add(owner, en.ptr)
	}
}

// topLinksPerOwner selects the first limit (owner, item) links of each
// owner in chunk, items filtered by where and ordered by orderBy (by key
// without one): ROW_NUMBER() OVER (PARTITION BY the owner column …) over
// the pivot joined to the items.
func topLinksPerOwner(d *qb.Dialect, rel *RelationMeta, pivot, mine, theirs string, chunk []any, where F, orderBy []string, limit int) (qb.SelectQuery, error) {
	t := rel.Target
	cond, err := fscope{d: d, m: t, alias: "t"}.filter(where)
	if err != nil {
		return qb.SelectQuery{}, err
	}
	over, args, err := windowOrder(t, "t.", orderBy)
	if err != nil {
		return qb.SelectQuery{}, err
	}
	args = append([]any{qb.C("p." + mine)}, args...)
	inner := d.Select(qb.As(qb.C("p."+mine), "mikro_owner"), qb.As(qb.C("t."+t.PK.Column), "mikro_item"),
		qb.As(qb.Raw("ROW_NUMBER() OVER (PARTITION BY ? ORDER BY "+over+")", args...), "mikro_rn")).
		From(pivot+" p").Join(t.Table+" t", qb.Eq("t."+t.PK.Column, qb.C("p."+theirs))).Where(qb.In("p."+mine, chunk))
	if cond != nil {
		inner = inner.Where(cond)
	}
	return d.Select("mikro_owner", "mikro_item").FromExpr(inner, "mikro_w").Where(qb.Lte("mikro_rn", limit)).OrderBy("mikro_owner", "mikro_rn"), nil
}

// windowOrder is the ORDER BY of a window over t's columns (prefixed by
// qual), with an argument per column; the key when orderBy is empty.
func windowOrder(t *EntityMeta, qual string, orderBy []string) (string, []any, error) {
	if len(orderBy) == 0 {
		return "?", []any{qb.C(qual + t.PK.Column)}, nil
	}
	var over strings.Builder
	var args []any
	for i, ob := range orderBy {
		prop, dir, _ := strings.Cut(strings.TrimSpace(ob), " ")
		f := t.props[prop]
		if f == nil {
			return "", nil, &FilterError{Entity: t.Name, Property: prop, Reason: "no such property (in PopulateOrderBy)"}
		}
		if i > 0 {
			over.WriteString(", ")
		}
		over.WriteString("?")
		args = append(args, qb.C(qual+f.Column))
		switch strings.ToUpper(strings.TrimSpace(dir)) {
		case "", "ASC":
		case "DESC":
			over.WriteString(" DESC")
		default:
			return "", nil, &FilterError{Entity: t.Name, Property: prop, Reason: fmt.Sprintf("order %q is not ASC or DESC", dir)}
		}
	}
	return over.String(), args, nil
}

// findTopPerOwner loads, for each owner, its first limit items in orderBy:
// ROW_NUMBER() OVER (PARTITION BY the foreign key ORDER BY …) in a subquery,
// which PostgreSQL, MySQL 8, MariaDB and SQLite all have.
func (e *EntityManager) findTopPerOwner(ctx context.Context, rel *RelationMeta, filter F, orderBy []string, limit int, each func(any)) error {
	d := e.orm.dialect
	t := rel.Target
	where, err := compileFilter(d, t, filter)
	if err != nil {
		return err
	}
	over, oargs, err := windowOrder(t, "", orderBy)
	if err != nil {
		return err
	}
	args := append([]any{qb.Ident(rel.MappedBy.Column)}, oargs...)
	cols := make([]any, len(t.Fields))
	for i, f := range t.Fields {
		cols[i] = f.Column
	}
	inner := d.Select(cols...).Columns(qb.As(qb.Raw("ROW_NUMBER() OVER (PARTITION BY ? ORDER BY "+over+")", args...), "mikro_rn")).From(t.Table).Where(where)
	outer := d.Select(cols...).FromExpr(inner, "mikro_w").Where(qb.Lte("mikro_rn", limit)).OrderBy(rel.MappedBy.Column, "mikro_rn")
	query, qargs, err := outer.Build()
	if err != nil {
		return err
	}
	return e.load(ctx, t, query, qargs, each)
}

// loadCollections initializes the collection rel of every owner at ptrs with
// one query per chunk of owners (select-in), ordered by the items' keys. An
// initialized collection is left as it is. It returns all the items.
func (e *EntityManager) loadCollections(ctx context.Context, rel *RelationMeta, ptrs []unsafe.Pointer, where F, orderBy []string, limit int) ([]unsafe.Pointer, error) {
	if len(orderBy) == 0 {
		orderBy = []string{rel.Target.PK.Property}
	}
	owners, keys := ownersToLoad(rel, ptrs)
	per := e.inListSize()
	for start := 0; start < len(keys); start += per {
		chunk := keys[start:min(start+per, len(keys))]
		var items []unsafe.Pointer
		filter := F{rel.MappedBy.Property: F{"$in": chunk}}
		if len(where) > 0 {
			filter = F{"$and": []F{filter, where}}
		}
		collect := func(obj any) { items = append(items, entityPtr(obj)) }
		var err error
		switch {
		case limit > 0 && e.orm.backend != nil:
			// No window functions: read the owners' items in order and keep
			// the first limit of each.
			perOwner := map[pkKey]int{}
			err = e.find(ctx, rel.Target.Type, filter, FindOptions{OrderBy: orderBy}, func(obj any) {
				if k, ok := refKey(rel.MappedBy, rel.MappedBy.ptr(entityPtr(obj))); ok {
					if perOwner[k] < limit {
						perOwner[k]++
						collect(obj)
					}
				}
			})
		case limit > 0:
			err = e.findTopPerOwner(ctx, rel, filter, orderBy, limit, collect)
		default:
			err = e.find(ctx, rel.Target.Type, filter, FindOptions{OrderBy: orderBy}, collect)
		}
		if err != nil {
			return nil, err
		}
		e.mu.Lock()
		for _, it := range items {
			k, ok := refKey(rel.MappedBy, rel.MappedBy.ptr(it))
			if !ok {
				continue
			}
			owner := owners[k]
			if owner == nil {
				continue // it moved to another owner in memory
			}
			h := (*collHeader)(unsafe.Add(owner, rel.offset))
			if !slices.Contains(h.items, it) && !slices.Contains(h.removed, it) {
				h.items = append(h.items, it)
			}
			rh := (*refHeader)(rel.MappedBy.ptr(it))
			if rh.entity == nil {
				rh.entity, rh.id = owner, nil // the inverse side holds the owner too
			}
		}
		e.mu.Unlock()
	}
	return markLoaded(rel, ptrs), nil
}

// loadRefs fills the reference field f of every entity at ptrs: from the
// identity map where it can, with one query per chunk of keys otherwise. It
// returns the referenced entities, once each.
func (e *EntityManager) loadRefs(ctx context.Context, f *FieldMeta, ptrs []unsafe.Pointer) ([]unsafe.Pointer, error) {
	target := f.Ref
	fill := func(done bool) (missing []any) {
		e.mu.Lock()
		defer e.mu.Unlock()
		seen := map[pkKey]bool{}
		for _, p := range ptrs {
			h := (*refHeader)(f.ptr(p))
			if h.entity != nil || h.id == nil {
				continue
			}
			k, ok := keyFromValue(target.PK, h.id)
			if !ok {
				continue
			}
			// A partial entity is loaded again, which completes it.
			if en := e.lookup(target, k); en != nil && en.state != stateRemoved && (!en.partial || done) {
				h.entity = en.ptr
			} else if !seen[k] {
				seen[k] = true
				missing = append(missing, h.id)
			}
		}
		return missing
	}
	missing := fill(false)
	per := e.inListSize()
	for start := 0; start < len(missing); start += per {
		chunk := missing[start:min(start+per, len(missing))]
		if err := e.find(ctx, target.Type, F{target.PK.Property: F{"$in": chunk}}, FindOptions{}, func(any) {}); err != nil {
			return nil, err
		}
	}
	if len(missing) > 0 {
		fill(true) // now from the identity map; rows that are gone stay unloaded
	}
	var out []unsafe.Pointer
	seen := map[unsafe.Pointer]bool{}
	for _, p := range ptrs {
		if h := (*refHeader)(f.ptr(p)); h.entity != nil && !seen[h.entity] {
			seen[h.entity] = true
			out = append(out, h.entity)
		}
	}
	return out, nil
}

// loadInverses fills the inverse one-to-one side rel of every owner at ptrs
// that has not loaded it, with one query per chunk of owners (the other
// entity's foreign key IN the owners' keys); an owner without a row gets an
// unset reference, now loaded. It returns the related entities, once each.
func (e *EntityManager) loadInverses(ctx context.Context, rel *RelationMeta, ptrs []unsafe.Pointer) ([]unsafe.Pointer, error) {
	owners := map[pkKey]unsafe.Pointer{}
	var keys []any
	e.mu.Lock()
	for _, p := range ptrs {
		if _, unloaded := (*refHeader)(unsafe.Add(p, rel.offset)).id.(inverseMark); !unloaded {
			continue
		}
		k := keyOf(rel.Owner.PK, p)
		if _, dup := owners[k]; !dup {
			owners[k] = p
			keys = append(keys, k.value(rel.Owner.PK))
		}
	}
	e.mu.Unlock()
	var found []unsafe.Pointer
	per := e.inListSize()
	for start := 0; start < len(keys); start += per {
		chunk := keys[start:min(start+per, len(keys))]
		if err := e.find(ctx, rel.Target.Type, F{rel.MappedBy.Property: F{"$in": chunk}}, FindOptions{}, func(obj any) { found = append(found, entityPtr(obj)) }); err != nil {
			return nil, err
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range found {
		k, ok := refKey(rel.MappedBy, rel.MappedBy.ptr(t))
		if owner := owners[k]; ok && owner != nil {
			bindInverse(rel, owner, t)
		}
	}
	for _, p := range owners {
		if h := (*refHeader)(unsafe.Add(p, rel.offset)); isInverseMark(h.id) {
			h.id = nil // no row refers to this owner
		}
	}
	var out []unsafe.Pointer
	seen := map[unsafe.Pointer]bool{}
	for _, p := range ptrs {
		if h := (*refHeader)(unsafe.Add(p, rel.offset)); h.entity != nil && !seen[h.entity] {
			seen[h.entity] = true
			out = append(out, h.entity)
		}
	}
	return out, nil
}
