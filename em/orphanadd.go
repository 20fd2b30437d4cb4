package em

import (
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
	"weak"
)

// Items added to the collection of an owner that no manager knows yet.
//
// Go gives a collection no way to find the struct that holds it, so
// Collection.Add on a new owner that was never persisted cannot set the
// items' references to it: the link is made when the owner is persisted
// (attachCollections). Until then this registry remembers which collection
// each such item went into, so that a Flush that would insert the item
// without its owner refuses with an error that says what to do, instead of
// writing the reference as NULL. It holds only weak pointers, and costs an
// atomic load per flush while it is empty.
var orphanAdds struct {
	mu sync.Mutex
	n  atomic.Int32
	m  map[weak.Pointer[byte]]weak.Pointer[collHeader]
}

// noteOrphanAdd records that it went into the unattached collection h.
func noteOrphanAdd(h *collHeader, it unsafe.Pointer) {
	k := weak.Make((*byte)(it))
	orphanAdds.mu.Lock()
	defer orphanAdds.mu.Unlock()
	if orphanAdds.m == nil {
		orphanAdds.m = map[weak.Pointer[byte]]weak.Pointer[collHeader]{}
	}
	if _, ok := orphanAdds.m[k]; !ok {
		runtime.AddCleanup((*byte)(it), dropOrphanKey, k)
	}
	orphanAdds.m[k] = weak.Make(h)
	orphanAdds.n.Store(int32(len(orphanAdds.m)))
}

func dropOrphanKey(k weak.Pointer[byte]) {
	orphanAdds.mu.Lock()
	defer orphanAdds.mu.Unlock()
	delete(orphanAdds.m, k)
	orphanAdds.n.Store(int32(len(orphanAdds.m)))
}

// forgetOrphanAdds drops the records of items whose collection now has its
// owner.
func forgetOrphanAdds(items []unsafe.Pointer) {
	if orphanAdds.n.Load() == 0 {
		return
	}
	for _, it := range items {
		dropOrphanKey(weak.Make((*byte)(it)))
	}
}

// checkOrphanAdds refuses a plan that inserts an item of a collection whose
// owner is still unknown: its reference to the owner would be written empty.
func checkOrphanAdds(p *plan) error {
	if orphanAdds.n.Load() == 0 {
		return nil
	}
	orphanAdds.mu.Lock()
	defer orphanAdds.mu.Unlock()
	for m, list := range p.inserts {
		for _, en := range list {
			wh, ok := orphanAdds.m[weak.Make((*byte)(en.ptr))]
			if !ok {
				continue
			}
			h := wh.Value()
			if h == nil || h.owner != nil || !slices.Contains(h.items, en.ptr) {
				continue
			}
			return &ValidationError{Entity: m.Name, Field: "(reference to its owner)", Value: "new",
				Reason: fmt.Sprintf("it was added to a collection (%s) of a new entity that this manager does not know, so the reference to that owner cannot be set; Persist the owner too (it cascades to its items), or set the item's reference instead of adding it", collectionsOf(m.Type))}
		}
	}
	return nil
}

// collectionsOf names the collections of registered entities whose items
// are of type t, for error messages.
func collectionsOf(t reflect.Type) string {
	metaMu.RLock()
	defer metaMu.RUnlock()
	var names []string
	for _, m := range metaRegistry.m {
		for _, rel := range m.Relations {
			if rel.Target != nil && rel.Target.Type == t {
				names = append(names, m.Name+"."+rel.Name)
			}
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) == 0 {
		return "a collection of " + t.Name()
	}
	return strings.Join(names, " or ")
}
