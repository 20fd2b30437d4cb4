package em

import (
	"context"
	"crypto/rand"
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"unsafe"
)

// EntityManager is a unit of work with its identity map: it tracks the
// entities loaded through it or given to Persist, and writes their changes to
// the database on Flush. Get one per request or job from ORM.Fork.
//
// An EntityManager is safe to call from several goroutines (a mutex guards its
// state), but a unit of work is one logical task: concurrent work belongs in
// separate forks, which never share entities.
type EntityManager struct {
	orm  *ORM
	root bool

	mu sync.Mutex
	// im is the identity map, byPtr the records by entity address. While
	// the manager has at most len(fewBuf) records, byPtr is nil and few
	// lists the records, oldest first, found by a walk; the identity map
	// is then the records with inIM, under their key. The maps are made
	// when one record more arrives (grow), and few is unused from then on.
	im     map[imIntKey]*entry // integer keys (and the empty string)
	imS    map[imStrKey]*entry // string and text keys
	byPtr  map[unsafe.Pointer]*entry
	few    []*entry
	fewBuf [6]*entry
	// imRefs and imM2M count the entities in im whose type can refer to
	// others (references or collections) and whose type owns many-to-many
	// collections: a flush skips the walks they need when they are 0.
	imRefs, imM2M int
	pending       []*entry // new entities, in Persist order
	removed       []*entry // entities to delete, in Remove order
	// tracked lists every entry that has a snapshot, for Flush to walk
	// without iterating maps; entries no longer managed are skipped and
	// compacted away from time to time. Each slot carries what the no-op
	// comparison needs (see trackSlot), so that a flush that finds nothing
	// changed reads only the slots, the entities and their snapshots.
	tracked []trackSlot
	// trackBuf holds the first slots of tracked, inside the manager: a
	// fork that reads a few entities allocates no slot array.
	trackBuf [2]trackSlot
	slab     []entry // records not yet handed out by newEntry
	// marked lists, under ChangeTrackingExplicit, the managed entries that
	// Persist or Assign marked for the next flush to compare (their slot is
	// markedSlot); none of them is in tracked. Entries detached since stay
	// until a flush drops them.
	marked []*entry
	tx     *txState
	// flushMu makes concurrent Flush calls on one manager wait for each other.
	flushMu sync.Mutex
}

type entryState uint8

const (
	stateNew entryState = iota + 1
	stateManaged
	stateRemoved
)

// entry is the unit of work's record of one entity. The fields a flush
// reads for every dirty candidate come first, in one cache line.
type entry struct {
	ptr   unsafe.Pointer // address of the struct
	snap  unsafe.Pointer // snapshot of the persisted values; nil while new
	meta  *EntityMeta
	state entryState
	inIM  bool
	// partial: loaded with FindOptions.Fields; extra.loadedSet says which
	// fields.
	partial   bool
	inTracked bool // has a slot in EntityManager.tracked, at index slot
	// slot is the index in EntityManager.tracked while inTracked. Before
	// that, spareSlot marks the record of a persisted entity that is the N
	// of an m.fresh {S T; N entry}, whose S is free memory for the first
	// snapshot.
	slot int32

	key   pkKey
	extra *entryExtra // nil unless the entity has JSON fields or is partial
}

// spareSlot is entry.slot of a new record with room for its snapshot.
const spareSlot = -1

// markedSlot is entry.slot of a managed record in EntityManager.marked,
// under ChangeTrackingExplicit (whose records are never in tracked).
const markedSlot = -2

// entryExtra is what few records need, kept out of entry so that a record
// and an entity's two copies fit in 256 bytes for the common entity of
// 96: the JSON text of the snapshot's JSON fields, and the fields a
// partial load read.
type entryExtra struct {
	snapJSON  [][]byte
	loadedSet map[*FieldMeta]bool
}

// ext returns en.extra, made if needed.
func (en *entry) ext() *entryExtra {
	if en.extra == nil {
		en.extra = &entryExtra{}
	}
	return en.extra
}

