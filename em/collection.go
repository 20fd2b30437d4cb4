package em

import (
	"context"
	"fmt"
	"iter"
	"reflect"
	"slices"
	"unsafe"

	"github.com/mikrogo/mikro/qb"
)

// Collection is the inverse side of a one-to-many relation: the T whose
// reference named by the orm tag mappedBy points back to the owner.
//
//	type Author struct {
//		ID    int64                  `db:"id" orm:"pk"`
//		Books em.Collection[Book]    `orm:"mappedBy=author"`
//	}
//	type Book struct {
//		ID     int64          `db:"id" orm:"pk"`
//		Author em.Ref[Author] `db:"author_id"`
//	}
//
// The collection of a new owner starts empty and initialized; that of a
// loaded owner is uninitialized until Init or populate. Add and Remove keep
// both sides in sync: adding a book sets its author. Flush writes what
// changed (the items' foreign keys); with orm:"orphanRemoval", removing an
// item deletes it.
type Collection[T any] struct {
	items       []*T
	initialized bool
	owner       unsafe.Pointer // the owning entity, once the manager has seen it
	rel         *RelationMeta
	removed     []*T // removed since the last flush (orphan removal, pivot rows to delete)
	added       []*T // added since the last flush (pivot rows to insert)
}

// collHeader is the memory layout of every Collection[T].
type collHeader struct {
	items       []unsafe.Pointer
	initialized bool
	owner       unsafe.Pointer
	rel         *RelationMeta
	removed     []unsafe.Pointer
	added       []unsafe.Pointer
}

// RelationKind tells one-to-many from many-to-many collections, and both
// from the inverse side of a one-to-one.
type RelationKind uint8

// Kinds of relation held by a RelationMeta.
const (
	OneToMany RelationKind = iota
	ManyToMany
	// OneToOne is the inverse side of a one-to-one: an em.Ref field with
	// orm:"mappedBy=…" naming the owning reference of the other entity,
	// which holds the foreign key. It has no column of its own.
	OneToOne
)

func (Collection[T]) collTarget() reflect.Type { return reflect.TypeFor[T]() }

type collField interface{ collTarget() reflect.Type }

var collFieldType = reflect.TypeFor[collField]()

// RelationMeta is a collection of an entity: one-to-many, or either side of
// a many-to-many.
type RelationMeta struct {
	Name          string // Go field name
	Property      string // property name
	Kind          RelationKind
	Owner         *EntityMeta // the entity holding the collection
	Target        *EntityMeta // the entity of the items
	MappedBy      *FieldMeta  // one-to-many: the reference in Target that points to Owner
	OrphanRemoval bool
	CascadeRemove bool // Remove of the owner removes the items
	// Many-to-many: the owning side has the pivot table, with JoinColumn
	// holding the owner's key and InverseColumn the item's; Inverse links
	// the two sides when both are declared.
	Owning        bool
	Pivot         string
	JoinColumn    string
	InverseColumn string
	Inverse       *RelationMeta

	mappedBy   string
	inversedBy string
	targetType reflect.Type
	offset     uintptr
}

func (c *Collection[T]) notInit(op string) error {
	name := reflect.TypeFor[T]().Name()
	if c.rel != nil {
		return fmt.Errorf("%w: %s of %s.%s: call Init, or populate %q in the find", ErrNotInitialized, op, c.rel.Owner.Name, c.rel.Name, c.rel.Property)
	}
	return fmt.Errorf("%w: %s of a collection of %s: call Init, or populate it in the find", ErrNotInitialized, op, name)
}

// IsInitialized reports whether the items are loaded.
func (c *Collection[T]) IsInitialized() bool { return c.initialized }

// Items returns the items, or an error matching ErrNotInitialized.
func (c *Collection[T]) Items() ([]*T, error) {
	if !c.initialized {
		return nil, c.notInit("Items")
	}
	return slices.Clone(c.items), nil
}

// All returns an iterator over the items, or an error matching
// ErrNotInitialized: for i, b := range must(c.All()) …
func (c *Collection[T]) All() (iter.Seq2[int, *T], error) {
	if !c.initialized {
		return nil, c.notInit("All")
	}
	items := slices.Clone(c.items)
	return slices.All(items), nil
}

// Count returns the number of items, or an error matching ErrNotInitialized
// (LoadCount counts in the database without loading).
func (c *Collection[T]) Count() (int, error) {
	if !c.initialized {
		return 0, c.notInit("Count")
	}
	return len(c.items), nil
}

// Contains reports whether item is in the collection.
func (c *Collection[T]) Contains(item *T) (bool, error) {
	if !c.initialized {
		return false, c.notInit("Contains")
	}
	return slices.Contains(c.items, item), nil
}

