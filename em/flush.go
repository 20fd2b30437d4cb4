package em

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"unsafe"
)

// plan is the work of one flush: change sets grouped per entity type.
type plan struct {
	inserts map[*EntityMeta][]*entry
	updates []update
	deletes map[*EntityMeta][]*entry
	pivots  []pivotOp // many-to-many links to write
	n       int
	marked  int // the entries of EntityManager.marked the plan compared
}

// pivotOp is the pending change of one owning many-to-many collection.
type pivotOp struct {
	rel   *RelationMeta
	owner *entry
	h     *collHeader
}

type update struct {
	en     *entry
	fields []*FieldMeta
}

func (p *plan) empty() bool { return p.n == 0 }

// computePlan compares every managed entity with its snapshot. The caller
// holds e.mu.
func (e *EntityManager) computePlan() *plan {
	p := &plan{}
	if len(e.pending) > 0 {
		p.inserts = map[*EntityMeta][]*entry{}
		for _, en := range e.pending {
			p.inserts[en.meta] = append(p.inserts[en.meta], en)
			p.n++
		}
	}
	if len(e.removed) > 0 {
		p.deletes = map[*EntityMeta][]*entry{}
		for _, en := range e.removed {
			p.deletes[en.meta] = append(p.deletes[en.meta], en)
			p.n++
		}
	}
	p.updates = scanTracked(e.tracked)
	p.n += len(p.updates)
	pivotOwner := func(en *entry) {
		if !en.meta.hasOwningM2M || en.state == stateRemoved || en.state == 0 {
			return
		}
		for _, rel := range en.meta.Relations {
			if !rel.Owning {
				continue
			}
			h := (*collHeader)(unsafe.Add(en.ptr, rel.offset))
			if len(h.added)+len(h.removed) > 0 {
				p.pivots = append(p.pivots, pivotOp{rel: rel, owner: en, h: h})
				p.n++
			}
		}
	}
	for _, en := range e.pending {
		pivotOwner(en)
	}
	if len(e.marked) > 0 {
		// ChangeTrackingExplicit: the marked entities are the only ones
		// compared, so the walk costs what was marked.
		var buf []*FieldMeta
		for _, en := range e.marked {
			if en.slot != markedSlot || en.state != stateManaged || en.snap == nil {
				continue
			}
			if buf = en.changed(buf[:0]); len(buf) > 0 {
				p.updates = append(p.updates, update{en: en, fields: slices.Clone(buf)})
				p.n++
			}
			pivotOwner(en)
		}
		p.marked = len(e.marked)
	}
	if e.imM2M > 0 {
		for _, s := range e.tracked {
			// A new entity keeps its slot after a failed flush put it back
			// (its snapshot gone): it was visited with the pending ones.
			if s.en.state == stateManaged {
				pivotOwner(s.en)
			}
		}
	}
	// Every live tracked entry is in byPtr, so at least len(tracked) -
	// len(byPtr) slots are dead: compact when they are most of the list.
	if dead := len(e.tracked) - e.nRecs(); dead > 64 && dead > len(e.tracked)/2 {
		live := e.tracked[:0]
		for _, s := range e.tracked {
			if s.en.state == 0 {
				s.en.inTracked = false
				continue
			}
			s.en.slot = int32(len(live))
			live = append(live, s)
		}
		clear(e.tracked[len(live):])
		e.tracked = live
	}
	return p
}

// scanChunk is the number of slots a goroutine of the snapshot comparison
// takes at a time, and parallelScan the number of managed entities from
// which helpers are started: at 10,000 entities on two cores a helper did
// not shorten the walk (BenchmarkNoopFlush -cpu 2: 33 us either way), at
// 100,000 it did a little.
const (
	scanChunk    = 1024
	parallelScan = 16 * scanChunk
)