// snapJSON returns the JSON text of the snapshot's JSON fields (nil: none).
func (en *entry) snapJSON() [][]byte {
	if en.extra == nil {
		return nil
	}
	return en.extra.snapJSON
}

// object returns the entity as the *T the user holds.
func (en *entry) object() any { return reflect.NewAt(en.meta.Type, en.ptr).Interface() }

// trackSlot is one entry of EntityManager.tracked: the entity and snapshot
// addresses copied out of the entry, and the number of bytes a memory
// comparison covers for flat types (0: compare field by field). Invariant:
// while en.inTracked, tracked[en.slot] is en's slot and its snap equals
// en.snap (setSnap keeps them together). Bytes equal to the snapshot mean no
// change whatever the entry's state, so a clean entity costs no read of its
// entry.
type trackSlot struct {
	ptr, snap unsafe.Pointer
	en        *entry
	size      uintptr
}

// setSnap points en at snapshot memory p (nil: no snapshot), keeping its
// tracked slot in step. The caller holds e.mu.
func (e *EntityManager) setSnap(en *entry, p unsafe.Pointer) {
	en.snap = p
	if en.inTracked {
		e.tracked[en.slot].snap = p
	}
}

// track gives en, which has a snapshot, a slot in e.tracked. The caller
// holds e.mu.
func (e *EntityManager) track(en *entry) {
	if en.inTracked || en.meta.explicit {
		return // explicit: compared only when marked
	}
	var size uintptr
	if en.meta.flat {
		size = en.meta.size
	}
	en.inTracked, en.slot = true, int32(len(e.tracked))
	e.tracked = append(e.tracked, trackSlot{ptr: en.ptr, snap: en.snap, en: en, size: size})
}

// mark puts a managed en in e.marked, for the next flush to compare, under
// ChangeTrackingExplicit. The caller holds e.mu.
func (e *EntityManager) mark(en *entry) {
	if !en.meta.explicit || en.state != stateManaged || en.snap == nil || en.slot == markedSlot {
		return
	}
	en.slot = markedSlot
	e.marked = append(e.marked, en)
}

// unmark takes the first n entries out of e.marked: a flush compared them.
// The caller holds e.mu.
func (e *EntityManager) unmark(n int) {
	for _, en := range e.marked[:n] {
		if en.slot == markedSlot {
			en.slot = 0
		}
	}
	rest := copy(e.marked, e.marked[n:])
	clear(e.marked[rest:])
	e.marked = e.marked[:rest]
}

// eachManaged calls fn for every entry with a snapshot (managed, or removed
// and not yet flushed): the tracked list, or, when some type is under
// ChangeTrackingExplicit (its entities are not in tracked), every record. The caller holds e.mu; fn must not add or drop records.
func (e *EntityManager) eachManaged(fn func(en *entry)) {
	if !e.orm.anyExplicit {
		for _, s := range e.tracked {
			if s.en.snap != nil {
				fn(s.en)
			}
		}
		return
	}
	visit := func(en *entry) {
		if en.snap != nil && en.state != 0 {
			fn(en)
		}
	}
	if e.byPtr == nil {
		for _, en := range e.few {
			visit(en)
		}
		return
	}
	for _, en := range e.byPtr {
		visit(en)
	}
}

// pkKey is a primary key normalized for the identity map.
type pkKey struct {
	i int64
	s string
}

// imIntKey and imStrKey are identity-map keys: the entity type and its
// primary key, in one map for every type. Integer keys have a map of their
// own, whose fixed-size keys hash as plain memory.
type imIntKey struct {
	m *EntityMeta
	i int64
}

type imStrKey struct {
	m *EntityMeta
	s string
}

func newManager(o *ORM, root bool) *EntityManager {
	e := &EntityManager{orm: o, root: root}
	e.tracked = e.trackBuf[:0]
	e.few = e.fewBuf[:0]
	return e
}

// small reports whether the records are in few rather than in the maps.
func (e *EntityManager) small() bool { return e.byPtr == nil }

