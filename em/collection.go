package em

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"slices"
	"unsafe"
)

// ErrNotInitialized: the items of a collection that has not been loaded
// were read. Load it with Collection.Init, or populate it in the find
// (FindOptions.Populate) — never an empty list by mistake.
var ErrNotInitialized = errors.New("em: collection not initialized")

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
	removed     []*T // removed since the last flush, for orphan removal
}

// collHeader is the memory layout of every Collection[T].
type collHeader struct {
	items       []unsafe.Pointer
	initialized bool
	owner       unsafe.Pointer
	rel         *RelationMeta
	removed     []unsafe.Pointer
}

func (Collection[T]) collTarget() reflect.Type { return reflect.TypeFor[T]() }

type collField interface{ collTarget() reflect.Type }

var collFieldType = reflect.TypeFor[collField]()

// RelationMeta is a one-to-many collection of an entity.
type RelationMeta struct {
	Name          string      // Go field name
	Property      string      // property name
	Owner         *EntityMeta // the entity holding the collection
	Target        *EntityMeta // the entity of the items
	MappedBy      *FieldMeta  // the reference in Target that points to Owner
	OrphanRemoval bool

	mappedBy   string
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
func (c *Collection[T]) Add(items ...*T) {
	for _, it := range items {
		if it == nil || slices.Contains(c.items, it) {
			continue
		}
		c.items = append(c.items, it)
		c.removed = slices.DeleteFunc(c.removed, func(x *T) bool { return x == it })
		c.link(it, true)
	}
}

// Remove takes items out of the collection and clears their reference to
// the owner; with orphan removal the next Flush deletes them.
func (c *Collection[T]) Remove(items ...*T) {
	for _, it := range items {
		i := slices.Index(c.items, it)
		if i < 0 {
			continue
		}
		c.items = slices.Delete(c.items, i, i+1)
		c.removed = append(c.removed, it)
		c.link(it, false)
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

// link sets (or clears) the item's reference to the owner, when the owner
// is known.
func (c *Collection[T]) link(item *T, on bool) {
	if c.rel == nil || c.owner == nil {
		return
	}
	h := (*refHeader)(c.rel.MappedBy.ptr(unsafe.Pointer(item)))
	if on {
		h.entity, h.id = c.owner, nil
	} else if h.entity == c.owner || h.entity == nil {
		h.entity, h.id = nil, nil
	}
}

// Init loads the items through e (one query), keeping items added before.
// No query when the collection is initialized already.
func (c *Collection[T]) Init(ctx context.Context, e *EntityManager) error {
	if c.initialized {
		return nil
	}
	if c.rel == nil || c.owner == nil {
		return fmt.Errorf("%w: Init of a collection whose owner is not managed by the entity manager", ErrNotManaged)
	}
	found, err := Find[T](ctx, e, F{c.rel.MappedBy.Property: ownerKey(c.rel, c.owner)}, FindOptions{OrderBy: []string{c.rel.Target.PK.Property}})
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
	return Count[T](ctx, e, F{c.rel.MappedBy.Property: ownerKey(c.rel, c.owner)})
}

// Matching finds items of the collection matching filter in the database,
// without initializing it.
func (c *Collection[T]) Matching(ctx context.Context, e *EntityManager, filter F, opts ...FindOptions) ([]*T, error) {
	if c.rel == nil || c.owner == nil {
		return nil, fmt.Errorf("%w: Matching on a collection whose owner is not managed", ErrNotManaged)
	}
	f := F{c.rel.MappedBy.Property: ownerKey(c.rel, c.owner)}
	if len(filter) > 0 {
		f = F{"$and": []F{f, filter}}
	}
	return Find[T](ctx, e, f, opts...)
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
		// Items added before the owner was known get their reference now.
		for _, it := range h.items {
			rh := (*refHeader)(rel.MappedBy.ptr(it))
			if rh.entity == nil && rh.id == nil {
				rh.entity = p
			}
		}
	}
}
