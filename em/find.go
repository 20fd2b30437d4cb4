package em

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/mikrogo/mikro/em/dbconn"
	"github.com/mikrogo/mikro/qb"
)

// LockMode is a pessimistic lock taken by a find. It needs a transaction.
type LockMode uint8

// Lock modes (MikroORM's names).
const (
	LockNone                    LockMode = iota
	LockPessimisticRead                  // FOR SHARE
	LockPessimisticWrite                 // FOR UPDATE
	LockPessimisticPartialWrite          // FOR UPDATE SKIP LOCKED
	LockPessimisticWriteOrFail           // FOR UPDATE NOWAIT
	LockPessimisticPartialRead           // FOR SHARE SKIP LOCKED
	LockPessimisticReadOrFail            // FOR SHARE NOWAIT
)

// FindOptions refine a find. The zero value finds every match, in no
// particular order. A find takes at most one FindOptions value: its
// parameter is variadic only so that a call without options can leave it
// out, and more than one is a *ValidationError.
type FindOptions struct {
	// OrderBy lists properties, each optionally followed by ASC or DESC and
	// NULLS FIRST or NULLS LAST: "name", "createdAt DESC".
	OrderBy []string
	Limit   int // 0: no limit
	Offset  int
	// Fields loads only these properties (the primary key and the version
	// field always). A partially loaded entity is completed, into the same
	// instance, by a later full find or FindOne by key; until then a flush
	// writes only the fields that changed, and a field it did not load is
	// never taken as changed or cleared.
	Fields []string
	// Lock takes a pessimistic lock on the rows (inside a transaction only;
	// ErrNoTransaction otherwise).
	Lock LockMode
	// Refresh overwrites already managed entities with the rows read.
	Refresh bool
	// Populate loads referenced entities by property path: "author",
	// "author.publisher", or "*" for every reference of the entity. Each
	// level is one query with IN (…) over the keys not yet managed
	// (select-in), chunked to the parameter limit.
	Populate []string
	// PopulateWhere restricts the items loaded into populated collections,
	// per path ("books": em.F{"published": true}); such collections hold
	// only the matching items. References are loaded regardless.
	PopulateWhere map[string]F
	// PopulateOrderBy orders the items of populated collections, per path
	// ("books": {"year DESC"}); by primary key otherwise.
	PopulateOrderBy map[string][]string
	// Strategy is how Populate loads relations: SelectIn (the default, or
	// Config.PopulateStrategy) or Joined.
	Strategy PopulateStrategy
	// PopulateLimit keeps at most n items per owner in populated collections
	// (one-to-many and many-to-many), per path ("books": 3 with PopulateOrderBy "books":
	// {"year DESC"} gives each author's three newest), using a window
	// function; such collections hold only those items.
	PopulateLimit map[string]int
}

// oneOpt returns the options of a call that takes them as a variadic
// parameter (so that a call without options can leave them out): the zero
// value for none, the one given, or, for more, a *ValidationError naming
// the call, op with the entity type t in place of its %s. Several values
// are refused rather than merged, since which setting should win is not
// obvious.
func oneOpt(op string, t reflect.Type, opts []FindOptions) (FindOptions, error) {
	switch len(opts) {
	case 0:
		return FindOptions{}, nil
	case 1:
		return opts[0], nil
	}
	return FindOptions{}, &ValidationError{Op: fmt.Sprintf(op, t.Name()), Entity: t.Name(), Field: "opts", Value: len(opts),
		Reason: fmt.Sprintf("%d FindOptions values given, but it takes at most one: merge them into one FindOptions value", len(opts))}
}

// Find returns the entities of type T matching filter (an F, a primary key
// value, or nil for all). Each row becomes the managed instance of its
// primary key: an entity already in the identity map is returned as it is
// (with any unflushed changes), not overwritten, unless opts.Refresh. It
// returns a *FilterError for an unknown property or operator (no query runs),
// ErrUnknownEntity for an unregistered T, a *ValidationError for more than
// one opts value, or the database error.
func Find[T any](ctx context.Context, e *EntityManager, filter any, opts ...FindOptions) ([]*T, error) {
	return findList[T](ctx, e, filter, "Find[%s]", opts)
}