// grow moves the records of few into the maps, sized for n records. The
// caller holds e.mu.
func (e *EntityManager) grow(n int) {
	if !e.small() {
		return
	}
	e.byPtr = make(map[unsafe.Pointer]*entry, max(n, 2*len(e.fewBuf)))
	for _, en := range e.few {
		e.byPtr[en.ptr] = en
		if en.inIM {
			// Oldest first: a later record under the same key wins, as an
			// assignment to the map would have made it.
			e.putIM(en.meta, en.key, en)
		}
	}
	clear(e.fewBuf[:])
	e.few = nil
}

// rec returns the record of the entity at p, or nil.
func (e *EntityManager) rec(p unsafe.Pointer) *entry {
	if !e.small() {
		return e.byPtr[p]
	}
	for _, en := range e.few {
		if en.ptr == p {
			return en
		}
	}
	return nil
}

// recOK is rec with the comma-ok of a map read.
func (e *EntityManager) recOK(p unsafe.Pointer) (*entry, bool) {
	en := e.rec(p)
	return en, en != nil
}

// nRecs returns the number of records.
func (e *EntityManager) nRecs() int {
	if e.small() {
		return len(e.few)
	}
	return len(e.byPtr)
}

// delPtr forgets the record of the entity at p.
func (e *EntityManager) delPtr(p unsafe.Pointer) {
	if !e.small() {
		delete(e.byPtr, p)
		return
	}
	for i, en := range e.few {
		if en.ptr == p {
			e.few = append(e.few[:i], e.few[i+1:]...)
			e.fewBuf[len(e.few)] = nil
			return
		}
	}
}

// putIM is the assignment to the identity map's maps.
func (e *EntityManager) putIM(m *EntityMeta, k pkKey, en *entry) {
	if k.s == "" {
		if e.im == nil {
			e.im = map[imIntKey]*entry{}
		}
		e.im[imIntKey{m, k.i}] = en
	} else {
		if e.imS == nil {
			e.imS = map[imStrKey]*entry{}
		}
		e.imS[imStrKey{m, k.s}] = en
	}
}

// ORM returns the ORM the manager belongs to.
// It returns nil for a nil manager.
func (e *EntityManager) ORM() *ORM {
	if e == nil {
		return nil
	}
	return e.orm
}

// Fork returns a new entity manager with an empty identity map and unit of
// work, on the same connection pool (not inside this manager's transaction).
// It returns nil for a nil manager (whose calls return an error).
func (e *EntityManager) Fork() *EntityManager {
	if e.invalid() {
		return nil
	}
	return newManager(e.orm, false)
}

// usable resolves the manager to use for a call given ctx: it refuses a nil
// ctx (ErrNilContext) before anything reaches the connection pool, which
// would panic inside database/sql with its lock held, and otherwise is
// resolve. Every method and function taking a context starts here.
func (e *EntityManager) usable(ctx context.Context) (*EntityManager, error) {
	if ctx == nil {
		return nil, ErrNilContext
	}
	return e.resolve(ctx)
}

// invalid reports whether e is nil or a zero EntityManager, not one made by
// ORM.Fork or ORM.EM.
func (e *EntityManager) invalid() bool { return e == nil || e.orm == nil }

// resolve resolves the manager to use: a root manager defers to the fork in
// ctx (nil for the calls that take none), or refuses without
// AllowGlobalContext.
func (e *EntityManager) resolve(ctx context.Context) (*EntityManager, error) {
	if e.invalid() {
		return nil, errNilManager
	}
	if !e.root {
		return e, nil
	}
	if ctx != nil {
		if f, ok := ctx.Value(ctxKey{}).(*EntityManager); ok && f != nil && f.orm == e.orm && !f.root {
			return f, nil
		}
	}
	if e.orm.cfg.AllowGlobalContext {
		return e, nil
	}
	return nil, ErrGlobalContext
}

