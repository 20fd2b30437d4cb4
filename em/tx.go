package em

import (
	"context"
	"errors"
	"fmt"
	"github.com/mikrogo/mikro/em/dbconn"
	"reflect"
	"slices"
	"strconv"
	"time"
	"unsafe"
)

// txState is an open transaction of an entity manager, with the undo log that
// puts the unit of work back as it was if the transaction rolls back.
type txState struct {
	sqlTx dbconn.Tx
	btx   BackendTx // on a backend, instead of sqlTx
	// failed is the error of a flush that failed inside a backend
	// transaction: with no savepoint to return to, the transaction can only
	// roll back.
	failed error
	pool   querier // for a flush that runs its single statement without a transaction
	depth  int     // savepoint nesting
	undo   []undoRec
	fresh  []freshRec // new entities flushed without a full backup (no hooks can have touched them)
	// During a flush: entities inserted so far, and references bound as NULL
	// because they point at an entity not inserted yet (a cycle), to set by
	// an UPDATE once every row is in.
	inserted map[unsafe.Pointer]bool
	deferred []deferredRef
	zeroed   []zeroRec // fields a flush filled in that were empty before
	// scope is what a rollback of the whole transaction puts back, and
	// registered the entities the manager came to know inside it, in order
	// (a scope forgets those from its own start on).
	scope      *txScope
	registered []*entry
	commits    []commitRec // writes whose AfterCommit hooks run at COMMIT
	pivots     []pivotUndo // pivot changes flushes wrote
	// On a backend: the entries whose writes a failed flush applied, and
	// the plan they belong to.
	applied     map[*entry]bool
	appliedPlan *plan
}

// The savepoint statements, in one place for Flush (mikro_flush_N) and
// Transactional (mikro_sp_N). N is the nesting depth, which savepoint
// raises and the caller lowers once the savepoint is released or rolled
// back to.

// savepoint opens the savepoint prefix+N one level deeper in tx and returns
// its name; on failure the depth is as before and the error is translated.
func (o *ORM) savepoint(ctx context.Context, tx *txState, prefix string) (string, error) {
	tx.depth++
	sp := prefix + strconv.Itoa(tx.depth)
	if _, err := o.exec(ctx, tx.sqlTx, "SAVEPOINT "+sp, nil); err != nil {
		tx.depth--
		return "", translateError(err, "")
	}
	return sp, nil
}

// releaseSavepoint releases sp; the error is translated (a savepoint that
// cannot be released is a failed flush or Transactional).
func (o *ORM) releaseSavepoint(ctx context.Context, tx *txState, sp string) error {
	_, err := o.exec(ctx, tx.sqlTx, "RELEASE SAVEPOINT "+sp, nil)
	return translateError(err, "")
}

// rollbackToSavepoint takes back the writes since sp, with a context that
// cannot end (the caller's may have); an error means they could not be
// taken back, and the caller kills the transaction with it (C3).
func (o *ORM) rollbackToSavepoint(ctx context.Context, tx *txState, sp string) error {
	_, err := o.exec(context.WithoutCancel(ctx), tx.sqlTx, "ROLLBACK TO SAVEPOINT "+sp, nil)
	return err
}

// undoRec restores one entry to what it was before a flush touched it.
type undoRec struct {
	en       *entry
	backup   unsafe.Pointer // the struct as it was
	snap     unsafe.Pointer
	snapJSON [][]byte
	state    entryState
	inIM     bool
	key      pkKey
}

// freshRec records a new entity's identity-map state before a flush.
type freshRec struct {
	en   *entry
	inIM bool
	key  pkKey
}

// deferredRef is a reference written as NULL on insert and set afterwards.
type deferredRef struct {
	en *entry
	f  *FieldMeta
}

// zeroRec is a field a flush set (a generated key, an onCreate value, the
// first version) and that was empty before.
type zeroRec struct {
	en *entry
	f  *FieldMeta
}

// undoMark is a position in the undo logs, for savepoints.
type undoMark struct{ undo, fresh, zeroed, commits, pivots int }

func (tx *txState) mark() undoMark {
	return undoMark{len(tx.undo), len(tx.fresh), len(tx.zeroed), len(tx.commits), len(tx.pivots)}
}

// pivotUndo is the pending many-to-many changes of one collection that a
// flush wrote (and cleared), to make pending again if it is undone.
type pivotUndo struct {
	h              *collHeader
	added, removed []unsafe.Pointer
}