// findList is Find, its opts checked for op (see oneOpt).
func findList[T any](ctx context.Context, e *EntityManager, filter any, op string, opts []FindOptions) ([]*T, error) {
	o, err := oneOpt(op, reflect.TypeFor[T](), opts)
	if err != nil {
		return nil, err
	}
	var out []*T
	if o.Limit > 0 {
		out = make([]*T, 0, min(o.Limit, 1024))
	}
	err = e.find(ctx, reflect.TypeFor[T](), filter, o, func(obj any) { out = append(out, obj.(*T)) })
	if len(out) == 0 {
		out = nil // as without the capacity
	}
	return out, err
}

// FindAll returns every entity of type T (ordered and limited by opts). It
// returns the errors of Find.
func FindAll[T any](ctx context.Context, e *EntityManager, opts ...FindOptions) ([]*T, error) {
	return findList[T](ctx, e, nil, "FindAll[%s]", opts)
}

// FindOne returns the first entity matching filter, or nil (and no error)
// when none does. A filter that is a primary key (or {pk: value}) of an
// entity already managed is answered from the identity map without a query.
// It returns the errors of Find.
func FindOne[T any](ctx context.Context, e *EntityManager, filter any, opts ...FindOptions) (*T, error) {
	return findOne[T](ctx, e, filter, "FindOne[%s]", opts)
}

// findOne is FindOne, its opts checked for op (see oneOpt).
func findOne[T any](ctx context.Context, e *EntityManager, filter any, op string, opts []FindOptions) (*T, error) {
	o, err := oneOpt(op, reflect.TypeFor[T](), opts)
	if err != nil {
		return nil, err
	}
	e, err = e.usable(ctx)
	if err != nil {
		return nil, err
	}
	m, err := e.orm.metaFor(reflect.TypeFor[T]())
	if err != nil {
		return nil, err
	}
	strategy := o.Strategy
	if strategy == 0 {
		strategy = e.orm.cfg.PopulateStrategy
	}
	plain := !o.Refresh && o.Lock == LockNone && len(o.Fields) == 0 && len(o.OrderBy) == 0 && o.Offset == 0 &&
		(len(o.Populate) == 0 || strategy != Joined)
	if plain {
		en, ok, pk := e.fromIdentityMap(m, filter)
		var out *T
		switch {
		case ok && en == nil:
			return nil, nil
		case ok:
			out = en.object().(*T)
		case pk != nil && e.orm.backend == nil:
			// A key not yet managed: the SELECT by key was built at Open.
			if err := e.load(ctx, m, m.byPKSQL, []any{pk}, func(obj any) { out = obj.(*T) }); err != nil {
				return nil, err
			}
		}
		if ok || (pk != nil && e.orm.backend == nil) {
			if out != nil && len(o.Populate) > 0 {
				err := e.populate(ctx, m, []unsafe.Pointer{unsafe.Pointer(out)}, o.Populate, popOpts{where: o.PopulateWhere, order: o.PopulateOrderBy, limit: o.PopulateLimit})
				if err != nil {
					return nil, err
				}
			}
			return out, nil
		}
	}
	o.Limit = 1
	var out *T
	err = e.find(ctx, reflect.TypeFor[T](), filter, o, func(obj any) { out = obj.(*T) })
	return out, err
}

// FindOneOrFail is FindOne, with a *NotFoundError (errors.Is ErrNotFound)
// instead of nil when nothing matches; its other errors are FindOne's.
func FindOneOrFail[T any](ctx context.Context, e *EntityManager, filter any, opts ...FindOptions) (*T, error) {
	return findOneOrFail[T](ctx, e, filter, "FindOneOrFail[%s]", opts)
}

// findOneOrFail is FindOneOrFail, its opts checked for op (see oneOpt).
func findOneOrFail[T any](ctx context.Context, e *EntityManager, filter any, op string, opts []FindOptions) (*T, error) {
	v, err := findOne[T](ctx, e, filter, op, opts)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, &NotFoundError{Entity: reflect.TypeFor[T]().Name(), Filter: filter}
	}
	return v, nil
}