func (o *ORM) metaOf(v any) (*EntityMeta, error) {
	t := reflect.TypeOf(v)
	if t == nil {
		return nil, fmt.Errorf("%w: nil", ErrUnknownEntity)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if m, ok := o.reg.byType[t]; ok {
		return m, nil
	}
	return nil, fmt.Errorf("%w: %s (register it in Config.Entities)", ErrUnknownEntity, t)
}

func (o *ORM) metaFor(t reflect.Type) (*EntityMeta, error) {
	if m, ok := o.reg.byType[t]; ok {
		return m, nil
	}
	return nil, fmt.Errorf("%w: %s (register it in Config.Entities)", ErrUnknownEntity, t)
}

// entityArg checks that v is a non-nil pointer to a registered entity.
func (o *ORM) entityArg(v any) (*EntityMeta, unsafe.Pointer, error) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return nil, nil, fmt.Errorf("%w: want a non-nil pointer to an entity struct, got %T", ErrUnknownEntity, v)
	}
	m, err := o.metaFor(rv.Elem().Type())
	if err != nil {
		return nil, nil, err
	}
	return m, rv.UnsafePointer(), nil
}

const (
	keyReflect uint8 = iota
	keyInt64
	keyInt
	keyString
)

func keyOf(f *FieldMeta, base unsafe.Pointer) pkKey {
	switch f.keyKind {
	case keyInt64:
		return pkKey{i: *(*int64)(f.ptr(base))}
	case keyInt:
		return pkKey{i: int64(*(*int)(f.ptr(base)))}
	case keyString:
		return pkKey{s: *(*string)(f.ptr(base))}
	}
	v := f.value(base)
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return pkKey{i: v.Int()}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return pkKey{i: int64(v.Uint())}
	case reflect.String:
		return pkKey{s: v.String()}
	default: // a text key (bson.ObjectID)
		return textKey(v)
	}
}

// textKey is the identity-map key of a text key value: its text form.
func textKey(v reflect.Value) pkKey {
	b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
	if err != nil {
		return pkKey{s: fmt.Sprint(v.Interface())}
	}
	return pkKey{s: string(b)}
}

// keyFromValue normalizes a primary key value given by a caller; ok is false
// when v cannot be a key of the field's kind.
func keyFromValue(f *FieldMeta, v any) (pkKey, bool) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return pkKey{}, false
	}
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return pkKey{}, false
		}
		rv = rv.Elem()
	}
	if kindClass(f.Type) == "text" {
		switch {
		case rv.Type() == f.Type:
			return textKey(rv), true
		case rv.Kind() == reflect.String:
			// The text form ("6543…"): parsed, so that a bad one is refused
			// and a good one normalized.
			p := reflect.New(f.Type)
			if err := p.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(rv.String())); err != nil {
				return pkKey{}, false
			}
			return textKey(p.Elem()), true
		}
		return pkKey{}, false
	}
	intKey := kindClass(f.Type) == "int"
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return pkKey{i: rv.Int()}, intKey
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return pkKey{i: int64(rv.Uint())}, intKey
	case reflect.String:
		return pkKey{s: rv.String()}, !intKey
	}
	return pkKey{}, false
}

func (e *EntityManager) lookup(m *EntityMeta, k pkKey) *entry {
	if e.small() {
		// Newest first: the last record put under a key is the one the
		// map would hold.
		for i := len(e.few) - 1; i >= 0; i-- {
			if en := e.few[i]; en.inIM && en.meta == m && en.key == k {
				return en
			}
		}
		return nil
	}
	if k.s == "" {
		return e.im[imIntKey{m, k.i}]
	}
	return e.imS[imStrKey{m, k.s}]
}

func (e *EntityManager) addIM(en *entry) {
	e.addIMKey(en, keyOf(en.meta.PK, en.ptr))
}

// reserve sizes the maps of a fresh manager for n entities about to be
// loaded, so that they do not grow step by step. The caller holds e.mu.
func (e *EntityManager) reserve(n int) {
	n = min(n, 4096)
	if cap(e.tracked)-len(e.tracked) < n {
		e.tracked = slices.Grow(e.tracked, n)
	}
	if !e.small() || len(e.few)+n <= len(e.fewBuf) {
		return
	}
	if len(e.im) == 0 {
		e.im = make(map[imIntKey]*entry, n)
	}
	e.grow(n)
}