// conn is where the flush's statements run.
func (tx *txState) conn() querier {
	if tx.sqlTx != nil {
		return tx.sqlTx
	}
	return tx.pool
}

// remember records en's state before a flush changes it.
func (tx *txState) remember(en *entry) {
	b := reflect.New(en.meta.Type).UnsafePointer()
	copyStruct(en.meta, b, en.ptr)
	var snap unsafe.Pointer
	if en.snap != nil {
		snap = reflect.New(en.meta.Type).UnsafePointer()
		copyStruct(en.meta, snap, en.snap)
	}
	tx.undo = append(tx.undo, undoRec{en: en, backup: b, snap: snap, snapJSON: append([][]byte(nil), en.snapJSON()...),
		state: en.state, inIM: en.inIM, key: en.key})
}

// restore undoes the flushes recorded from the mark on and puts the pending
// and removed lists back: what a failed flush does. Entities persisted or
// removed since the mark and never flushed keep their state (they were not
// written). The caller holds e.mu.
func (e *EntityManager) restore(tx *txState, from undoMark, pend, rem []*entry) {
	restored := e.replayUndo(tx, from)
	e.pending = e.collect(stateNew, pend, e.pending, restored)
	e.removed = e.collect(stateRemoved, rem, e.removed, restored)
}

// replayUndo undoes every record from the mark on, newest first, and returns
// the entries it put back. The caller holds e.mu.
func (e *EntityManager) replayUndo(tx *txState, from undoMark) []*entry {
	var restored []*entry
	for i := from.undo; i < len(tx.undo); i++ {
		restored = append(restored, tx.undo[i].en)
	}
	for i := from.fresh; i < len(tx.fresh); i++ {
		restored = append(restored, tx.fresh[i].en)
	}
	for i := len(tx.undo) - 1; i >= from.undo; i-- {
		u := tx.undo[i]
		en := u.en
		copyStruct(en.meta, en.ptr, u.backup)
		e.setSnap(en, u.snap)
		en.state = u.state
		if u.snapJSON != nil || en.extra != nil {
			en.ext().snapJSON = u.snapJSON
		}
		e.dropIM(en)
		if u.inIM {
			e.addIMKey(en, u.key)
		}
		e.setPtr(en.ptr, en)
		if en.snap != nil {
			e.track(en)
		}
	}
	for i := len(tx.fresh) - 1; i >= from.fresh; i-- {
		r := tx.fresh[i]
		en := r.en
		e.setSnap(en, nil)
		en.state = stateNew
		if en.extra != nil {
			en.extra.snapJSON = nil
		}
		e.dropIM(en)
		if r.inIM {
			en.key = r.key
			e.addIMKey(en, r.key)
		}
		e.setPtr(en.ptr, en)
	}
	for i := len(tx.zeroed) - 1; i >= from.zeroed; i-- {
		z := tx.zeroed[i]
		z.f.value(z.en.ptr).SetZero()
	}
	tx.undo, tx.fresh, tx.zeroed = tx.undo[:from.undo], tx.fresh[:from.fresh], tx.zeroed[:from.zeroed]
	clear(tx.commits[from.commits:])
	tx.commits = tx.commits[:from.commits]
	for i := len(tx.pivots) - 1; i >= from.pivots; i-- {
		pu := tx.pivots[i]
		pu.h.added, pu.h.removed = pu.added, pu.removed
	}
	clear(tx.pivots[from.pivots:])
	tx.pivots = tx.pivots[:from.pivots]
	return restored
}

// collect returns the entries of the lists, in order and once each, that are
// still tracked and in state st.
func (e *EntityManager) collect(st entryState, lists ...[]*entry) []*entry {
	seen := map[*entry]bool{}
	var out []*entry
	for _, list := range lists {
		for _, en := range list {
			if !seen[en] && en.state == st && e.rec(en.ptr) == en {
				seen[en] = true
				out = append(out, en)
			}
		}
	}
	return out
}