// scanTracked compares every managed entity in list with its snapshot and
// returns the updates, in list order. From parallelScan entities up, up to
// three helper goroutines (GOMAXPROCS permitting) take chunks of the list
// alongside the caller, from a shared counter: a helper that starts late
// (its core busy) finds less or nothing left to take, and the caller waits
// only for chunks a helper has taken, never for a helper to start. Nothing
// is written but the results.
func scanTracked(list []trackSlot) []update {
	helpers := min(runtime.GOMAXPROCS(0)-1, 3)
	if len(list) < parallelScan || helpers <= 0 {
		return scanRange(nil, list)
	}
	n := (len(list) + scanChunk - 1) / scanChunk
	// Each goroutine appends to its own list; spans says where the updates
	// of each chunk are, to join them in list order.
	type span struct{ w, from, to int }
	spans := make([]span, n)
	var found [4][]update
	var next, done atomic.Int64
	work := func(w int) {
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			from := len(found[w])
			found[w] = scanRange(found[w], list[i*scanChunk:min((i+1)*scanChunk, len(list))])
			spans[i] = span{w, from, len(found[w])}
			done.Add(1)
		}
	}
	for w := 1; w <= helpers; w++ {
		go work(w)
	}
	work(0)
	// What is not done yet is in the hands of a running helper: a chunk
	// takes microseconds.
	for done.Load() < int64(n) {
		runtime.Gosched()
	}
	total := 0
	for _, f := range found {
		total += len(f)
	}
	if total == 0 {
		return nil
	}
	updates := make([]update, 0, total)
	for _, sp := range spans {
		updates = append(updates, found[sp.w][sp.from:sp.to]...)
	}
	return updates
}

// scanRange appends the updates of the managed entities of list. A slot
// whose entity is byte for byte its snapshot is clean whatever its entry
// says, and is passed over without reading the entry.
func scanRange(updates []update, list []trackSlot) []update {
	var buf []*FieldMeta
	for i := 0; i < len(list); i++ {
		// Runs of clean slots in bounded chunks, so that the walk stays
		// preemptible between them.
		if n := cleanRun(list[i:min(i+cleanChunk, len(list))]); n > 0 {
			i += n - 1
			continue
		}
		en := list[i].en
		if en.state != stateManaged || en.snap == nil {
			continue
		}
		if buf = en.changed(buf[:0]); len(buf) > 0 {
			updates = append(updates, update{en: en, fields: slices.Clone(buf)})
		}
	}
	return updates
}

// cleanChunk is the most slots one cleanRun call walks.
const cleanChunk = 1024

// cleanRunGo is cleanRun in Go: the reference the assembly is tested
// against, and the implementation on other architectures.
func cleanRunGo(slots []trackSlot) int {
	for i := range slots {
		s := &slots[i]
		if s.size == 0 || s.snap == nil || !memEqual(s.ptr, s.snap, s.size) {
			return i
		}
	}
	return len(slots)
}

// memEqual reports whether the n bytes at a and b are equal.
func memEqual(a, b unsafe.Pointer, n uintptr) bool {
	return string(unsafe.Slice((*byte)(a), n)) == string(unsafe.Slice((*byte)(b), n))
}