// addIMKey puts en into the identity map under k.
func (e *EntityManager) addIMKey(en *entry, k pkKey) {
	if e.small() {
		// In few, en is in the identity map by its inIM and key, as the
		// newest record: it moves to the end (every entity in the identity
		// map has a record; the callers that give it one after this call
		// find it there). A record of another entry at the same address is
		// replaced, as setPtr would.
		e.delPtr(en.ptr)
		if len(e.few) == len(e.fewBuf) {
			e.grow(0)
		}
	}
	if e.small() {
		e.few = append(e.few, en)
	} else {
		e.putIM(en.meta, k, en)
	}
	if !en.inIM {
		e.countIM(en.meta, 1)
	}
	en.key, en.inIM = k, true
}

func (e *EntityManager) dropIM(en *entry) {
	if en.inIM && e.small() {
		en.inIM = false
		e.countIM(en.meta, -1)
		return
	}
	if en.inIM {
		if en.key.s == "" {
			delete(e.im, imIntKey{en.meta, en.key.i})
		} else {
			delete(e.imS, imStrKey{en.meta, en.key.s})
		}
		en.inIM = false
		e.countIM(en.meta, -1)
	}
}

// countIM keeps imRefs and imM2M when an entity of m enters (d = 1) or
// leaves (d = -1) the identity map.
func (e *EntityManager) countIM(m *EntityMeta, d int) {
	if m.hasRefs || len(m.Relations) > 0 {
		e.imRefs += d
	}
	if m.hasOwningM2M {
		e.imM2M += d
	}
}

// setPtr records en as the record of the entity at p.
func (e *EntityManager) setPtr(p unsafe.Pointer, en *entry) {
	if e.small() {
		for i, x := range e.few {
			if x.ptr == p {
				e.few[i] = en
				return
			}
		}
		if len(e.few) < len(e.fewBuf) {
			e.few = append(e.few, en)
			return
		}
		e.grow(0)
	}
	e.byPtr[p] = en
}

// Persist marks new entities for insertion at the next Flush, and re-attaches
// removed ones. Entities already managed are left as they are (under
// ChangeTrackingExplicit, they are marked for the next Flush to compare
// with their snapshots and cascade from). A UUID primary
// key that is empty gets its value now. It returns an error matching
// ErrUnknownEntity for a value that is not a pointer to a registered entity,
// or ErrGlobalContext on the root manager.
func (e *EntityManager) Persist(entities ...any) error {
	e, err := e.resolve(nil)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, v := range entities {
		if err := e.persistLocked(v); err != nil {
			return err
		}
	}
	return nil
}

// persistLocked persists one entity and, through its references, the new
// entities it refers to (cascade persist). The caller holds e.mu.
func (e *EntityManager) persistLocked(v any) error {
	m, p, err := e.orm.entityArg(v)
	if err != nil {
		return err
	}
	if en, ok := e.recOK(p); ok {
		if en.state == stateRemoved {
			en.state = stateManaged
			e.removed = removeEntry(e.removed, en)
		}
		e.mark(en)
		return nil
	}
	if m.PK.UUID && m.PK.isZero(m.PK.ptr(p)) {
		*(*string)(m.PK.ptr(p)) = newUUID()
	} else if e.orm.backend != nil && m.PK.isZero(m.PK.ptr(p)) {
		if k, ok := e.orm.backend.NewKey(m); ok {
			if err := m.PK.Set(v, k); err != nil {
				return fmt.Errorf("em: Persist: key from %s: %w", e.orm.backend.Name(), err)
			}
		}
	}
	mem := reflect.New(m.fresh).UnsafePointer()
	en := (*entry)(unsafe.Add(mem, m.freshEntryOff))
	*en = entry{meta: m, ptr: p, state: stateNew, slot: spareSlot}
	if !m.PK.AutoIncr || !m.PK.isZero(m.PK.ptr(p)) {
		if other := e.lookup(m, keyOf(m.PK, p)); other != nil {
			return fmt.Errorf("em: Persist: another %s with %s %v is already managed", m.Name, m.PK.Property, m.PK.Get(v))
		}
		e.addIM(en)
	}
	e.setPtr(p, en)
	e.noteRegistered(en)
	e.pending = append(e.pending, en)
	if len(m.Relations) > 0 {
		attachCollections(m, p, true)
	}
	return e.cascade(en)
}