// Begin starts a transaction on the manager: its finds and flushes run in it
// until Commit or Rollback. A Begin inside a transaction is an error (use
// Transactional for nesting).
func (e *EntityManager) Begin(ctx context.Context) error {
	e, err := e.usable(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tx != nil {
		return errors.New("em: Begin inside a transaction; use Transactional for nested transactions")
	}
	return e.beginLocked(ctx, false)
}

// beginLocked begins e.tx. A transaction Flush begins for itself (forFlush)
// needs no record of the whole unit of work: nothing but that flush runs in
// it, and a failure puts back what the flush changed (restore), which is
// everything a rollback must undo. The caller holds e.mu.
func (e *EntityManager) beginLocked(ctx context.Context, forFlush bool) error {
	if err := ctx.Err(); err != nil {
		return err // no BEGIN for a context already done
	}
	start := time.Now()
	tx := &txState{}
	if b := e.orm.backend; b != nil {
		tb, ok := b.(TxBackend)
		if !ok {
			return fmt.Errorf("%w (%s): the unit of work is flushed without one; see Flush", ErrTransactionsUnavailable, b.Name())
		}
		bt, err := tb.Begin(ctx)
		if errors.Is(err, ErrTransactionsUnavailable) {
			return err // asked on every flush of such a store: not worth a log line
		}
		e.orm.logBackend(ctx, "BEGIN", start, err)
		if err != nil {
			return err
		}
		tx.btx = bt
	} else {
		t, err := e.orm.conn.Begin(ctx)
		e.orm.logQuery(ctx, "BEGIN", nil, start, err)
		if err != nil {
			return translateError(err, "")
		}
		tx.sqlTx = newGuardTx(t)
	}
	if forFlush {
		tx.scope = &txScope{flushOnly: true, pend: slices.Clone(e.pending), rem: slices.Clone(e.removed)}
	} else {
		tx.scope = e.openScope(tx)
	}
	e.tx = tx
	if err := e.emitUnlocked(ctx, &Event{Kind: BeforeTransaction, Manager: e}); err != nil {
		_ = e.txEnd(ctx, tx, false)
		e.tx = nil
		return err
	}
	return nil
}

// txEnd commits or rolls back tx in its store and logs it. A rollback runs
// even when ctx is canceled.
func (e *EntityManager) txEnd(ctx context.Context, tx *txState, commit bool) error {
	verb := "ROLLBACK"
	if commit {
		verb = "COMMIT"
	} else {
		ctx = context.WithoutCancel(ctx)
	}
	start := time.Now()
	if tx.btx != nil {
		var err error
		if commit {
			err = commitBackend(ctx, tx.btx)
		} else {
			err = tx.btx.Rollback(ctx)
		}
		e.orm.logBackend(ctx, verb, start, err)
		return err
	}
	var err error
	if commit {
		err = e.commitSQL(ctx, tx)
	} else {
		err = tx.sqlTx.Rollback(ctx)
	}
	e.orm.logQuery(ctx, verb, nil, start, err)
	return translateError(err, "")
}

// Commit flushes pending changes and commits the transaction begun by Begin.
// If the flush or the commit fails, the transaction is rolled back and the
// unit of work is put back as it was at Begin; the error is returned.
func (e *EntityManager) Commit(ctx context.Context) error {
	e, err := e.usable(ctx)
	if err != nil {
		return err
	}
	if err := e.Flush(ctx); err != nil {
		_ = e.Rollback(ctx)
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tx == nil {
		return fmt.Errorf("%w: Commit without Begin", ErrNoTransaction)
	}
	return e.endLocked(ctx, true)
}

// Rollback rolls back the transaction begun by Begin and puts the unit of
// work back as it was at Begin: ids assigned, snapshots taken and removals
// done by flushes inside the transaction are undone.
func (e *EntityManager) Rollback(ctx context.Context) error {
	e, err := e.usable(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tx == nil {
		return fmt.Errorf("%w: Rollback without Begin", ErrNoTransaction)
	}
	return e.endLocked(ctx, false)
}

// endLocked commits or rolls back e.tx. The caller holds e.mu.
func (e *EntityManager) endLocked(ctx context.Context, commit bool) error {
	tx := e.tx
	e.tx = nil
	if dead := tx.dead(); commit && dead != nil {
		// A flush failed in a transaction without savepoints, or a
		// statement ended the transaction (C3): the store has given it up,
		// and committing the rest would lose that part.
		rbErr := e.txEnd(ctx, tx, false)
		e.rollbackScope(tx, tx.scope)
		_ = e.emitUnlocked(ctx, &Event{Kind: AfterRollback, Manager: e})
		return errors.Join(fmt.Errorf("em: the transaction was rolled back, not committed: %w", dead), rbErr)
	}
	if commit {
		if err := e.txEnd(ctx, tx, true); errors.Is(err, ErrCommitUnknown) {
			// It may have committed: keep the unit of work as if it had,
			// so that a retry cannot write its rows twice (C4).
			e.finishCommitted(tx)
			return err
		} else if err != nil {
			// A failed commit ends the transaction in both kinds of store.
			e.rollbackScope(tx, tx.scope)
			_ = e.emitUnlocked(ctx, &Event{Kind: AfterRollback, Manager: e})
			return err
		}
		e.finishCommitted(tx)
		if err := e.emitUnlocked(ctx, &Event{Kind: AfterCommit, Manager: e}); err != nil {
			e.orm.log.WarnContext(ctx, "em: AfterCommit subscriber failed", "error", err)
		}
		e.afterCommit(ctx, tx.commits)
		return nil
	}
	err := e.txEnd(ctx, tx, false)
	e.rollbackScope(tx, tx.scope)
	if err2 := e.emitUnlocked(ctx, &Event{Kind: AfterRollback, Manager: e}); err2 != nil {
		e.orm.log.WarnContext(ctx, "em: AfterRollback subscriber failed", "error", err2)
	}
	return err
}

// finishCommitted forgets the undo log: the transaction's changes are final.
func (e *EntityManager) finishCommitted(tx *txState) {
	tx.undo, tx.fresh, tx.zeroed, tx.pivots = nil, nil, nil, nil
}

// Transactional runs fn in a transaction and commits it if fn returns nil
// (flushing first), or rolls it back if fn returns an error or panics (the
// panic is re-raised after the rollback). fn receives the manager itself,
// now inside the transaction. Called inside a transaction, it runs fn in a
// savepoint, so an inner failure rolls back only the inner part. After a
// rollback the unit of work is as it was before the call.
func (e *EntityManager) Transactional(ctx context.Context, fn func(tx *EntityManager) error) (err error) {
	e, err = e.usable(ctx)
	if err != nil {
		return err
	}
	if fn == nil {
		return errors.New("em: Transactional needs a function to run")
	}
	e.mu.Lock()
	outer := e.tx == nil
	var (
		sp       string
		scope    *txScope
		savedErr error
	)
	switch {
	case outer:
		savedErr = e.beginLocked(ctx, false)
	case e.tx.btx != nil:
		e.mu.Unlock()
		return fmt.Errorf("%w: Transactional inside a transaction needs a savepoint, which %s has not", ErrUnsupported, e.orm.backend.Name())
	default:
		scope = e.openScope(e.tx)
		sp, savedErr = e.orm.savepoint(ctx, e.tx, "mikro_sp_")
	}
	e.mu.Unlock()
	if savedErr != nil {
		return savedErr
	}

	finish := func(ok bool) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		if outer {
			if e.tx == nil {
				return fmt.Errorf("%w: the transaction was ended inside Transactional", ErrNoTransaction)
			}
			return e.endLocked(ctx, ok)
		}
		defer func() { e.tx.depth-- }()
		if ok {
			relErr := e.orm.releaseSavepoint(ctx, e.tx, sp)
			if relErr == nil {
				return nil
			}
			// Not released: the savepoint's work is not part of the
			// transaction, in the database or (below) in memory.
			err := e.orm.rollbackToSavepoint(ctx, e.tx, sp)
			e.rollbackScope(e.tx, scope)
			if err != nil {
				e.tx.kill(err)
				return errors.Join(relErr, e.tx.dead())
			}
			return relErr
		}
		err := e.orm.rollbackToSavepoint(ctx, e.tx, sp)
		e.rollbackScope(e.tx, scope)
		if err != nil {
			// The savepoint's work could not be taken back: the
			// transaction cannot go on (C3).
			e.tx.kill(err)
			return e.tx.dead()
		}
		return nil
	}

	defer func() {
		if p := recover(); p != nil {
			_ = finish(false)
			panic(p)
		}
	}()
	if err = fn(e); err == nil {
		err = e.Flush(ctx)
	}
	if err != nil {
		if rbErr := finish(false); rbErr != nil {
			return errors.Join(err, rbErr)
		}
		return err
	}
	return finish(true)
}

// InTransaction reports whether the manager is inside a transaction.
func (e *EntityManager) InTransaction() bool {
	if e.invalid() {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tx != nil
}

// conn returns where statements run: the open transaction or the pool. The
// caller holds e.mu.
func (e *EntityManager) conn() querier {
	if e.tx != nil {
		return e.tx.sqlTx
	}
	return e.orm.conn
}