// Flush writes every change of the unit of work in one transaction: inserts
// of persisted entities (parents before children), updates of the changed
// columns of managed entities, deletes of removed ones (children first).
// With nothing changed it runs no statement at all.
//
// On success generated keys, onCreate/onUpdate values and versions are in the
// structs, snapshots are refreshed and deleted entities are detached. On
// failure the transaction is rolled back and the unit of work is exactly as it
// was before the call (no half-assigned keys, no refreshed snapshots), so the
// caller can fix the cause and flush again, or discard the manager. The error
// is a *DBError for constraint and concurrency failures, an
// *OptimisticLockError for a stale versioned entity, or the hook's error.
// Inside a transaction, Flush writes within it (in a savepoint) and the
// commit is the transaction's.
func (e *EntityManager) Flush(ctx context.Context) error {
	e, err := e.usable(ctx)
	if err != nil {
		return err
	}
	if inHookOf(ctx) == e {
		return ErrFlushInHook
	}
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := e.tx.dead(); err != nil {
		return err // C3: only a rollback ends a dead transaction
	}
	if err := e.cascadeAll(); err != nil {
		return err
	}
	p := e.computePlan()
	if p.empty() {
		e.unmark(p.marked) // compared, and unchanged
		return nil
	}
	if err := checkOrphanAdds(p); err != nil {
		return err
	}
	if err := checkRefs(p); err != nil {
		return err
	}

	own := e.tx == nil
	if e.orm.backend != nil && own {
		if e.singleWrite(p) {
			// One write of one document is atomic on its own.
			return e.flushUntransacted(ctx, p)
		}
		err := e.beginLocked(ctx, true)
		if errors.Is(err, ErrTransactionsUnavailable) {
			return e.flushUntransacted(ctx, p)
		}
		if err != nil {
			return err
		}
	} else if own && ctx.Done() == nil && e.singleStatement(p) {
		// One statement is atomic on its own: BEGIN and COMMIT would add two
		// round trips and no safety. Failure still restores the unit of work.
		// (Under a context that can end, it runs in a transaction all the
		// same: a deadline that cuts the statement off as it completes
		// leaves its outcome unknown, while a COMMIT is sent without the
		// deadline and its outcome learnt; see commitSQL.)
		tx := &txState{pool: e.orm.conn}
		pend, rem := slices.Clone(e.pending), slices.Clone(e.removed)
		if err := e.runFlush(ctx, p, tx); err != nil {
			e.restore(tx, undoMark{}, pend, rem)
			return e.resolveStale(context.WithoutCancel(ctx), e.orm.conn, err)
		}
		e.afterCommit(ctx, tx.commits) // one statement, committed on its own
		return nil
	} else if own {
		if err := e.beginLocked(ctx, true); err != nil {
			return err
		}
	}
	tx := e.tx
	var sp string
	if !own && tx.btx == nil {
		if sp, err = e.orm.savepoint(ctx, tx, "mikro_flush_"); err != nil {
			return err
		}
	}
	mark := tx.mark()
	pend, rem := slices.Clone(e.pending), slices.Clone(e.removed)

	err = e.runFlush(ctx, p, tx)
	if err == nil && sp != "" {
		// A savepoint that cannot be released is a failed flush: its work
		// is taken back below, in the database and in memory.
		if rerr := e.orm.releaseSavepoint(ctx, tx, sp); rerr != nil {
			err = rerr
		} else {
			tx.depth--
			return nil
		}
	}
	if err != nil {
		rctx := context.WithoutCancel(ctx)
		switch {
		case own:
			e.tx = nil
			// A failed rollback is logged by txEnd; the flush's error is
			// the one to return (the database ends the transaction anyway,
			// and database/sql has often rolled it back already on a
			// canceled context).
			_ = e.txEnd(rctx, tx, false)
			e.restore(tx, mark, pend, rem)
			err = e.resolveStale(rctx, e.orm.conn, err)
			if evErr := e.emitUnlocked(rctx, &Event{Kind: AfterRollback, Manager: e}); evErr != nil {
				e.orm.log.WarnContext(rctx, "em: AfterRollback subscriber failed", "error", evErr)
			}
		case tx.btx != nil:
			// No savepoint to return to: the unit of work goes back to
			// before this flush, and the transaction can only roll back.
			tx.failed = err
			e.restore(tx, mark, pend, rem)
		default:
			rbErr := e.orm.rollbackToSavepoint(rctx, tx, sp)
			tx.depth--
			e.restore(tx, mark, pend, rem)
			if rbErr != nil {
				// The savepoint's writes could not be taken back: the
				// transaction cannot go on (C3).
				tx.kill(rbErr)
				err = errors.Join(err, tx.dead())
			} else {
				err = e.resolveStale(rctx, tx.sqlTx, err)
			}
		}
		return err
	}
	if own {
		return e.endLocked(ctx, true)
	}
	return nil // in a backend transaction, which has no savepoints
}

// flushUntransacted writes p on a backend without a transaction: the
// writes the backend applied before a failure stay applied and the unit of
// work keeps them; the rest is put back as it was, to retry.
func (e *EntityManager) flushUntransacted(ctx context.Context, p *plan) error {
	tx := &txState{}
	pend, rem := slices.Clone(e.pending), slices.Clone(e.removed)
	if err := e.runFlush(ctx, p, tx); err != nil {
		if tx.appliedPlan != nil {
			e.keepApplied(tx, tx.appliedPlan)
		}
		e.restore(tx, undoMark{}, pend, rem)
		return err
	}
	e.afterCommit(ctx, tx.commits) // each write was final when applied
	return nil
}

// singleWrite reports whether a backend flush of p is one write of one
// entity with nothing else running during it (no hooks, no subscribers),
// so that it needs no transaction.
func (e *EntityManager) singleWrite(p *plan) bool {
	if p.n != 1 || len(p.pivots) > 0 || len(e.orm.cfg.Subscribers) > 0 {
		return false
	}
	for _, u := range p.updates {
		return u.en.meta.hooks == 0
	}
	for m := range p.inserts {
		return m.hooks == 0
	}
	for m := range p.deletes {
		return m.hooks == 0
	}
	return false
}