// IDs returns the primary keys of the items.
func (c *Collection[T]) IDs() ([]any, error) {
	if !c.initialized {
		return nil, c.notInit("IDs")
	}
	out := make([]any, len(c.items))
	for i, it := range c.items {
		if c.rel != nil {
			out[i] = c.rel.Target.PK.Get(it)
		} else if m := metaOfType(reflect.TypeFor[T]()); m != nil {
			out[i] = m.PK.Get(it)
		}
	}
	return out, nil
}

// Add puts items in the collection and points their reference at the
// owner. It works on an uninitialized collection too (the items are written
// at the next Flush; Init then loads the rest).
//
// On an owner that no manager knows yet (a new struct never passed to
// Persist), Add cannot reach the items' references: Go gives a collection
// no way to find the struct that holds it. The link is made when the owner
// is persisted (directly, or by cascade from an entity that refers to it),
// and a Flush that would insert such an item while its owner is still
// unknown returns a *ValidationError saying so, instead of writing the
// reference as NULL. Persist the owner, or set the item's reference
// (item.Author = em.RefTo(author)), which cascades to the owner.
func (c *Collection[T]) Add(items ...*T) {
	h := (*collHeader)(unsafe.Pointer(c))
	for _, it := range items {
		if it != nil {
			addItem(h, unsafe.Pointer(it))
			if h.owner == nil && (h.rel == nil || h.rel.Kind == OneToMany) {
				noteOrphanAdd(h, unsafe.Pointer(it))
			}
		}
	}
}

// addItem adds it to the collection at h and keeps the other side in step.
func addItem(h *collHeader, it unsafe.Pointer) {
	if slices.Contains(h.items, it) {
		return
	}
	h.items = append(h.items, it)
	if i := slices.Index(h.removed, it); i >= 0 {
		h.removed = slices.Delete(h.removed, i, i+1)
	} else if h.rel == nil || h.rel.Owning {
		h.added = append(h.added, it)
	}
	syncOther(h, it, true)
}

// removeItem takes it out of the collection at h and keeps the other side
// in step.
func removeItem(h *collHeader, it unsafe.Pointer) {
	i := slices.Index(h.items, it)
	if i < 0 {
		return
	}
	h.items = slices.Delete(h.items, i, i+1)
	if j := slices.Index(h.added, it); j >= 0 {
		h.added = slices.Delete(h.added, j, j+1)
	} else {
		h.removed = append(h.removed, it)
	}
	syncOther(h, it, false)
}

// syncOther updates the item's side of the relation: its reference (one-to-
// many), or its collection (many-to-many; the owning side records the
// pivot change).
func syncOther(h *collHeader, it unsafe.Pointer, on bool) {
	rel := h.rel
	if rel == nil || h.owner == nil {
		return
	}
	if rel.Kind == OneToMany {
		r := (*refHeader)(rel.MappedBy.ptr(it))
		if on {
			r.entity, r.id = h.owner, nil
		} else if r.entity == h.owner || r.entity == nil {
			r.entity, r.id = nil, nil
		}
		return
	}
	other := rel.Inverse
	if other == nil {
		return
	}
	oh := (*collHeader)(unsafe.Add(it, other.offset))
	if oh.rel == nil {
		oh.rel, oh.owner = other, it
	}
	if on == slices.Contains(oh.items, h.owner) {
		return
	}
	if other.Owning {
		// The inverse side changed: the owning side records the pivot row.
		if on {
			addItemOnly(oh, h.owner)
		} else {
			removeItemOnly(oh, h.owner)
		}
		return
	}
	if oh.initialized {
		if on {
			oh.items = append(oh.items, h.owner)
		} else if i := slices.Index(oh.items, h.owner); i >= 0 {
			oh.items = slices.Delete(oh.items, i, i+1)
		}
	}
}

// addItemOnly and removeItemOnly change one side without syncing back.
func addItemOnly(h *collHeader, it unsafe.Pointer) {
	h.items = append(h.items, it)
	if i := slices.Index(h.removed, it); i >= 0 {
		h.removed = slices.Delete(h.removed, i, i+1)
	} else {
		h.added = append(h.added, it)
	}
}

func removeItemOnly(h *collHeader, it unsafe.Pointer) {
	if i := slices.Index(h.items, it); i >= 0 {
		h.items = slices.Delete(h.items, i, i+1)
	}
	if j := slices.Index(h.added, it); j >= 0 {
		h.added = slices.Delete(h.added, j, j+1)
	} else {
		h.removed = append(h.removed, it)
	}
}

// Remove takes items out of the collection and clears their reference to
// the owner; with orphan removal the next Flush deletes them.
func (c *Collection[T]) Remove(items ...*T) {
	h := (*collHeader)(unsafe.Pointer(c))
	for _, it := range items {
		if it != nil {
			removeItem(h, unsafe.Pointer(it))
		}
	}
}