// cascade persists the new entities en refers to — through references and
// collection items — that this manager does not track and whose primary key
// is empty, and removes orphans of collections with orphan removal. The
// caller holds e.mu.
func (e *EntityManager) cascade(en *entry) error {
	for _, rel := range en.meta.Relations {
		h := (*collHeader)(unsafe.Add(en.ptr, rel.offset))
		if h.owner == nil {
			attachCollections(en.meta, en.ptr, en.state == stateNew)
		}
		for _, it := range h.items {
			if _, ok := e.recOK(it); ok || !rel.Target.PK.isZero(rel.Target.PK.ptr(it)) {
				continue
			}
			if err := e.persistLocked(reflect.NewAt(rel.Target.Type, it).Interface()); err != nil {
				return err
			}
		}
		if rel.OrphanRemoval && len(h.removed) > 0 {
			for _, it := range h.removed {
				if o, ok := e.recOK(it); ok && o.state != stateRemoved {
					switch o.state {
					case stateNew:
						e.forget(o)
					case stateManaged:
						o.state = stateRemoved
						e.removed = append(e.removed, o)
					}
				}
			}
			h.removed = nil
		}
	}
	for _, rel := range en.meta.Inverses {
		// The inverse side of a one-to-one: the other entity holds the key;
		// point it at this one if it points nowhere, and persist it if new.
		h := (*refHeader)(unsafe.Add(en.ptr, rel.offset))
		if h.entity == nil {
			continue
		}
		if oh := (*refHeader)(rel.MappedBy.ptr(h.entity)); oh.entity == nil && oh.id == nil {
			oh.entity = en.ptr
		}
		if _, ok := e.recOK(h.entity); ok || !rel.Target.PK.isZero(rel.Target.PK.ptr(h.entity)) {
			continue
		}
		if err := e.persistLocked(reflect.NewAt(rel.Target.Type, h.entity).Interface()); err != nil {
			return err
		}
	}
	for _, f := range en.meta.Fields {
		if !f.isRef {
			continue
		}
		h := (*refHeader)(f.ptr(en.ptr))
		if h.entity == nil {
			continue
		}
		if _, ok := e.recOK(h.entity); ok {
			continue
		}
		if !f.Ref.PK.isZero(f.Ref.PK.ptr(h.entity)) {
			// An entity with its key set that this manager does not track is
			// taken as an existing row (loaded elsewhere): referenced, not inserted.
			continue
		}
		if err := e.persistLocked(reflect.NewAt(f.Ref.Type, h.entity).Interface()); err != nil {
			return err
		}
	}
	return nil
}

// Remove marks managed entities for deletion at the next Flush; a new entity
// that was never flushed is simply forgotten. It returns an error matching
// ErrNotManaged for an entity this manager does not know.
func (e *EntityManager) Remove(entities ...any) error {
	e, err := e.resolve(nil)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, v := range entities {
		m, p, err := e.orm.entityArg(v)
		if err != nil {
			return err
		}
		en, ok := e.recOK(p)
		if !ok {
			return fmt.Errorf("%w: Remove of a %s that this entity manager does not manage", ErrNotManaged, m.Name)
		}
		if err := e.removeLocked(en); err != nil {
			return err
		}
	}
	return nil
}

// removeLocked marks en removed and follows references and collections
// tagged cascade=remove. It checks the whole cascade before marking
// anything, so a refusal leaves the unit of work as it was. The caller holds
// e.mu.
func (e *EntityManager) removeLocked(en *entry) error {
	var list []*entry
	if err := e.cascadeRemove(en, map[*entry]bool{}, &list); err != nil {
		return err
	}
	for _, x := range list {
		switch x.state {
		case stateNew:
			e.pending = removeEntry(e.pending, x)
			e.dropIM(x)
			e.delPtr(x.ptr)
			x.state = 0
		case stateManaged:
			x.state = stateRemoved
			e.removed = append(e.removed, x)
		}
	}
	return nil
}