// checkRefs refuses to write an entity whose required (NOT NULL) reference
// is empty: typically an item removed from a collection without orphan
// removal. The database would refuse it too, later and less clearly.
func checkRefs(p *plan) error {
	check := func(en *entry) error {
		for _, f := range en.meta.Fields {
			if f.isRef && !f.Nullable && f.isZero(f.ptr(en.ptr)) && en.loaded(f) {
				return &ValidationError{Entity: en.meta.Name, Field: f.Name, Value: en.meta.PK.Get(en.object()),
					Reason: fmt.Sprintf("the reference to %s is required (NOT NULL) but empty; set it, make it nullable, remove the entity, or use orphanRemoval on the collection it left", f.Ref.Name)}
			}
		}
		return nil
	}
	for m, list := range p.inserts {
		if !m.hasRefs {
			continue
		}
		for _, en := range list {
			if err := check(en); err != nil {
				return err
			}
		}
	}
	for _, u := range p.updates {
		if u.en.meta.hasRefs {
			if err := check(u.en); err != nil {
				return err
			}
		}
	}
	return nil
}

// cascadeAll persists new entities that pending or managed entities came to
// refer to after they were persisted or loaded. The caller holds e.mu.
func (e *EntityManager) cascadeAll() error {
	visit := func(en *entry) error {
		if (!en.meta.hasRefs && len(en.meta.Relations) == 0) || en.state == stateRemoved || en.state == 0 {
			return nil
		}
		return e.cascade(en)
	}
	if len(e.pending) > 0 {
		for _, en := range slices.Clone(e.pending) {
			if err := visit(en); err != nil {
				return err
			}
		}
	}
	if e.imRefs == 0 {
		return nil // no managed entity can refer to anything: skip the walk
	}
	// cascade may persist entities but never tracks one: the list does
	// not move under the walk.
	for i := range e.tracked {
		if err := visit(e.tracked[i].en); err != nil {
			return err
		}
	}
	for i := 0; i < len(e.marked); i++ {
		if en := e.marked[i]; en.slot == markedSlot {
			if err := visit(en); err != nil {
				return err
			}
		}
	}
	return nil
}

// singleStatement reports whether the plan is written by exactly one
// statement and nothing else runs during the flush (no hooks, no
// subscribers), so that it needs no explicit transaction. A versioned
// update or delete of several rows is not such a statement: its
// affected-row count can disprove it after it changed the other rows, and
// only a transaction can take those back.
func (e *EntityManager) singleStatement(p *plan) bool {
	if len(e.orm.cfg.Subscribers) > 0 || len(p.pivots) > 0 {
		return false
	}
	kinds := 0
	if len(p.inserts) > 0 {
		kinds++
	}
	if len(p.updates) > 0 {
		kinds++
	}
	if len(p.deletes) > 0 {
		kinds++
	}
	if kinds != 1 || len(p.inserts) > 1 || len(p.deletes) > 1 || !e.fitsOnePacket(p) {
		return false
	}
	for m, list := range p.inserts {
		if m.hooks != 0 || len(list) > e.rowsPerStatement(len(m.Fields)) || len(m.Fields) == 1 && m.PK.AutoIncr {
			return false
		}
		// Rows with and without an auto-increment key go in separate statements.
		generated := m.PK.AutoIncr && m.PK.isZero(m.PK.ptr(list[0].ptr))
		for _, en := range list[1:] {
			if (m.PK.AutoIncr && m.PK.isZero(m.PK.ptr(en.ptr))) != generated {
				return false
			}
		}
	}
	for m, list := range p.deletes {
		if m.hooks != 0 || len(list) > e.rowsPerStatement(2) || m.Version != nil && len(list) > 1 {
			return false
		}
	}
	if len(p.updates) > 0 {
		first := p.updates[0]
		if first.en.meta.hooks != 0 || len(p.updates) > e.rowsPerStatement(2*len(first.fields)+4) ||
			first.en.meta.Version != nil && len(p.updates) > 1 {
			return false
		}
		key := changedKey(first.fields)
		for _, u := range p.updates[1:] {
			if u.en.meta != first.en.meta || changedKey(u.fields) != key {
				return false
			}
		}
	}
	return true
}