// RemoveAll removes every item (it needs the items: ErrNotInitialized
// otherwise).
func (c *Collection[T]) RemoveAll() error {
	if !c.initialized {
		return c.notInit("RemoveAll")
	}
	c.Remove(slices.Clone(c.items)...)
	return nil
}

// Set replaces the items with items.
func (c *Collection[T]) Set(items ...*T) error {
	if err := c.RemoveAll(); err != nil {
		return err
	}
	c.Add(items...)
	return nil
}

// Init loads the items through e (one query), keeping items added before.
// No query when the collection is initialized already.
func (c *Collection[T]) Init(ctx context.Context, e *EntityManager) error {
	if ctx == nil {
		return ErrNilContext
	}
	if c.initialized {
		return nil
	}
	if c.rel == nil || c.owner == nil {
		return fmt.Errorf("%w: Init of a collection whose owner is not managed by the entity manager", ErrNotManaged)
	}
	found, err := Find[T](ctx, e, c.itemsFilter(e), FindOptions{OrderBy: []string{c.rel.Target.PK.Property}})
	if err != nil {
		return err
	}
	for _, it := range found {
		if !slices.Contains(c.items, it) && !slices.Contains(c.removed, it) {
			c.items = append(c.items, it)
		}
	}
	c.initialized = true
	return nil
}

// LoadCount counts the items in the database without loading them.
func (c *Collection[T]) LoadCount(ctx context.Context, e *EntityManager) (int64, error) {
	if c.rel == nil || c.owner == nil {
		return 0, fmt.Errorf("%w: LoadCount of a collection whose owner is not managed", ErrNotManaged)
	}
	return Count[T](ctx, e, c.itemsFilter(e))
}

// Matching finds items of the collection matching filter in the database,
// without initializing it. It returns ErrNotManaged for a collection whose
// owner is not managed, a *ValidationError for more than one opts value,
// and otherwise the errors of Find.
func (c *Collection[T]) Matching(ctx context.Context, e *EntityManager, filter F, opts ...FindOptions) ([]*T, error) {
	if c.rel == nil || c.owner == nil {
		return nil, fmt.Errorf("%w: Matching on a collection whose owner is not managed", ErrNotManaged)
	}
	o, err := oneOpt("Collection[%s].Matching", reflect.TypeFor[T](), opts)
	if err != nil {
		return nil, err
	}
	e, err = e.usable(ctx)
	if err != nil {
		return nil, err
	}
	if len(filter) == 0 {
		return Find[T](ctx, e, c.itemsFilter(e), o)
	}
	if e.orm.backend != nil {
		if c.rel.Kind == ManyToMany {
			keys, err := e.linkedKeys(ctx, c.rel, []any{ownerKey(c.rel, c.owner)})
			if err != nil {
				return nil, err
			}
			return Find[T](ctx, e, F{"$and": []F{{c.rel.Target.PK.Property: F{"$in": nonNil(keys)}}, filter}}, o)
		}
		return Find[T](ctx, e, F{"$and": []F{{c.rel.MappedBy.Property: ownerKey(c.rel, c.owner)}, filter}}, o)
	}
	where, err := compileFilter(e.orm.dialect, c.rel.Target, filter)
	if err != nil {
		return nil, err
	}
	items, _ := compileFilter(e.orm.dialect, c.rel.Target, c.itemsFilter(e))
	return Find[T](ctx, e, whereExpr{qb.And(items, where)}, o)
}

// itemsFilter selects the items of the collection in the database.
func (c *Collection[T]) itemsFilter(e *EntityManager) any {
	key := ownerKey(c.rel, c.owner)
	if c.rel.Kind == ManyToMany && e.orm.backend != nil {
		return m2mItems{rel: c.rel, key: key}
	}
	if c.rel.Kind == ManyToMany {
		return whereExpr{qb.In(c.rel.Target.PK.Column, pivotSide(e.orm.dialect, c.rel, key))}
	}
	return F{c.rel.MappedBy.Property: key}
}

func ownerKey(rel *RelationMeta, owner unsafe.Pointer) any {
	return keyOf(rel.Owner.PK, owner).value(rel.Owner.PK)
}

// attachCollections tells the collections of the entity at p who owns them;
// a new entity's collections start initialized and empty.
func attachCollections(m *EntityMeta, p unsafe.Pointer, isNew bool) {
	for _, rel := range m.Relations {
		h := (*collHeader)(unsafe.Add(p, rel.offset))
		h.owner, h.rel = p, rel
		if isNew {
			h.initialized = true
		}
		if !rel.Owning {
			h.added = nil // only an owning many-to-many writes what was added
		}
		// Items added before the owner was known get their side now.
		forgetOrphanAdds(h.items)
		for _, it := range h.items {
			if rel.Kind == OneToMany {
				rh := (*refHeader)(rel.MappedBy.ptr(it))
				if rh.entity == nil && rh.id == nil {
					rh.entity = p
				}
			} else {
				syncOther(h, it, true)
			}
		}
	}
}