// FindAndCount returns one page of matches (opts.Limit, opts.Offset) and the
// number of all matches. It returns the errors of Find.
func FindAndCount[T any](ctx context.Context, e *EntityManager, filter any, opts ...FindOptions) ([]*T, int64, error) {
	return findAndCount[T](ctx, e, filter, "FindAndCount[%s]", opts)
}

// findAndCount is FindAndCount, its opts checked for op (see oneOpt).
func findAndCount[T any](ctx context.Context, e *EntityManager, filter any, op string, opts []FindOptions) ([]*T, int64, error) {
	list, err := findList[T](ctx, e, filter, op, opts)
	if err != nil {
		return nil, 0, err
	}
	n, err := Count[T](ctx, e, filter)
	return list, n, err
}

// Count returns the number of entities of type T matching filter.
func Count[T any](ctx context.Context, e *EntityManager, filter any) (int64, error) {
	if u, err := e.usable(ctx); err == nil && u.orm.backend != nil {
		m, err := u.orm.metaFor(reflect.TypeFor[T]())
		if err != nil {
			return 0, err
		}
		return u.countBackend(ctx, m, filter)
	}
	e, m, where, err := scope[T](ctx, e, filter)
	if err != nil {
		return 0, err
	}
	q := e.orm.dialect.Select(qb.Raw("count(*)")).From(m.Table)
	if where != nil {
		q = q.Where(where)
	}
	var n int64
	err = e.rawRows(ctx, m, q, func(scan func(...any) error) error { return scan(&n) })
	return n, err
}