// runFlush does the work of a flush inside tx. The caller holds e.mu and
// rolls back on error.
func (e *EntityManager) runFlush(ctx context.Context, p *plan, tx *txState) error {
	remembered := map[*entry]bool{}
	remember := func(en *entry) {
		if !remembered[en] {
			remembered[en] = true
			tx.remember(en)
		}
	}
	subs := len(e.orm.cfg.Subscribers) > 0
	rememberPlan := func(p *plan) {
		for _, list := range p.inserts {
			for _, en := range list {
				if en.meta.hooks != 0 || subs {
					remember(en)
				} else if !remembered[en] {
					// Nothing but the flush itself touches a new entity without
					// hooks: the fields it fills are logged in tx.zeroed.
					remembered[en] = true
					tx.fresh = append(tx.fresh, freshRec{en: en, inIM: en.inIM, key: en.key})
				}
			}
		}
		for _, u := range p.updates {
			remember(u.en)
		}
		for _, list := range p.deletes {
			for _, en := range list {
				remember(en)
			}
		}
	}
	rememberPlan(p)

	// Before hooks and events may change entities (or persist new ones), so
	// the plan is computed again after them, when any ran: without them
	// e.mu was held all along and the plan stands (a second walk of every
	// managed entity saved).
	ran, err := e.hooks(ctx, p, true)
	if err != nil {
		return err
	}
	if ran {
		p = e.computePlan()
		rememberPlan(p)
		if p.empty() {
			e.unmark(p.marked)
			return nil
		}
	}
	e.applyGenerators(p, tx)
	if err := e.emitUnlocked(ctx, &Event{Kind: OnFlush, Manager: e}); err != nil {
		return err
	}

	order := e.orm.reg.commit
	if e.orm.backend != nil {
		tx.appliedPlan = p
		if err := e.writeBackend(ctx, tx, p, order); err != nil {
			return err
		}
		if err := e.finishFlush(ctx, p, tx); err != nil {
			return err
		}
		tx.noteCommits(p)
		return nil
	}
	tx.inserted, tx.deferred = nil, nil
	for _, m := range order {
		if list := p.inserts[m]; len(list) > 0 {
			if err := e.insertAll(ctx, tx, m, list); err != nil {
				return err
			}
		}
	}
	if err := e.writeDeferred(ctx, tx); err != nil {
		return err
	}
	tx.inserted = nil
	if err := e.updateAll(ctx, tx, p.updates); err != nil {
		return err
	}
	if err := e.writePivots(ctx, tx, p.pivots); err != nil {
		return err
	}
	for i := len(order) - 1; i >= 0; i-- {
		m := order[i]
		if list := p.deletes[m]; len(list) > 0 {
			if err := e.deleteAll(ctx, tx, m, list); err != nil {
				return err
			}
		}
	}
	if err := e.finishFlush(ctx, p, tx); err != nil {
		return err
	}
	tx.noteCommits(p)
	return nil
}

// finishFlush runs the after hooks and events of a flush whose writes are
// done, and makes the written state the persisted one.
func (e *EntityManager) finishFlush(ctx context.Context, p *plan, tx *txState) error {
	// The written state becomes the persisted one before the after hooks
	// and events run: they run with e.mu released, and another goroutine's
	// find that reads an inserted row then must meet its entity in the
	// identity map, not load a second instance. (A failing hook puts all
	// of this back through the undo log.) A change an after hook makes is
	// a change for the next flush.
	for _, list := range p.inserts {
		for _, en := range list {
			en.state = stateManaged
			if !en.inIM {
				e.addIM(en)
			}
			e.takeSnapshot(en)
		}
	}
	for _, u := range p.updates {
		e.takeSnapshot(u.en)
	}
	if _, err := e.hooks(ctx, p, false); err != nil {
		return err
	}
	if err := e.emitUnlocked(ctx, &Event{Kind: AfterFlush, Manager: e}); err != nil {
		return err
	}
	for _, list := range p.deletes {
		for _, en := range list {
			e.dropIM(en)
			e.delPtr(en.ptr)
			en.state = 0
		}
	}
	for _, op := range p.pivots {
		// Written: no longer pending. The undo log keeps them, for a
		// rollback that makes them pending again.
		tx.pivots = append(tx.pivots, pivotUndo{h: op.h, added: op.h.added, removed: op.h.removed})
		op.h.added, op.h.removed = nil, nil
	}
	// The marked entities compared are written; those marked while hooks
	// ran stay marked.
	e.unmark(min(p.marked, len(e.marked)))
	// Keep what other goroutines persisted or removed while hooks ran.
	e.pending = e.collect(stateNew, e.pending)
	e.removed = e.collect(stateRemoved, e.removed)
	return nil
}

func fieldPos(m *EntityMeta, f *FieldMeta) int { return slices.Index(m.Fields, f) }

// changedKey identifies a set of changed columns, to batch updates that set
// the same columns.
func changedKey(fields []*FieldMeta) string {
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(f.Column)
		b.WriteByte(0)
	}
	return b.String()
}