// cascadeRemove collects en and what it removes with it, children first.
func (e *EntityManager) cascadeRemove(en *entry, seen map[*entry]bool, out *[]*entry) error {
	if seen[en] || en.state == stateRemoved {
		return nil
	}
	seen[en] = true
	m := en.meta
	for _, rel := range m.Relations {
		if !rel.CascadeRemove {
			continue
		}
		h := (*collHeader)(unsafe.Add(en.ptr, rel.offset))
		if !h.initialized {
			return &ValidationError{Entity: m.Name, Field: rel.Name, Value: m.PK.Get(en.object()),
				Reason: fmt.Sprintf("cascade remove needs the items: Init the collection or populate %q before Remove", rel.Property)}
		}
		for _, it := range h.items {
			if x, ok := e.recOK(it); ok {
				if err := e.cascadeRemove(x, seen, out); err != nil {
					return err
				}
			}
		}
	}
	for _, rel := range m.Inverses {
		if !rel.CascadeRemove {
			continue
		}
		h := (*refHeader)(unsafe.Add(en.ptr, rel.offset))
		if isInverseMark(h.id) {
			return &ValidationError{Entity: m.Name, Field: rel.Name, Value: m.PK.Get(en.object()),
				Reason: fmt.Sprintf("cascade remove needs the related %s: Load the reference or populate %q before Remove", rel.Target.Name, rel.Property)}
		}
		if x, ok := e.recOK(h.entity); ok && h.entity != nil {
			if err := e.cascadeRemove(x, seen, out); err != nil {
				return err
			}
		}
	}
	*out = append(*out, en)
	for _, f := range m.Fields {
		if !f.isRef || !f.Def.CascadeRemove {
			continue
		}
		h := (*refHeader)(f.ptr(en.ptr))
		target := h.entity
		if target == nil && h.id != nil {
			if k, ok := keyFromValue(f.Ref.PK, h.id); ok {
				if x := e.lookup(f.Ref, k); x != nil {
					target = x.ptr
				}
			}
			if target == nil {
				return &ValidationError{Entity: m.Name, Field: f.Name, Value: m.PK.Get(en.object()),
					Reason: fmt.Sprintf("cascade remove of %s %v, which is not loaded: Load the reference or populate it before Remove", f.Ref.Name, h.id)}
			}
		}
		if target != nil {
			if x, ok := e.recOK(target); ok {
				if err := e.cascadeRemove(x, seen, out); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// IsManaged reports whether the entity is tracked by this manager (new,
// loaded or removed but not yet flushed).
func (e *EntityManager) IsManaged(entity any) bool {
	if e.invalid() {
		return false
	}
	_, p, err := e.orm.entityArg(entity)
	if err != nil {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.recOK(p)
	return ok
}

// Detach stops tracking the entity; its pending changes are forgotten.
func (e *EntityManager) Detach(entity any) {
	if e.invalid() {
		return
	}
	_, p, err := e.orm.entityArg(entity)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if en, ok := e.recOK(p); ok {
		e.forget(en)
	}
}

func (e *EntityManager) forget(en *entry) {
	e.dropIM(en)
	e.delPtr(en.ptr)
	switch en.state {
	case stateNew:
		e.pending = removeEntry(e.pending, en)
	case stateRemoved:
		e.removed = removeEntry(e.removed, en)
	}
	en.state = 0
}

// Clear detaches every entity: the identity map and the unit of work start
// empty. It does not end a transaction.
func (e *EntityManager) Clear() {
	if e.invalid() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.tracked {
		s.en.inTracked = false
	}
	e.unmark(len(e.marked))
	for _, en := range e.im {
		en.inIM = false
	}
	for _, en := range e.imS {
		en.inIM = false
	}
	for _, en := range e.few {
		en.inIM = false
	}
	e.im, e.imS, e.byPtr, e.imRefs, e.imM2M = nil, nil, nil, 0, 0
	clear(e.fewBuf[:])
	e.few = e.fewBuf[:0]
	e.pending, e.removed, e.tracked = nil, nil, e.trackBuf[:0]
	clear(e.trackBuf[:])
}

// ManagedCount returns the number of entities the manager tracks (new,
// loaded and removed-but-unflushed), for tests and diagnostics.
func (e *EntityManager) ManagedCount() int {
	if e.invalid() {
		return 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.nRecs()
}

func removeEntry(list []*entry, en *entry) []*entry {
	for i, x := range list {
		if x == en {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

// newUUID returns a random (version 4) UUID in its canonical text form.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&0xf])
	}
	return string(out)
}

// registerAttached is register for entities given by the caller (Merge,
// upsert), whose collections learn their owner.
func (e *EntityManager) registerAttached(m *EntityMeta, obj any, p unsafe.Pointer) *entry {
	en := e.register(m, obj, p, nil)
	if len(m.Relations) > 0 {
		attachCollections(m, p, false)
	}
	return en
}

// register makes a loaded entity managed, with a snapshot of its values
// (written to snap when the caller allocated room for it next to the entity).
// The caller holds e.mu.
func (e *EntityManager) register(m *EntityMeta, obj any, p, snap unsafe.Pointer) *entry {
	return e.registerEntry(e.newEntry(), m, obj, p, snap)
}

// entrySlab is the number of records newEntry allocates at a time.
const entrySlab = 32

// newEntry returns a zeroed record for an entity the caller allocated. The
// records come in slabs, apart from entities and snapshots: a flush that
// walks them does not stream records it does not read. The caller holds e.mu.
func (e *EntityManager) newEntry() *entry {
	if len(e.slab) == 0 {
		e.slab = make([]entry, entrySlab)
	}
	en := &e.slab[0]
	e.slab = e.slab[1:]
	return en
}

// registerEntry is register with the record's memory given (inside a pair).
func (e *EntityManager) registerEntry(en *entry, m *EntityMeta, obj any, p, snap unsafe.Pointer) *entry {
	*en = entry{meta: m, ptr: p, state: stateManaged, snap: snap}
	e.takeSnapshot(en)
	e.addIM(en)
	e.setPtr(p, en)
	e.noteRegistered(en)
	return en
}

// takeSnapshot records the entity's current values as its persisted state.
func (e *EntityManager) takeSnapshot(en *entry) {
	m := en.meta
	if en.snap == nil {
		if !en.inTracked && en.slot == spareSlot {
			e.setSnap(en, unsafe.Add(unsafe.Pointer(en), -int(m.freshEntryOff)))
			en.slot = 0
		} else {
			e.setSnap(en, reflect.New(m.Type).UnsafePointer())
		}
	}
	copyStruct(m, en.snap, en.ptr)
	e.track(en)
	if m.jsonN > 0 {
		x := en.ext()
		if x.snapJSON == nil {
			x.snapJSON = make([][]byte, m.jsonN)
		}
		for _, f := range m.Fields {
			if f.JSON {
				x.snapJSON[f.jsonIdx], _ = marshalJSON(f, en.ptr)
			}
		}
	}
}

// copyStruct copies src into dst (both *m.Type) and deep-copies the fields
// that would otherwise share memory.
func copyStruct(m *EntityMeta, dst, src unsafe.Pointer) {
	reflect.NewAt(m.Type, dst).Elem().Set(reflect.NewAt(m.Type, src).Elem())
	if m.flat {
		return
	}
	for _, f := range m.Fields {
		if f.deep != nil {
			f.deep(f.ptr(dst), f.ptr(src))
		}
	}
}

// changed returns the fields whose values differ from the snapshot.
func (en *entry) changed(buf []*FieldMeta) []*FieldMeta {
	m := en.meta
	if m.flat && m.size > 0 &&
		string(unsafe.Slice((*byte)(en.ptr), m.size)) == string(unsafe.Slice((*byte)(en.snap), m.size)) {
		return buf
	}
	for _, f := range m.Fields {
		if f.JSON {
			cur, _ := marshalJSON(f, en.ptr)
			if string(cur) != string(en.extra.snapJSON[f.jsonIdx]) {
				buf = append(buf, f)
			}
			continue
		}
		if !f.eq(f.ptr(en.ptr), f.ptr(en.snap)) {
			buf = append(buf, f)
		}
	}
	return buf
}