// scope resolves the manager, T's metadata and the compiled filter: the
// common start of the calls that query T with a filter.
func scope[T any](ctx context.Context, e *EntityManager, filter any) (*EntityManager, *EntityMeta, qb.Expr, error) {
	e, err := e.usable(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	m, err := e.orm.metaFor(reflect.TypeFor[T]())
	if err != nil {
		return nil, nil, nil, err
	}
	if e.orm.backend != nil {
		return nil, nil, nil, e.orm.unsupported("a SQL statement")
	}
	where, err := compileFilter(e.orm.dialect, m, filter)
	if err != nil {
		return nil, nil, nil, err
	}
	return e, m, where, nil
}

// fromIdentityMap answers a find by primary key from the identity map. ok is
// false when the filter is not a plain key lookup or the key is not managed;
// pk is the key when the filter is a plain key lookup.
func (e *EntityManager) fromIdentityMap(m *EntityMeta, filter any) (en *entry, ok bool, pk any) {
	switch f := filter.(type) {
	case nil:
		return nil, false, nil
	case F:
		if len(f) != 1 {
			return nil, false, nil
		}
		v, found := f[m.PK.Property]
		if !found {
			v, found = f[m.PK.Name]
		}
		if !found {
			return nil, false, nil
		}
		pk = v
	default:
		pk = filter
	}
	k, valid := keyFromValue(m.PK, pk)
	if !valid {
		return nil, false, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	en = e.lookup(m, k)
	if en == nil || en.partial && en.state != stateRemoved {
		// A partial entity is completed by the load by key (see
		// mergeLoaded), into the same instance.
		return nil, false, pk
	}
	if en.state == stateRemoved {
		return nil, true, pk
	}
	return en, true, pk
}

// loadFields returns the fields a find with FindOptions.Fields names reads:
// those, the primary key and the version field (a flush of the partial
// entity checks and bumps it); all of m's without names.
func loadFields(m *EntityMeta, names []string) ([]*FieldMeta, error) {
	if len(names) == 0 {
		return m.Fields, nil
	}
	fields := []*FieldMeta{m.PK}
	if m.Version != nil {
		fields = append(fields, m.Version)
	}
	for _, name := range names {
		f := m.props[name]
		if f == nil {
			return nil, &FilterError{Entity: m.Name, Property: name, Reason: "no such property (in Fields)"}
		}
		if !slices.Contains(fields, f) {
			fields = append(fields, f)
		}
	}
	return fields, nil
}

// selectFor builds the SELECT of a find.
func (e *EntityManager) selectFor(m *EntityMeta, filter any, o FindOptions) (qb.SelectQuery, []*FieldMeta, error) {
	fields, err := loadFields(m, o.Fields)
	if err != nil {
		return qb.SelectQuery{}, nil, err
	}
	cols := m.columnList
	if len(o.Fields) > 0 || cols == nil {
		cols = make([]any, len(fields))
		for i, f := range fields {
			cols[i] = f.Column
		}
	}
	q := e.orm.dialect.Select(cols...).From(m.Table)
	where, err := compileFilter(e.orm.dialect, m, filter)
	if err != nil {
		return q, nil, err
	}
	if where != nil {
		q = q.Where(where)
	}
	for _, ob := range o.OrderBy {
		prop, rest, _ := strings.Cut(strings.TrimSpace(ob), " ")
		f := m.props[prop]
		if f == nil {
			return q, nil, &FilterError{Entity: m.Name, Property: prop, Reason: "no such property (in OrderBy)"}
		}
		q = q.OrderBy(strings.TrimSpace(f.Column + " " + rest))
	}
	if o.Limit > 0 {
		q = q.Limit(o.Limit)
	}
	if o.Offset > 0 {
		q = q.Offset(o.Offset)
	}
	lock := o.Lock
	if !e.orm.dialect.Has(qb.FeatureForUpdate) {
		// SQLite has no row locks: its write transactions are serialized
		// already, so a lock mode is satisfied by the transaction itself.
		lock = LockNone
	}
	switch lock {
	case LockNone:
	case LockPessimisticRead:
		q = q.ForShare()
	case LockPessimisticWrite:
		q = q.ForUpdate()
	case LockPessimisticPartialWrite:
		q = q.ForUpdate().SkipLocked()
	case LockPessimisticWriteOrFail:
		q = q.ForUpdate().NoWait()
	case LockPessimisticPartialRead:
		q = q.ForShare().SkipLocked()
	case LockPessimisticReadOrFail:
		q = q.ForShare().NoWait()
	default:
		return q, nil, fmt.Errorf("em: unknown lock mode %d", o.Lock)
	}
	return q, fields, nil
}

func (e *EntityManager) find(ctx context.Context, t reflect.Type, filter any, o FindOptions, each func(obj any)) error {
	e, err := e.usable(ctx)
	if err != nil {
		return err
	}
	m, err := e.orm.metaFor(t)
	if err != nil {
		return err
	}
	if e.orm.backend != nil {
		if o.Strategy == Joined {
			return e.orm.unsupported("the joined populate strategy")
		}
		return e.findBackend(ctx, m, filter, o, each)
	}
	if len(o.Populate) > 0 {
		strategy := o.Strategy
		if strategy == 0 {
			strategy = e.orm.cfg.PopulateStrategy
		}
		if strategy == Joined {
			return e.findJoined(ctx, m, filter, o, each)
		}
	}
	q, fields, err := e.selectFor(m, filter, o)
	if err != nil {
		return err
	}
	query, args, err := q.Build()
	if err != nil {
		return err
	}
	var loaded []unsafe.Pointer
	err = func() error {
		e.mu.Lock()
		defer e.mu.Unlock()
		if o.Lock != LockNone && e.tx == nil {
			return fmt.Errorf("%w: a pessimistic lock (FindOptions.Lock) needs a transaction", ErrNoTransaction)
		}
		rows, err := e.orm.query(ctx, e.conn(), query, args)
		if err != nil {
			return translateError(err, m.Name)
		}
		defer rows.Close()
		if o.Limit > 1 {
			e.reserve(o.Limit)
		}
		collect := each
		if len(o.Populate) > 0 {
			collect = func(obj any) {
				loaded = append(loaded, entityPtr(obj))
				each(obj)
			}
		}
		return e.hydrate(rows, m, fields, len(fields) < len(m.Fields), o.Refresh, collect)
	}()
	if err != nil || len(o.Populate) == 0 {
		return err
	}
	return e.populate(ctx, m, loaded, o.Populate, popOpts{where: o.PopulateWhere, order: o.PopulateOrderBy, limit: o.PopulateLimit})
}

// load runs a full-row SELECT of m built elsewhere and hydrates the rows.
func (e *EntityManager) load(ctx context.Context, m *EntityMeta, query string, args []any, each func(obj any)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	rows, err := e.orm.query(ctx, e.conn(), query, args)
	if err != nil {
		return translateError(err, m.Name)
	}
	defer rows.Close()
	return e.hydrate(rows, m, m.Fields, false, false, each)
}

// hydrate scans rows into new entities straight through field addresses and
// makes them managed, or returns the managed instance of the same key. The
// caller holds e.mu.
func (e *EntityManager) hydrate(rows dbconn.Rows, m *EntityMeta, fields []*FieldMeta, partial, refresh bool, each func(obj any)) error {
	dp := scanDests.Get().(*[]any)
	defer func() {
		clear(*dp)
		scanDests.Put(dp)
	}()
	if cap(*dp) < len(fields) {
		*dp = make([]any, len(fields))
	}
	dest := (*dp)[:len(fields)]
	// Fields scanned straight into their own memory need no holder and
	// no fixup: their destinations are typed addresses, computed without
	// the checks of scanDest.
	direct := true
	for _, f := range fields {
		direct = direct && f.addr != nil && f.scanKind == scanDirect
	}
	var fixups []func() error
	for rows.Next() {
		pair := reflect.New(m.pair).UnsafePointer()
		p := pair
		obj := reflect.NewAt(m.Type, p).Interface()
		fixups = fixups[:0]
		if direct {
			for i, f := range fields {
				dest[i] = f.addr(unsafe.Add(p, f.offset))
			}
		} else {
			for i, f := range fields {
				dest[i], fixups = scanDest(f, p, fixups)
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("em: load %s: %w", m.Name, err)
		}
		for _, fx := range fixups {
			if err := fx(); err != nil {
				return fmt.Errorf("em: load %s: %w", m.Name, err)
			}
		}
		if en := e.lookup(m, keyOf(m.PK, p)); en != nil {
			mergeLoaded(e, en, fields, p, refresh, partial)
			if en.state != stateRemoved {
				each(en.object())
			}
			continue
		}
		e.registerLoaded(m, obj, pair, fields, partial)
		each(obj)
	}
	return translateError(rows.Err(), m.Name)
}

// mergeLoaded applies a row read for an entity already managed (en), at
// p: with refresh its fields overwrite the entity and its snapshot; a
// partially loaded entity read in full gets the fields it lacked, keeping
// what the user changed. The caller holds e.mu.
func mergeLoaded(e *EntityManager, en *entry, fields []*FieldMeta, p unsafe.Pointer, refresh, partial bool) {
	if refresh || en.partial && !partial {
		e.noteChange(en)
	}
	switch {
	case refresh:
		copyFields(fields, en.ptr, p)
		e.takeSnapshot(en)
	case en.partial && !partial:
		for _, f := range en.meta.Fields {
			if en.loaded(f) {
				continue
			}
			one := []*FieldMeta{f}
			if f.JSON {
				// The user may have set the field: keep that as a change.
				cur, _ := marshalJSON(f, en.ptr)
				if string(cur) == string(en.extra.snapJSON[f.jsonIdx]) {
					copyFields(one, en.ptr, p)
				}
				en.extra.snapJSON[f.jsonIdx], _ = marshalJSON(f, p)
				continue
			}
			if f.eq(f.ptr(en.ptr), f.ptr(en.snap)) {
				copyFields(one, en.ptr, p)
			}
			copyFields(one, en.snap, p)
			if f.deep != nil {
				f.deep(f.ptr(en.snap), f.ptr(p)) // not the entity's memory
			}
		}
		en.setLoaded(nil)
	}
}

// registerLoaded makes the entity just read into pair (an m.pair) managed:
// its record and snapshot, collections attached, inverse one-to-ones marked
// not loaded, and the fields read when partial. The caller holds e.mu.
func (e *EntityManager) registerLoaded(m *EntityMeta, obj any, pair unsafe.Pointer, fields []*FieldMeta, partial bool) *entry {
	en := e.registerEntry((*entry)(unsafe.Add(pair, m.entryOff)), m, obj, pair, unsafe.Add(pair, m.snapOff))
	if len(m.Relations) > 0 {
		attachCollections(m, pair, false)
	}
	if len(m.Inverses) > 0 {
		markInverses(m, pair)
	}
	if partial {
		set := make(map[*FieldMeta]bool, len(fields))
		for _, f := range fields {
			set[f] = true
		}
		en.setLoaded(set)
	}
	return en
}

func (en *entry) loaded(f *FieldMeta) bool { return !en.partial || en.extra.loadedSet[f] }

// setLoaded makes en partial with the fields of set, or complete (nil).
func (en *entry) setLoaded(set map[*FieldMeta]bool) {
	en.partial = set != nil
	if set != nil || en.extra != nil {
		en.ext().loadedSet = set
	}
}

func copyFields(fields []*FieldMeta, dst, src unsafe.Pointer) {
	for _, f := range fields {
		f.value(dst).Set(f.value(src))
	}
}

// scanDest returns what to pass to Scan for field f of the entity at base:
// the field's own address where the driver can write it, or a holder whose
// value a fixup stores afterwards (JSON, NULL into a non-pointer field).
func scanDest(f *FieldMeta, base unsafe.Pointer, fixups []func() error) (any, []func() error) {
	switch f.scanKind {
	case scanRef:
		h := &refHolder{}
		return h, append(fixups, func() error {
			hdr := (*refHeader)(f.ptr(base))
			hdr.entity = nil
			if h.v == nil {
				hdr.id = nil
				return nil
			}
			k, ok := keyFromValue(f.Ref.PK, h.v)
			if !ok {
				return fmt.Errorf("%s: a key of %s cannot be %T", f.Name, f.Ref.Name, h.v)
			}
			hdr.id = k.value(f.Ref.PK)
			return nil
		})
	case scanJSON:
		h := &jsonHolder{}
		return h, append(fixups, func() error {
			if h.data == nil {
				f.value(base).SetZero()
				return nil
			}
			return json.Unmarshal(h.data, f.value(base).Addr().Interface())
		})
	case scanNull:
		// A **T: database/sql (and pgx) store NULL as a nil *T and convert
		// anything else into a new T exactly as they would into the field.
		t := f.Type
		if f.scanType != nil {
			t = f.scanType
		}
		pp := reflect.New(reflect.PointerTo(t))
		return pp.Interface(), append(fixups, func() error {
			if pp.Elem().IsNil() {
				f.value(base).SetZero()
			} else {
				f.value(base).Set(reflect.NewAt(f.Type, pp.Elem().UnsafePointer()).Elem())
			}
			return nil
		})
	}
	if f.addr != nil {
		return f.addr(f.ptr(base)), fixups
	}
	return reflect.NewAt(f.Type, f.ptr(base)).Interface(), fixups
}

// scanDests recycles the argument slices of Scan: one per query otherwise.
var scanDests = sync.Pool{New: func() any { return new([]any) }}

// How a field is scanned.
const (
	scanDirect = iota + 1 // into its own memory
	scanRef               // a key into a refHolder, bound by a fixup
	scanJSON              // JSON text into a jsonHolder, decoded by a fixup
	// NULL into a plain field, or into a named byte slice
	// (json.RawMessage), which database/sql cannot scan NULL into: a
	// pointer to a new value, copied by a fixup.
	scanNull
)

// scanKindOf works out how f is scanned (for FieldMeta.scanKind).
func scanKindOf(f *FieldMeta) uint8 {
	k := uint8(scanDirect)
	switch {
	case f.isRef:
		k = scanRef
	case f.JSON:
		k = scanJSON
	case f.Nullable && f.Type.Kind() != reflect.Pointer && f.Type != bytesType && !reflect.PointerTo(f.Type).Implements(scannerType):
		k = scanNull
	}
	return k
}

type jsonHolder struct{ data []byte }

func (h *jsonHolder) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		h.data = nil
	case []byte:
		h.data = append([]byte(nil), x...)
	case string:
		h.data = []byte(x)
	default:
		return fmt.Errorf("JSON column holds %T", v)
	}
	return nil
}
