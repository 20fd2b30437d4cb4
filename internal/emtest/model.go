package emtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/mikrogo/mikro/em"
)

// The model-based test of the unit of work: rapid draws sequences of
// operations on the model's domain (MParent, MChild, MLabel), runs each on
// an entity manager and on a plain in-memory model of what must be
// committed and what is pending, and after every step compares the
// manager's state and the database's rows with the model. The contract it
// checks is the package doc's: a failed flush leaves the unit of work as
// before (C1), a rollback discards in memory what was done inside (C2), a
// dead transaction stays dead (C3). On a store without transactions it
// checks the weaker contract: Begin and Transactional fail with
// em.ErrTransactionsUnavailable, and a failed flush's retry writes each
// remaining document once.
//
// A failure prints, after rapid shrinks it, one Go statement per step.

var (
	modelChecks = flag.Int("mikro.model.checks", 0, "sequences the model-based test (emtest.RunModel) draws per store (default: a CI budget of ModelChecks)")
	modelOpsArg = flag.String("mikro.model.ops", "", "comma-separated +op/-op to enable/disable model operations (see emtest.ModelOps), or \"all\"")
)

// ModelChecks is how many sequences RunModel draws per store unless
// -mikro.model.checks or -rapid.checks says otherwise.
var ModelChecks = 300

// ModelOps switches the model's operations and faults on and off, by name
// (-mikro.model.ops=-name,+name on the command line). All are on; a store
// that cannot inject a fault skips the steps that need it.
var ModelOps = map[string]bool{
	"create":         true,
	"createLabel":    true,
	"load":           true,
	"setScore":       true,
	"rename":         true,
	"renameDup":      true, // draws unique violations
	"dupInTx":        true, // ... inside transactions too (issue 11, bug 3 / C2)
	"remove":         true,
	"addChild":       true, // Children.Add on a managed parent, Persist(child)
	"addChildNew":    true, // Children.Add on a new parent (bug 4)
	"setNote":        true,
	"removeChild":    true, // orphan removal
	"link":           true, // many-to-many (a failed flush lost or doubled pending links: found by this test)
	"linkNewLabel":   true, // link to a label not flushed yet
	"unlink":         true,
	"flush":          true,
	"refresh":        true,
	"clear":          true,
	"fork":           true,
	"conflict":       true, // a second fork bumps a version
	"conflictBatch":  true, // ... of one of a batch of versioned updates (bug 1)
	"loadPartial":    true, // a partial find, then a full one by key (bug 5)
	"addChildOrphan": true, // a child added to a parent no manager knows (bug 4)
	"begin":          true,
	"commit":         true,
	"rollback":       true, // bugs 2, 3 / C2
	"txOK":           true,
	"txFail":         true, // bugs 2, 3 / C2: a failed Transactional, nested or not
	"txPanic":        true, // as txFail, by a panic
	"faultFail":      true, // a statement fails (SQL through database/sql)
	"faultCancel":    true, // the context ends after the nth statement (bug 8 class)
	"faultKill":      true, // the connection is killed after the nth statement
	"faultLostAck":   true, // a COMMIT commits and its answer is lost (bug 8)
	"faultInTx":      true, // a fault inside a transaction (a failed RELEASE SAVEPOINT kept its work: found by this test)
	"killInTx":       true, // C3 / bug 9: a killed connection inside a transaction
	"abortInTx":      true, // the server rolls the transaction back, the connection stays (bug 9)
	"faultCommit":    true, // a fault at Commit (C2, C4)
	"deadTxChecks":   true, // C3: every call in a dead transaction fails
}

// ModelStore says what RunModel runs on.
type ModelStore struct {
	Name         string // as Store.Name
	SQL          bool
	Transactions bool // the store has transactions (all SQL stores; MongoDB replica sets)
}

// ModelKit is what the model needs of a store besides the ORM: a way to
// empty the model's tables and the faults the store can inject (nil when it
// cannot).
type ModelKit struct {
	// Reset deletes every row of the model's tables.
	Reset func(ctx context.Context) error
	// FailNth makes the nth statement from now fail (0 disarms it), and
	// Hit reports whether it did: FaultConnector.
	FailNth func(n int)
	Hit     func() bool
	// AbortNth makes the nth statement from now roll the transaction back
	// on the server and fail as a serialization failure (nil: the store
	// cannot): FaultConnector.AbortNth.
	AbortNth func(n int)
	// LoseCommitAck makes the next COMMIT commit and report a lost
	// connection (nil: the store cannot): FaultConnector.LoseCommitAck.
	LoseCommitAck func(on bool)
	// Kill kills the ORM's connections that are inside a transaction and
	// waits until they are gone; it reports how many it killed.
	Kill func(ctx context.Context) (int, error)
}

// ModelOpener opens the ORM the model runs on, once per store, with cfg
// (ModelEntities, a Debug logger the model watches), its tables created.
type ModelOpener func(t *testing.T, cfg em.Config) (*em.ORM, ModelKit)

// RunModel runs the model-based test on one store.
func RunModel(t *testing.T, store ModelStore, open ModelOpener) {
	ops := enabledOps(t)
	lg := &modelLog{}
	o, kit := open(t, em.Config{Entities: ModelEntities, Debug: true, Logger: slog.New(lg)})
	checks := ModelChecks
	if *modelChecks > 0 {
		checks = *modelChecks
	}
	restore := setRapidChecks(checks)
	defer restore()
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		if err := kit.Reset(ctx); err != nil {
			rt.Fatalf("reset the model's tables: %v", err)
		}
		md := &model{rt: rt, ctx: ctx, o: o, kit: kit, store: store, log: lg, e: o.Fork(),
			m: newMem(), committed: newDB(), keyP: map[int64]int{}, keyL: map[int64]int{}, keyK: map[int64]int{}, ops: ops}
		defer func() {
			// A failed sequence may leave a transaction open: end it, so
			// that the next one (and SQLite's single connection) goes on.
			if md.e.InTransaction() {
				_ = md.e.Rollback(ctx)
			}
		}()
		rt.Logf("e := orm.Fork() // %s", store.Name)
		actions := map[string]func(*rapid.T){"": func(*rapid.T) { md.check() }}
		for name, fn := range md.actions() {
			if ops[name] {
				actions[name] = func(rt *rapid.T) { md.rt = rt; fn() }
			}
		}
		rt.Repeat(actions)
		md.finish()
	})
}

// enabledOps applies -mikro.model.ops to ModelOps.
func enabledOps(t *testing.T) map[string]bool {
	ops := maps.Clone(ModelOps)
	for _, s := range strings.Split(*modelOpsArg, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
		case s == "all":
			for k := range ops {
				ops[k] = true
			}
		case s[0] == '+' || s[0] == '-':
			if _, ok := ops[s[1:]]; !ok {
				t.Fatalf("-mikro.model.ops: no operation %q (see emtest.ModelOps)", s[1:])
			}
			ops[s[1:]] = s[0] == '+'
		default:
			t.Fatalf("-mikro.model.ops: %q must start with + or -", s)
		}
	}
	return ops
}

var rapidFlagMu sync.Mutex

// setRapidChecks sets rapid's -rapid.checks to n unless it was given on the
// command line, and returns what puts it back.
func setRapidChecks(n int) func() {
	rapidFlagMu.Lock()
	defer rapidFlagMu.Unlock()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	f := flag.Lookup("rapid.checks")
	if set || f == nil {
		return func() {}
	}
	old := f.Value.String()
	_ = f.Value.Set(strconv.Itoa(n))
	return func() { _ = f.Value.Set(old) }
}

// modelLog is the ORM's log handler: it counts the statements ("em: query")
// and runs the armed fault after the Nth.
type modelLog struct {
	mu    sync.Mutex
	n     int
	after int    // run fire after this many statements from arming; 0: disarmed
	fire  func() // the fault
	fired bool
	last  []string
}

func (l *modelLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *modelLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *modelLog) WithGroup(string) slog.Handler            { return l }

func (l *modelLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "em: query" {
		return nil
	}
	var q string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "sql" {
			q = a.Value.String()
		}
		return true
	})
	l.mu.Lock()
	l.n++
	if len(l.last) < 64 {
		l.last = append(l.last, q)
	}
	var fire func()
	if l.after > 0 && l.n == l.after {
		fire, l.fire, l.after, l.fired = l.fire, nil, 0, true
	}
	l.mu.Unlock()
	if fire != nil {
		fire()
	}
	return nil
}

// arm runs fire after the nth statement from now.
func (l *modelLog) arm(n int, fire func()) {
	l.mu.Lock()
	l.n, l.after, l.fire, l.fired, l.last = 0, n, fire, false, nil
	l.mu.Unlock()
}

// reset disarms and restarts the count; taken returns the count, whether
// the fault fired and the statements since.
func (l *modelLog) reset() { l.arm(0, nil) }

func (l *modelLog) taken() (int, bool, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, fired, last := l.n, l.fired, l.last
	l.after, l.fire = 0, nil
	return n, fired, last
}

// The model's state.

type st uint8

const (
	stNew st = iota + 1
	stManaged
	stRemoved
)

// pvals are a parent's values: in memory (cur) or as last flushed or
// loaded (snap).
type pvals struct {
	name    string
	score   int
	version int
	kids    []int // child ids in Children
	labels  []int // label ids in Labels
}

func (v pvals) clone() pvals {
	v.kids, v.labels = slices.Clone(v.kids), slices.Clone(v.labels)
	return v
}

type mpar struct {
	obj       *MParent
	st        st
	key       int64
	cur, snap pvals
}

type mkid struct {
	obj            *MChild
	st             st
	key            int64
	note, snapNote string
	parent         int
}

type mlab struct {
	obj  *MLabel
	st   st
	key  int64
	name string
}

// mem is what the manager must hold: the entities the model gave it or
// loaded through it, by model id.
type mem struct {
	par map[int]mpar
	kid map[int]mkid
	lab map[int]mlab
}

func newMem() mem { return mem{par: map[int]mpar{}, kid: map[int]mkid{}, lab: map[int]mlab{}} }

func (m mem) clone() mem {
	c := newMem()
	for k, v := range m.par {
		v.cur, v.snap = v.cur.clone(), v.snap.clone()
		c.par[k] = v
	}
	maps.Copy(c.kid, m.kid)
	maps.Copy(c.lab, m.lab)
	return c
}

type dpar struct {
	id         int
	name       string
	score, ver int
}
type dkid struct {
	id     int
	note   string
	parent int64
}

// dbv is the rows of the model's tables, by key.
type dbv struct {
	par  map[int64]dpar
	kid  map[int64]dkid
	lab  map[int64]string
	link map[[2]int64]bool // parent key, label key
}

func newDB() dbv {
	return dbv{par: map[int64]dpar{}, kid: map[int64]dkid{}, lab: map[int64]string{}, link: map[[2]int64]bool{}}
}

func (d dbv) clone() dbv {
	return dbv{par: maps.Clone(d.par), kid: maps.Clone(d.kid), lab: maps.Clone(d.lab), link: maps.Clone(d.link)}
}

type save struct {
	m    mem
	view dbv
}

type model struct {
	rt    *rapid.T
	ctx   context.Context
	o     *em.ORM
	kit   ModelKit
	store ModelStore
	log   *modelLog
	e     *em.EntityManager

	m         mem
	committed dbv
	view      *dbv   // the transaction's view; nil outside one
	saves     []save // [0]: at Begin; then one per savepoint
	began     bool   // the transaction is Begin's (not a Transactional's)
	dead      bool   // the transaction is dead (C3)
	gone      []any  // entities that must no longer be managed
	dbDirty   bool   // the database may have changed: compare it
	next      int
	names     int
	keyP      map[int64]int // parent key → model id
	keyL      map[int64]int // label key → model id
	keyK      map[int64]int // child key → model id
	inCall    int           // depth of Transactional callbacks running
	ops       map[string]bool
}

func (md *model) fatalf(format string, args ...any) {
	md.rt.Helper()
	md.rt.Fatalf(format, args...)
}

func (md *model) logf(format string, args ...any) { md.rt.Logf(format, args...) }

func (md *model) curDB() *dbv {
	if md.view != nil {
		return md.view
	}
	return &md.committed
}

func (md *model) id() int { md.next++; return md.next }

func (md *model) freshName() string { md.names++; return "n" + strconv.Itoa(md.names) }

// pick draws one of the ids that satisfy ok, or skips the step.
func pick[V any](md *model, label string, from map[int]V, ok func(V) bool) (int, V) {
	var ids []int
	for id, v := range from {
		if ok(v) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		md.rt.Skip("no " + label)
	}
	slices.Sort(ids)
	id := rapid.SampledFrom(ids).Draw(md.rt, label)
	return id, from[id]
}

func pv(id int) string { return "p" + strconv.Itoa(id) }
func cv(id int) string { return "c" + strconv.Itoa(id) }
func lv(id int) string { return "l" + strconv.Itoa(id) }

// actions are the operations rapid draws, by the names of ModelOps.
func (md *model) actions() map[string]func() {
	return map[string]func(){
		"create":         md.opCreate,
		"createLabel":    md.opCreateLabel,
		"load":           md.opLoad,
		"setScore":       md.opSetScore,
		"rename":         func() { md.opRename(false) },
		"renameDup":      func() { md.opRename(true) },
		"remove":         md.opRemove,
		"addChild":       func() { md.opAddChild(false) },
		"addChildNew":    func() { md.opAddChild(true) },
		"setNote":        md.opSetNote,
		"removeChild":    md.opRemoveChild,
		"link":           md.opLink,
		"unlink":         md.opUnlink,
		"flush":          func() { md.opFlush("") },
		"refresh":        md.opRefresh,
		"clear":          func() { md.opClear(false) },
		"fork":           func() { md.opClear(true) },
		"conflict":       md.opConflict,
		"conflictBatch":  md.opConflictBatch,
		"loadPartial":    md.opLoadPartial,
		"addChildOrphan": md.opAddChildOrphan,
		"begin":          md.opBegin,
		"commit":         func() { md.opCommit("") },
		"rollback":       md.opRollback,
		"txOK":           func() { md.opTransactional("ok") },
		"txFail":         func() { md.opTransactional("fail") },
		"txPanic":        func() { md.opTransactional("panic") },
		"faultFail":      func() { md.opFlush("fail") },
		"faultCancel":    func() { md.opFlush("cancel") },
		"faultLostAck":   func() { md.opFlush("lostAck") },
		"faultKill":      func() { md.opFlush("kill") },
		"faultInTx":      md.opFaultInTx,
		"killInTx":       func() { md.opKillInTx() },
		"abortInTx":      md.opAbortInTx,
		"faultCommit":    md.opFaultCommit,
		"deadTxChecks":   md.opDeadChecks,
	}
}

// live skips the step in a dead transaction inside a callback; in Begin's,
// it rolls it back first (only ending a dead transaction is allowed, and
// skipping every step until an end is drawn would exhaust rapid's tries).
func (md *model) live() {
	if !md.dead {
		return
	}
	if md.inCall > 0 || !md.began {
		md.rt.Skip("the transaction is dead")
	}
	md.opRollback()
}

func (md *model) outside() {
	if md.view != nil || md.inCall > 0 {
		md.rt.Skip("inside a transaction")
	}
}

func (md *model) opCreate() {
	md.live()
	id := md.id()
	p := &MParent{Name: md.freshName(), Score: rapid.IntRange(0, 3).Draw(md.rt, "score")}
	md.logf("%s := &emtest.MParent{Name: %q, Score: %d}; must(e.Persist(%s))", pv(id), p.Name, p.Score, pv(id))
	if err := md.e.Persist(p); err != nil {
		md.fatalf("Persist: %v", err)
	}
	md.m.par[id] = mpar{obj: p, st: stNew, cur: pvals{name: p.Name, score: p.Score}}
}

func (md *model) opCreateLabel() {
	md.live()
	id := md.id()
	l := &MLabel{Name: "l" + strconv.Itoa(id)}
	md.logf("%s := &emtest.MLabel{Name: %q}; must(e.Persist(%s))", lv(id), l.Name, lv(id))
	if err := md.e.Persist(l); err != nil {
		md.fatalf("Persist: %v", err)
	}
	md.m.lab[id] = mlab{obj: l, st: stNew, name: l.Name}
}

// heldKey reports whether the manager holds the parent of that key.
func (md *model) heldP(key int64) bool {
	for _, p := range md.m.par {
		if p.key == key {
			return true
		}
	}
	return false
}

func (md *model) opLoad() {
	md.live()
	md.loadKey(md.unloadedKey(), nil)
}

// unloadedKey draws the key of a parent row the manager does not hold, or
// skips the step.
func (md *model) unloadedKey() int64 {
	var keys []int64
	for k := range md.curDB().par {
		if !md.heldP(k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		md.rt.Skip("no unloaded row")
	}
	slices.Sort(keys)
	return rapid.SampledFrom(keys).Draw(md.rt, "key")
}

// loadKey loads the parent of key k with its children and labels, which
// must give partial, if not nil: the instance a partial find of it made
// managed, completed in place.
func (md *model) loadKey(k int64, partial *MParent) {
	d := md.curDB()
	id := d.par[k].id
	md.logf("%s, err = em.FindOne[emtest.MParent](ctx, e, int64(%d) /* %s.ID */, em.FindOptions{Populate: []string{\"children\", \"labels\"}})", pv(id), k, pv(id))
	p, err := em.FindOne[MParent](md.ctx, md.e, k, em.FindOptions{Populate: []string{"children", "labels"}})
	if err != nil || p == nil {
		md.fatalf("FindOne of parent %d: %v, %v", k, p, err)
	}
	if partial != nil && p != partial {
		md.fatalf("FindOne by key of a partially loaded parent returned another instance")
	}
	row := d.par[k]
	mp := mpar{obj: p, st: stManaged, key: k, cur: pvals{name: row.name, score: row.score, version: row.ver}}
	kids, _ := p.Children.Items()
	byKey := map[int64]*MChild{}
	for _, c := range kids {
		byKey[c.ID] = c
	}
	var kks []int64
	for ck, c := range d.kid {
		if c.parent == k {
			kks = append(kks, ck)
		}
	}
	slices.Sort(kks)
	for _, ck := range kks {
		c := d.kid[ck]
		if _, held := md.m.kid[c.id]; held {
			md.fatalf("model: child %s held while its parent was not", cv(c.id))
		}
		obj := byKey[ck]
		if obj == nil {
			md.fatalf("FindOne with Populate children: child %d of parent %d missing (got %d children)", ck, k, len(kids))
		}
		md.m.kid[c.id] = mkid{obj: obj, st: stManaged, key: ck, note: c.note, snapNote: c.note, parent: id}
		mp.cur.kids = append(mp.cur.kids, c.id)
	}
	labs, _ := p.Labels.Items()
	for lk := range d.link {
		if lk[0] != k {
			continue
		}
		lid := md.keyL[lk[1]]
		mp.cur.labels = append(mp.cur.labels, lid)
		if _, held := md.m.lab[lid]; !held {
			var obj *MLabel
			for _, l := range labs {
				if l.ID == lk[1] {
					obj = l
				}
			}
			if obj == nil {
				md.fatalf("FindOne with Populate labels: label %d of parent %d missing", lk[1], k)
			}
			md.m.lab[lid] = mlab{obj: obj, st: stManaged, key: lk[1], name: d.lab[lk[1]]}
		}
	}
	slices.Sort(mp.cur.kids)
	slices.Sort(mp.cur.labels)
	mp.snap = mp.cur.clone()
	md.m.par[id] = mp
}

func alive(p mpar) bool { return p.st == stNew || p.st == stManaged }

// opLoadPartial loads a parent with only its name (Fields), then by key in
// full: that must complete the same instance (issue 11, bug 5), not answer
// from the identity map with the partial one.
func (md *model) opLoadPartial() {
	md.live()
	k := md.unloadedKey()
	md.logf("part, err := em.Find[emtest.MParent](ctx, e, em.F{\"id\": int64(%d)}, em.FindOptions{Fields: []string{\"name\"}})", k)
	part, err := em.Find[MParent](md.ctx, md.e, em.F{"id": k}, em.FindOptions{Fields: []string{"name"}})
	if err != nil || len(part) != 1 {
		md.fatalf("partial Find of parent %d: %d rows, %v", k, len(part), err)
	}
	md.loadKey(k, part[0])
}

// opConflictBatch changes the score of several clean managed parents, as
// one UPDATE can write them, lets another fork bump one of them, and
// flushes: the flush must fail with an *OptimisticLockError naming that
// parent and write none of them (issue 11, bug 1), which the check after
// the step compares with the database.
func (md *model) opConflictBatch() {
	md.outside()
	if !md.store.Transactions {
		md.rt.Skip("without transactions a batch is not all or nothing")
	}
	if !md.plan().empty() {
		md.rt.Skip("pending work: the batch must be the flush's only statement")
	}
	var ids []int
	for _, id := range sortedIDs(md.m.par) {
		p := md.m.par[id]
		if _, ok := md.committed.par[p.key]; ok && p.st == stManaged && md.committed.par[p.key].ver == p.snap.version {
			ids = append(ids, id)
		}
	}
	if len(ids) < 2 {
		md.rt.Skip("fewer than two clean flushed parents")
	}
	ids = ids[:rapid.IntRange(2, min(len(ids), 4)).Draw(md.rt, "batch")]
	s := rapid.IntRange(4, 9).Draw(md.rt, "score")
	for _, id := range ids {
		p := md.m.par[id]
		// Every parent of the batch must change: one whose score is s
		// already would be left out of the flush, and with it, when it is
		// the stale one, the conflict.
		ns := s
		if p.cur.score == ns {
			ns += 6
		}
		md.logf("%s.Score = %d", pv(id), ns)
		p.obj.Score, p.cur.score = ns, ns
		md.m.par[id] = p
	}
	stale := md.m.par[ids[rapid.IntRange(0, len(ids)-1).Draw(md.rt, "stale")]]
	md.conflictOn(stale.key)
	p := md.plan()
	md.logf("err = e.Flush(ctx) // %v", p)
	md.log.reset()
	err := md.e.Flush(md.ctx)
	md.log.taken()
	var lock *em.OptimisticLockError
	if !errors.As(err, &lock) || lock.ID != any(stale.key) {
		md.fatalf("a versioned batch with one stale parent (%d): %v, want an *OptimisticLockError naming it", stale.key, err)
	}
	md.flushOutcome(p, err, false, "Flush")
}

// opAddChildOrphan adds a child to a parent no manager knows yet and
// persists only the child: the flush must refuse, before any statement,
// with an error that names the collection (issue 11, bug 4); persisting
// the parent then links them, and both are pending.
func (md *model) opAddChildOrphan() {
	md.live()
	pid, cid := md.id(), md.id()
	par := &MParent{Name: md.freshName()}
	c := &MChild{Note: "c" + strconv.Itoa(cid)}
	md.logf("%s := &emtest.MParent{Name: %q}; %s := &emtest.MChild{Note: %q}; %s.Children.Add(%s); must(e.Persist(%s))", pv(pid), par.Name, cv(cid), c.Note, pv(pid), cv(cid), cv(cid))
	par.Children.Add(c)
	if err := md.e.Persist(c); err != nil {
		md.fatalf("Persist: %v", err)
	}
	md.logf("err = e.Flush(ctx) // must be refused: the child's owner is unknown")
	md.log.reset()
	err := md.e.Flush(md.ctx)
	n, _, q := md.log.taken()
	if !errors.Is(err, em.ErrValidation) || !strings.Contains(err.Error(), "MParent.Children") || n != 0 {
		md.fatalf("Flush of a child added to an unknown parent: %v after %d statements %q, want an ErrValidation naming MParent.Children and none", err, n, q)
	}
	md.logf("must(e.Persist(%s))", pv(pid))
	if err := md.e.Persist(par); err != nil {
		md.fatalf("Persist: %v", err)
	}
	if !c.Parent.IsSet() {
		md.fatalf("persisting the parent did not set its child's reference")
	}
	md.m.par[pid] = mpar{obj: par, st: stNew, cur: pvals{name: par.Name, kids: []int{cid}}}
	md.m.kid[cid] = mkid{obj: c, st: stNew, note: c.Note, parent: pid}
}

func (md *model) opSetScore() {
	md.live()
	id, p := pick(md, "parent", md.m.par, alive)
	s := rapid.IntRange(0, 3).Draw(md.rt, "score")
	md.logf("%s.Score = %d", pv(id), s)
	p.obj.Score, p.cur.score = s, s
	md.m.par[id] = p
}

func (md *model) opRename(dup bool) {
	md.live()
	if dup && (md.view != nil || md.inCall > 0) && !md.ops["dupInTx"] {
		md.rt.Skip("dupInTx is off")
	}
	id, p := pick(md, "parent", md.m.par, alive)
	name := md.freshName()
	if dup {
		// Another parent's name, in memory or in the database.
		var names []string
		for oid, o := range md.m.par {
			if oid != id {
				names = append(names, o.cur.name)
			}
		}
		for _, r := range md.curDB().par {
			names = append(names, r.name)
		}
		if len(names) == 0 {
			md.rt.Skip("no other name")
		}
		slices.Sort(names)
		name = rapid.SampledFrom(names).Draw(md.rt, "name")
	}
	md.logf("%s.Name = %q", pv(id), name)
	p.obj.Name, p.cur.name = name, name
	md.m.par[id] = p
}

func (md *model) opRemove() {
	md.live()
	id, p := pick(md, "childless parent", md.m.par, func(p mpar) bool {
		return p.st == stManaged && len(p.cur.kids)+len(p.snap.kids)+len(p.cur.labels)+len(p.snap.labels) == 0
	})
	md.logf("must(e.Remove(%s))", pv(id))
	if err := md.e.Remove(p.obj); err != nil {
		md.fatalf("Remove: %v", err)
	}
	p.st = stRemoved
	md.m.par[id] = p
}

func (md *model) opAddChild(toNew bool) {
	md.live()
	want := stManaged
	if toNew {
		want = stNew
	}
	pid, p := pick(md, "parent", md.m.par, func(p mpar) bool { return p.st == want })
	id := md.id()
	c := &MChild{Note: "c" + strconv.Itoa(id)}
	md.logf("%s := &emtest.MChild{Note: %q}; %s.Children.Add(%s); must(e.Persist(%s))", cv(id), c.Note, pv(pid), cv(id), cv(id))
	p.obj.Children.Add(c)
	if err := md.e.Persist(c); err != nil {
		md.fatalf("Persist: %v", err)
	}
	p.cur.kids = append(p.cur.kids, id)
	md.m.par[pid] = p
	md.m.kid[id] = mkid{obj: c, st: stNew, note: c.Note, parent: pid}
}

// inColl reports whether child id is in its parent's collection in memory.
func (md *model) inColl(id int) bool {
	k := md.m.kid[id]
	return slices.Contains(md.m.par[k.parent].cur.kids, id)
}

func (md *model) opSetNote() {
	md.live()
	id, k := pick(md, "child", md.m.kid, func(k mkid) bool { return md.inColl0(k) })
	n := rapid.SampledFrom([]string{"x", "y", "z"}).Draw(md.rt, "note")
	md.logf("%s.Note = %q", cv(id), n)
	k.obj.Note, k.note = n, n
	md.m.kid[id] = k
}

func (md *model) inColl0(k mkid) bool {
	p, ok := md.m.par[k.parent]
	return ok && alive(p) && slices.ContainsFunc(p.cur.kids, func(i int) bool { return md.m.kid[i].obj == k.obj })
}

func (md *model) opRemoveChild() {
	md.live()
	id, k := pick(md, "flushed child", md.m.kid, func(k mkid) bool { return k.st == stManaged && md.inColl0(k) })
	p := md.m.par[k.parent]
	md.logf("%s.Children.Remove(%s) // orphan removal", pv(k.parent), cv(id))
	p.obj.Children.Remove(k.obj)
	p.cur.kids = slices.DeleteFunc(slices.Clone(p.cur.kids), func(i int) bool { return i == id })
	md.m.par[k.parent] = p
}

func (md *model) opLink() {
	md.live()
	pid, p := pick(md, "parent", md.m.par, alive)
	lid, l := pick(md, "label", md.m.lab, func(l mlab) bool { return l.st != stNew || md.ops["linkNewLabel"] })
	if slices.Contains(p.cur.labels, lid) {
		md.rt.Skip("linked already")
	}
	md.logf("%s.Labels.Add(%s)", pv(pid), lv(lid))
	p.obj.Labels.Add(l.obj)
	p.cur.labels = append(slices.Clone(p.cur.labels), lid)
	slices.Sort(p.cur.labels)
	md.m.par[pid] = p
}

func (md *model) opUnlink() {
	md.live()
	pid, p := pick(md, "linked parent", md.m.par, func(p mpar) bool { return alive(p) && len(p.cur.labels) > 0 })
	lid := rapid.SampledFrom(p.cur.labels).Draw(md.rt, "label")
	md.logf("%s.Labels.Remove(%s)", pv(pid), lv(lid))
	p.obj.Labels.Remove(md.m.lab[lid].obj)
	p.cur.labels = slices.DeleteFunc(slices.Clone(p.cur.labels), func(i int) bool { return i == lid })
	md.m.par[pid] = p
}

func (md *model) opRefresh() {
	md.live()
	id, p := pick(md, "clean flushed parent", md.m.par, func(p mpar) bool {
		return p.st == stManaged && slices.Equal(p.cur.kids, p.snap.kids) && slices.Equal(p.cur.labels, p.snap.labels)
	})
	md.logf("must(e.Refresh(ctx, %s))", pv(id))
	if err := md.e.Refresh(md.ctx, p.obj); err != nil {
		md.fatalf("Refresh: %v", err)
	}
	row := md.curDB().par[p.key]
	p.cur.name, p.cur.score, p.cur.version = row.name, row.score, row.ver
	p.snap.name, p.snap.score, p.snap.version = row.name, row.score, row.ver
	md.m.par[id] = p
}

// opClear detaches everything, or starts over on a new fork.
func (md *model) opClear(fork bool) {
	md.outside()
	if fork {
		md.logf("e = orm.Fork()")
		md.e = md.o.Fork()
	} else {
		md.logf("e.Clear()")
		md.e.Clear()
		for _, p := range md.m.par {
			md.gone = append(md.gone, p.obj)
		}
		for _, k := range md.m.kid {
			md.gone = append(md.gone, k.obj)
		}
		for _, l := range md.m.lab {
			md.gone = append(md.gone, l.obj)
		}
	}
	md.m = newMem()
}

// opConflict changes a row from another fork: a flush of the stale
// instance must fail with ErrOptimisticLock.
func (md *model) opConflict() {
	md.outside()
	id, p := pick(md, "flushed parent", md.m.par, func(p mpar) bool {
		_, ok := md.committed.par[p.key]
		return p.st != stNew && ok
	})
	md.logf("// %s:", pv(id))
	md.conflictOn(p.key)
}

// conflictOn bumps the version of the parent row of key k from another
// fork (another writer).
func (md *model) conflictOn(k int64) {
	md.logf("other := orm.Fork(); o, _ := em.FindOne[emtest.MParent](ctx, other, int64(%d)); o.Score += 10; must(other.Flush(ctx))", k)
	other := md.o.Fork()
	o, err := em.FindOne[MParent](md.ctx, other, k)
	if err != nil || o == nil {
		md.fatalf("conflicting fork: FindOne %d: %v %v", k, o, err)
	}
	o.Score += 10
	if err := other.Flush(md.ctx); err != nil {
		md.fatalf("conflicting fork: Flush: %v", err)
	}
	r := md.committed.par[k]
	r.score += 10
	r.ver++
	md.committed.par[k] = r
	md.dbDirty = true
}

// The flush's plan, as the model sees it.

type uniq uint8

const (
	uniqNo uniq = iota
	uniqMaybe
	uniqSure
)

type mplan struct {
	insP, updP, delP []int
	insK, updK, delK []int
	insL             []int
	linkAdd, linkDel [][2]int // parent id, label id
	lock             bool
	uniq             uniq
}

func (p mplan) empty() bool {
	return len(p.insP)+len(p.updP)+len(p.delP)+len(p.insK)+len(p.updK)+len(p.delK)+len(p.insL)+len(p.linkAdd)+len(p.linkDel) == 0
}

func (p mplan) String() string {
	return fmt.Sprintf("insert parents %v, update %v, delete %v; insert children %v, update %v, delete %v; insert labels %v; link %v, unlink %v; stale %v, unique %d",
		p.insP, p.updP, p.delP, p.insK, p.updK, p.delK, p.insL, p.linkAdd, p.linkDel, p.lock, p.uniq)
}

func sortedIDs[V any](m map[int]V) []int {
	ids := slices.Collect(maps.Keys(m))
	slices.Sort(ids)
	return ids
}

func (md *model) plan() mplan {
	var p mplan
	d := md.curDB()
	for _, id := range sortedIDs(md.m.par) {
		mp := md.m.par[id]
		switch mp.st {
		case stNew:
			p.insP = append(p.insP, id)
		case stManaged:
			if mp.cur.name != mp.snap.name || mp.cur.score != mp.snap.score {
				p.updP = append(p.updP, id)
				if d.par[mp.key].ver != mp.snap.version {
					p.lock = true
				}
			}
		case stRemoved:
			p.delP = append(p.delP, id)
			if d.par[mp.key].ver != mp.snap.version {
				p.lock = true
			}
		}
		if mp.st == stRemoved {
			continue
		}
		for _, l := range mp.cur.labels {
			if !slices.Contains(mp.snap.labels, l) {
				p.linkAdd = append(p.linkAdd, [2]int{id, l})
			}
		}
		for _, l := range mp.snap.labels {
			if !slices.Contains(mp.cur.labels, l) {
				p.linkDel = append(p.linkDel, [2]int{id, l})
			}
		}
	}
	for _, id := range sortedIDs(md.m.kid) {
		k := md.m.kid[id]
		in := md.inColl(id)
		switch {
		case k.st == stNew && in:
			p.insK = append(p.insK, id)
		case k.st == stManaged && !in:
			p.delK = append(p.delK, id)
		case k.st == stManaged && k.note != k.snapNote:
			p.updK = append(p.updK, id)
		}
	}
	for _, id := range sortedIDs(md.m.lab) {
		if md.m.lab[id].st == stNew {
			p.insL = append(p.insL, id)
		}
	}
	// Unique names: the rows after the flush must not repeat one (sure);
	// a written name that another row has before the flush may or may not
	// collide, by the order of the statements (maybe).
	final := map[int64]string{}
	for k, r := range d.par {
		final[k] = r.name
	}
	var written []string
	for _, id := range p.delP {
		delete(final, md.m.par[id].key)
	}
	for _, id := range p.updP {
		mp := md.m.par[id]
		final[mp.key] = mp.cur.name
		if mp.cur.name != mp.snap.name {
			written = append(written, mp.cur.name)
		}
	}
	count := map[string]int{}
	for _, n := range final {
		count[n]++
	}
	for _, id := range p.insP {
		n := md.m.par[id].cur.name
		count[n]++
		written = append(written, n)
	}
	for _, n := range count {
		if n > 1 {
			p.uniq = uniqSure
		}
	}
	if p.uniq == uniqNo {
		for _, n := range written {
			for _, r := range d.par {
				if r.name == n {
					p.uniq = uniqMaybe // another row had it before this flush
				}
			}
		}
	}
	return p
}

// apply records a successful flush of p in the model.
func (md *model) apply(p mplan) {
	d := md.curDB()
	seen := map[int64]bool{}
	for k := range d.par {
		seen[k] = true
	}
	for _, id := range p.insP {
		mp := md.m.par[id]
		if mp.obj.ID == 0 || seen[mp.obj.ID] {
			md.fatalf("after Flush: %s got key %d (zero or taken)", pv(id), mp.obj.ID)
		}
		mp.key, mp.st = mp.obj.ID, stManaged
		mp.cur.version = 1
		md.keyP[mp.key] = id
		d.par[mp.key] = dpar{id: id, name: mp.cur.name, score: mp.cur.score, ver: 1}
		md.m.par[id] = mp
	}
	for _, id := range p.updP {
		mp := md.m.par[id]
		mp.cur.version = mp.snap.version + 1
		d.par[mp.key] = dpar{id: id, name: mp.cur.name, score: mp.cur.score, ver: mp.cur.version}
		md.m.par[id] = mp
	}
	for _, id := range p.insL {
		l := md.m.lab[id]
		if l.obj.ID == 0 {
			md.fatalf("after Flush: %s got no key", lv(id))
		}
		l.key, l.st = l.obj.ID, stManaged
		md.keyL[l.key] = id
		d.lab[l.key] = l.name
		md.m.lab[id] = l
	}
	for _, id := range p.insK {
		k := md.m.kid[id]
		if k.obj.ID == 0 {
			md.fatalf("after Flush: %s got no key", cv(id))
		}
		k.key, k.st, k.snapNote = k.obj.ID, stManaged, k.note
		md.keyK[k.key] = id
		d.kid[k.key] = dkid{id: id, note: k.note, parent: md.m.par[k.parent].key}
		md.m.kid[id] = k
	}
	for _, id := range p.updK {
		k := md.m.kid[id]
		k.snapNote = k.note
		r := d.kid[k.key]
		r.note = k.note
		d.kid[k.key] = r
		md.m.kid[id] = k
	}
	for _, id := range p.delK {
		k := md.m.kid[id]
		delete(d.kid, k.key)
		delete(md.m.kid, id)
		md.gone = append(md.gone, k.obj)
	}
	for _, l := range p.linkAdd {
		d.link[[2]int64{md.m.par[l[0]].key, md.m.lab[l[1]].key}] = true
	}
	for _, l := range p.linkDel {
		delete(d.link, [2]int64{md.m.par[l[0]].key, md.m.lab[l[1]].key})
	}
	for _, id := range p.delP {
		mp := md.m.par[id]
		delete(d.par, mp.key)
		delete(md.m.par, id)
		md.gone = append(md.gone, mp.obj)
	}
	for id, mp := range md.m.par {
		mp.snap = mp.cur.clone()
		md.m.par[id] = mp
	}
	md.dbDirty = true
}

// flushOutcome checks a flush's error against the plan and the fault, and
// records a success. fired says whether an injected fault happened.
func (md *model) flushOutcome(p mplan, err error, fired bool, what string) (failed bool) {
	if err == nil {
		if p.lock || p.uniq == uniqSure {
			md.fatalf("%s succeeded, but the model says it must fail (%v)", what, p)
		}
		md.apply(p)
		md.noopFlush()
		return false
	}
	if md.commitUnknown(p, err, fired) {
		return true
	}
	ok := fired || p.lock && errors.Is(err, em.ErrOptimisticLock) || p.uniq != uniqNo && errors.Is(err, em.ErrUniqueViolation)
	if !ok {
		md.fatalf("%s failed unexpectedly (plan: %v): %v", what, p, err)
	}
	md.logf("// %s failed: %v", what, err)
	return true
}

// commitUnknown handles a COMMIT whose outcome em could not learn (C4): the
// unit of work must be as if it committed, so that a retry cannot write
// the work twice (the next flush writes nothing); the database may hold
// the work or not, so the model then takes it as it is, on a new fork, as
// the error tells a caller to do. It reports whether err was such an error.
func (md *model) commitUnknown(p mplan, err error, fired bool) bool {
	if !errors.Is(err, em.ErrCommitUnknown) {
		return false
	}
	if !fired {
		md.fatalf("the commit outcome is unknown, with no fault injected: %v", err)
	}
	md.logf("// the commit outcome is unknown: %v", err)
	md.apply(p)
	if md.view != nil {
		md.committedTx()
	}
	md.noopFlush()
	md.resync()
	return true
}

// noopFlush checks that a flush right after a successful one writes
// nothing: nothing of the flushed work is still pending.
func (md *model) noopFlush() {
	md.log.reset()
	if err := md.e.Flush(md.ctx); err != nil {
		md.fatalf("a second Flush right after a successful one: %v", err)
	}
	if n, _, q := md.log.taken(); n != 0 {
		md.fatalf("a second Flush right after a successful one ran %d statements: %q", n, q)
	}
}

// arm prepares the fault kind ("" none) to strike at statement n (the
// nth logged statement for cancel and kill: after it; the nth statement
// itself for fail). It returns the context to flush with and a func that
// disarms it and reports whether the fault struck.
func (md *model) arm(kind string, n int) (context.Context, func() bool) {
	ctx := md.ctx
	switch kind {
	case "":
		md.log.reset()
		return ctx, func() bool { md.log.taken(); return false }
	case "fail":
		if md.kit.FailNth == nil {
			md.rt.Skip("no statement faults on " + md.store.Name)
		}
		md.log.reset()
		md.kit.FailNth(n)
		return ctx, func() bool { hit := md.kit.Hit(); md.kit.FailNth(0); md.log.taken(); return hit }
	case "abort":
		if md.kit.AbortNth == nil {
			md.rt.Skip("no server-side aborts on " + md.store.Name)
		}
		md.log.reset()
		md.kit.AbortNth(n)
		return ctx, func() bool { hit := md.kit.Hit(); md.kit.AbortNth(0); md.log.taken(); return hit }
	case "lostAck":
		if md.kit.LoseCommitAck == nil {
			md.rt.Skip("no lost COMMIT answers on " + md.store.Name)
		}
		md.log.reset()
		md.kit.LoseCommitAck(true)
		return ctx, func() bool { hit := md.kit.Hit(); md.kit.LoseCommitAck(false); md.log.taken(); return hit }
	case "cancel":
		c, cancel := context.WithCancel(ctx)
		md.log.arm(n, cancel)
		return c, func() bool { _, fired, _ := md.log.taken(); cancel(); return fired }
	case "kill":
		if md.kit.Kill == nil {
			md.rt.Skip("no connection kills on " + md.store.Name)
		}
		killed := 0
		md.log.arm(n, func() {
			var err error
			if killed, err = md.kit.Kill(context.Background()); err != nil {
				md.fatalf("kill: %v", err)
			}
		})
		return ctx, func() bool { md.log.taken(); return killed > 0 }
	}
	panic("emtest: unknown fault " + kind)
}

func faultCode(kind string, n int) string {
	switch kind {
	case "fail":
		return fmt.Sprintf("faults.FailNth(%d); ", n)
	case "lostAck":
		return "faults.LoseCommitAck(true); "
	case "abort":
		return fmt.Sprintf("faults.AbortNth(%d); ", n)
	case "cancel":
		return fmt.Sprintf("ctx := cancelAfterStatements(%d); ", n)
	case "kill":
		return fmt.Sprintf("killAfterStatements(%d); ", n)
	}
	return ""
}

// opFlush flushes, with a fault or not. Outside a transaction a failed
// flush must leave the database and the unit of work as they were (C1);
// the checks after the step prove it. A fault inside a transaction is
// opFaultInTx's.
func (md *model) opFlush(kind string) {
	md.live()
	if kind != "" && (md.view != nil || md.inCall > 0) {
		md.rt.Skip("faults inside transactions are faultInTx's")
	}
	md.supports(kind)
	n := 0
	if kind != "" {
		n = rapid.IntRange(1, 6).Draw(md.rt, "statement")
	}
	md.flushWith(kind, n)
}

// supports skips the step if the store cannot inject the fault.
func (md *model) supports(kind string) {
	if kind == "fail" && md.kit.FailNth == nil || kind == "kill" && md.kit.Kill == nil || kind == "lostAck" && md.kit.LoseCommitAck == nil || kind == "abort" && md.kit.AbortNth == nil {
		md.rt.Skip("no " + kind + " faults on " + md.store.Name)
	}
}

func (md *model) flushWith(kind string, n int) (failed bool) {
	p := md.plan()
	md.logf("%serr = e.Flush(ctx) // %v", faultCode(kind, n), p)
	ctx, done := md.arm(kind, n)
	err := md.e.Flush(ctx)
	fired := done()
	if errors.Is(err, em.ErrTransactionDead) {
		// The fault struck the savepoint's rollback: the transaction
		// cannot go on (C3), and only ending it is allowed.
		if !fired || md.view == nil {
			md.fatalf("Flush reports a dead transaction, with no fault inside one: %v", err)
		}
		md.dead = true
	}
	failed = md.flushOutcome(p, err, fired, "Flush")
	if failed && !md.store.Transactions {
		md.untransactedFailure(p, err, fired)
	}
	return failed
}

// untransactedFailure checks the weaker contract of a store without
// transactions: the documents a failed flush wrote are marked persisted,
// the rest is still pending, and the retry writes each remaining one once.
func (md *model) untransactedFailure(p mplan, err error, fired bool) {
	// Inserted parents: a key in memory iff the row is in the database.
	got := md.readDB()
	for _, id := range p.insP {
		mp := md.m.par[id]
		var inDB bool
		for _, r := range got.par {
			inDB = inDB || r.name == mp.cur.name && r.score == mp.cur.score && mp.obj.ID != 0
		}
		if (mp.obj.ID != 0) != inDB {
			md.fatalf("after a failed flush without a transaction: %s has key %d in memory, its document stored: %v", pv(id), mp.obj.ID, inDB)
		}
	}
	if fired && p.uniq == uniqNo && !p.lock {
		// The cause is gone: the retry must write everything the plan
		// holds, each document once.
		md.logf("err = e.Flush(ctx) // the retry")
		md.log.reset()
		if err := md.e.Flush(md.ctx); err != nil {
			md.fatalf("the retry of a failed flush without a transaction: %v", err)
		}
		md.log.taken()
		md.apply(p) // every document of the plan, once: compared below
		md.compareDB()
	}
	md.resync()
}

// resync takes the database as it is and starts over on a new fork: after
// a partial flush the model cannot know each snapshot.
func (md *model) resync() {
	md.logf("e = orm.Fork() // the model takes the database as it is")
	d := md.readDB()
	// Rows a partial flush wrote that the model did not record get ids.
	for k, r := range d.par {
		if r.id == 0 {
			r.id = md.id()
			md.keyP[k] = r.id
			d.par[k] = r
		}
	}
	for k, r := range d.kid {
		if r.id == 0 {
			r.id = md.id()
			md.keyK[k] = r.id
			d.kid[k] = r
		}
	}
	for k := range d.lab {
		if _, ok := md.keyL[k]; !ok {
			md.keyL[k] = md.id()
		}
	}
	md.committed = d
	md.e = md.o.Fork()
	md.m = newMem()
	md.dbDirty = false
}

// The transaction operations.

func (md *model) begin() {
	md.view = ptr(md.committed.clone())
	md.saves = []save{{m: md.m.clone(), view: md.committed.clone()}}
}

// cleanStart skips a transaction's start while the pending work would make
// its commit fail (and roll back), unless the rollback ops are on.
func (md *model) cleanStart() {
	if p := md.plan(); (p.uniq != uniqNo || p.lock) && !md.ops["dupInTx"] {
		md.rt.Skip("the pending work may fail: dupInTx is off")
	}
}

func (md *model) opBegin() {
	md.outside()
	md.cleanStart()
	md.logf("err = e.Begin(ctx)")
	err := md.e.Begin(md.ctx)
	if !md.store.Transactions {
		if !errors.Is(err, em.ErrTransactionsUnavailable) {
			md.fatalf("Begin without transactions: %v, want em.ErrTransactionsUnavailable", err)
		}
		return
	}
	if err != nil {
		md.fatalf("Begin: %v", err)
	}
	md.begin()
	md.began = true
}

// rolledBack puts the model back at savepoint i (0: the transaction's
// start, which ends it): C2.
func (md *model) rolledBack(i int) {
	s := md.saves[i]
	for id, p := range md.m.par {
		if _, ok := s.m.par[id]; !ok {
			md.gone = append(md.gone, p.obj)
		}
	}
	for id, k := range md.m.kid {
		if _, ok := s.m.kid[id]; !ok {
			md.gone = append(md.gone, k.obj)
		}
	}
	for id, l := range md.m.lab {
		if _, ok := s.m.lab[id]; !ok {
			md.gone = append(md.gone, l.obj)
		}
	}
	md.m = s.m.clone()
	// An entity the rolled-back part deleted (flushed away) is managed
	// again, as it was when the part began.
	held := map[any]bool{}
	for _, p := range md.m.par {
		held[p.obj] = true
	}
	for _, k := range md.m.kid {
		held[k.obj] = true
	}
	for _, l := range md.m.lab {
		held[l.obj] = true
	}
	md.gone = slices.DeleteFunc(md.gone, func(g any) bool { return held[g] })
	md.saves = md.saves[:i]
	if i == 0 {
		md.view, md.began, md.dead = nil, false, false
	} else {
		md.view = ptr(s.view.clone())
	}
	md.dbDirty = true
	md.restoreObjects()
}

// restoreObjects is not the model's business: the manager must have put
// the objects back. It only forgets the objects the model no longer holds.
func (md *model) restoreObjects() {}

func (md *model) committedTx() {
	md.committed = *md.view
	md.view, md.saves, md.began = nil, nil, false
	md.dbDirty = true
}

func (md *model) opCommit(kind string) {
	if !md.began || md.inCall > 0 {
		md.rt.Skip("no Begin")
	}
	n := 0
	if kind != "" {
		n = rapid.IntRange(1, 6).Draw(md.rt, "statement")
	}
	p := md.plan()
	md.logf("%serr = e.Commit(ctx) // %v", faultCode(kind, n), p)
	ctx, done := md.arm(kind, n)
	err := md.e.Commit(ctx)
	fired := done()
	if md.dead {
		if err == nil {
			md.fatalf("Commit of a dead transaction succeeded")
		}
		// A kill em had not seen yet may strike the COMMIT itself: then
		// its outcome is unknown (C4).
		if md.commitUnknown(p, err, true) {
			return
		}
		md.rolledBack(0)
		return
	}
	if err == nil {
		if p.lock || p.uniq == uniqSure {
			md.fatalf("Commit succeeded, but the model says its flush must fail (%v)", p)
		}
		md.apply(p)
		md.committedTx()
		md.noopFlush()
		return
	}
	if md.commitUnknown(p, err, fired) {
		return
	}
	if !(fired || p.lock && errors.Is(err, em.ErrOptimisticLock) || p.uniq != uniqNo && errors.Is(err, em.ErrUniqueViolation)) {
		md.fatalf("Commit failed unexpectedly (plan: %v): %v", p, err)
	}
	md.logf("// Commit failed: %v", err)
	md.rolledBack(0)
}

func (md *model) opRollback() {
	if !md.began || md.inCall > 0 {
		md.rt.Skip("no Begin")
	}
	md.logf("must(e.Rollback(ctx))")
	if err := md.e.Rollback(md.ctx); err != nil {
		md.fatalf("Rollback: %v", err)
	}
	md.rolledBack(0)
}

var errCallback = errors.New("emtest: the callback fails on purpose")

type panicValue struct{}

// innerOps are what a Transactional callback does.
func (md *model) innerOps() []string {
	return []string{"create", "setScore", "rename", "addChild", "setNote", "link", "load", "flush", "nested"}
}

// opTransactional runs Transactional (nested when inside a transaction)
// whose callback does a few operations and then succeeds, fails or panics.
func (md *model) opTransactional(how string) {
	md.live()
	if md.inCall > 2 {
		md.rt.Skip("deep enough")
	}
	outer := md.view == nil
	if outer {
		md.cleanStart()
	}
	if !md.store.Transactions {
		md.logf("err = e.Transactional(ctx, func(*em.EntityManager) error { return nil })")
		err := md.e.Transactional(md.ctx, func(*em.EntityManager) error { return nil })
		if !errors.Is(err, em.ErrTransactionsUnavailable) {
			md.fatalf("Transactional without transactions: %v, want em.ErrTransactionsUnavailable", err)
		}
		return
	}
	md.logf("err = e.Transactional(ctx, func(e *em.EntityManager) error {")
	var planAtEnd mplan
	level := -1
	var recovered any
	ran := false
	func() {
		defer func() { recovered = recover() }()
		err := md.e.Transactional(md.ctx, func(tx *em.EntityManager) error {
			ran = true
			if outer {
				md.begin()
			} else {
				md.saves = append(md.saves, save{m: md.m.clone(), view: md.view.clone()})
			}
			level = len(md.saves) - 1
			md.inCall++
			defer func() { md.inCall-- }()
			steps := rapid.IntRange(0, 4).Draw(md.rt, "steps")
			acts := md.actions()
			for range steps {
				op := rapid.SampledFrom(md.innerOps()).Draw(md.rt, "inner")
				func() {
					// A step that does not apply is skipped here, not the
					// whole operation.
					defer func() {
						if r := recover(); r != nil && !isSkip(r) {
							panic(r)
						}
					}()
					switch op {
					case "nested":
						kinds := []string{"ok"}
						if md.ops["txFail"] {
							kinds = append(kinds, "fail")
						}
						if md.ops["txPanic"] {
							kinds = append(kinds, "panic")
						}
						md.opTransactional(rapid.SampledFrom(kinds).Draw(md.rt, "nested"))
					case "flush":
						md.flushWith("", 0)
					default:
						md.withSkip(acts[op])
					}
				}()
			}
			planAtEnd = md.plan()
			switch how {
			case "fail":
				md.logf("return errCallback })")
				return errCallback
			case "panic":
				md.logf("panic(\"on purpose\") })")
				panic(panicValue{})
			}
			md.logf("return nil }) // then flushes: %v", planAtEnd)
			return nil
		})
		if !ran {
			md.fatalf("Transactional did not run its callback: %v", err)
		}
		switch how {
		case "fail":
			if !errors.Is(err, errCallback) {
				md.fatalf("Transactional whose callback failed returned %v", err)
			}
			md.rolledBack(level)
		case "ok":
			if err == nil {
				if planAtEnd.lock || planAtEnd.uniq == uniqSure {
					md.fatalf("Transactional succeeded, but the model says its flush must fail (%v)", planAtEnd)
				}
				md.apply(planAtEnd)
				md.saves = md.saves[:level]
				if outer {
					md.committedTx()
					md.noopFlush()
				}
				return
			}
			if !(planAtEnd.lock && errors.Is(err, em.ErrOptimisticLock) || planAtEnd.uniq != uniqNo && errors.Is(err, em.ErrUniqueViolation) ||
				md.dead && errors.Is(err, em.ErrTransactionDead)) {
				md.fatalf("Transactional failed unexpectedly (its flush: %v): %v", planAtEnd, err)
			}
			md.logf("// Transactional failed: %v", err)
			md.rolledBack(level)
		}
	}()
	if how == "panic" {
		if _, ok := recovered.(panicValue); !ok {
			if recovered != nil {
				panic(recovered)
			}
			md.fatalf("Transactional swallowed the callback's panic")
		}
		md.rolledBack(level)
	} else if recovered != nil {
		panic(recovered)
	}
}

// withSkip runs an operation; rapid's Skip inside it skips only it.
func (md *model) withSkip(fn func()) { fn() }

func isSkip(r any) bool {
	// rapid's Skip panics with its unexported invalidData; so does running
	// out of data while shrinking ("overrun"), which must go on up.
	return fmt.Sprintf("%T", r) == "rapid.invalidData" && fmt.Sprint(r) != "overrun"
}

// opFaultInTx flushes with a fault inside Begin's transaction. A statement
// that failed (not sent) leaves the transaction usable (C1); a context that
// ended may have ended the transaction too, so the model rolls back.
func (md *model) opFaultInTx() {
	md.live()
	if !md.began || md.inCall > 0 {
		md.rt.Skip("no Begin")
	}
	kinds := []string{"fail"}
	if md.ops["rollback"] {
		kinds = append(kinds, "cancel") // may end the transaction: rolled back
	}
	kind := rapid.SampledFrom(kinds).Draw(md.rt, "fault")
	md.supports(kind)
	n := rapid.IntRange(1, 6).Draw(md.rt, "statement")
	if !md.flushWith(kind, n) || kind == "fail" {
		return
	}
	if md.ops["rollback"] {
		md.opRollback()
	}
}

// opKillInTx kills the connection during a flush inside Begin's
// transaction: the transaction is dead (C3).
// opAbortInTx flushes inside Begin's transaction while the server rolls
// the transaction back under one of the flush's statements, its connection
// left open (a deadlock victim, a serialization failure: issue 11, bug 9).
// The flush must fail with ErrSerialization, and the transaction is dead:
// every later call in it fails, and nothing runs in autocommit mode (C3).
func (md *model) opAbortInTx() {
	md.live()
	if !md.began || md.inCall > 0 {
		md.rt.Skip("no Begin")
	}
	md.supports("abort")
	n := rapid.IntRange(1, 6).Draw(md.rt, "statement")
	p := md.plan()
	md.logf("%serr = e.Flush(ctx) // %v", faultCode("abort", n), p)
	ctx, done := md.arm("abort", n)
	err := md.e.Flush(ctx)
	if !done() {
		md.flushOutcome(p, err, false, "Flush")
		return
	}
	if !errors.Is(err, em.ErrSerialization) {
		md.fatalf("Flush whose transaction the server rolled back: %v, want em.ErrSerialization", err)
	}
	md.logf("// Flush failed: %v", err)
	md.dead = true
}

func (md *model) opKillInTx() {
	md.live()
	if !md.began || md.inCall > 0 {
		md.rt.Skip("no Begin")
	}
	md.supports("kill")
	n := rapid.IntRange(1, 6).Draw(md.rt, "statement")
	p := md.plan()
	md.logf("%serr = e.Flush(ctx) // %v", faultCode("kill", n), p)
	ctx, done := md.arm("kill", n)
	err := md.e.Flush(ctx)
	fired := done()
	if fired {
		md.dead = true
	}
	if err == nil {
		// The kill may strike after the flush's last statement: the flush
		// is done, and the transaction is dead for what comes next (its
		// commit fails and rolls back: C3).
		md.flushOutcome(p, err, false, "Flush")
	}
}

func (md *model) opDeadChecks() {
	if !md.dead {
		md.rt.Skip("no dead transaction")
	}
	md.logf("_, err = em.Count[emtest.MParent](ctx, e, em.F{}) // must fail: the transaction is dead")
	if _, err := em.Count[MParent](md.ctx, md.e, em.F{}); err == nil {
		md.fatalf("Count in a dead transaction succeeded (C3)")
	}
	if err := md.e.Flush(md.ctx); err == nil && !md.plan().empty() {
		md.fatalf("Flush in a dead transaction succeeded (C3)")
	}
}

func (md *model) opFaultCommit() {
	md.live()
	kind := rapid.SampledFrom([]string{"fail", "cancel", "kill"}).Draw(md.rt, "fault")
	if kind == "kill" && !md.ops["killInTx"] {
		md.rt.Skip("killInTx is off")
	}
	md.supports(kind)
	md.opCommit(kind)
}

// The checks after every step.

func (md *model) check() {
	md.rt.Helper()
	for _, g := range md.gone {
		if md.e.IsManaged(g) {
			md.fatalf("%T %+v is still managed; the model says it must not be (flushed away, rolled back or cleared)", g, g)
		}
	}
	md.gone = md.gone[:0]
	for _, id := range sortedIDs(md.m.par) {
		p := md.m.par[id]
		o := p.obj
		if !md.e.IsManaged(o) {
			md.fatalf("%s is not managed", pv(id))
		}
		if o.Name != p.cur.name || o.Score != p.cur.score || o.Version != p.cur.version || o.ID != p.key {
			md.fatalf("%s in memory: {ID:%d Name:%q Score:%d Version:%d}, the model: {ID:%d Name:%q Score:%d Version:%d}",
				pv(id), o.ID, o.Name, o.Score, o.Version, p.key, p.cur.name, p.cur.score, p.cur.version)
		}
		kids, err := o.Children.Items()
		if err != nil {
			md.fatalf("%s.Children: %v", pv(id), err)
		}
		if got, want := md.idsOfKids(kids), p.cur.kids; !slices.Equal(got, want) {
			md.fatalf("%s.Children in memory: %v, the model: %v", pv(id), got, want)
		}
		labs, err := o.Labels.Items()
		if err != nil {
			md.fatalf("%s.Labels: %v", pv(id), err)
		}
		if got, want := md.idsOfLabels(labs), p.cur.labels; !slices.Equal(got, want) {
			md.fatalf("%s.Labels in memory: %v, the model: %v", pv(id), got, want)
		}
	}
	for _, id := range sortedIDs(md.m.kid) {
		k := md.m.kid[id]
		if !md.e.IsManaged(k.obj) {
			md.fatalf("%s is not managed", cv(id))
		}
		if k.obj.ID != k.key || k.obj.Note != k.note {
			md.fatalf("%s in memory: {ID:%d Note:%q}, the model: {ID:%d Note:%q}", cv(id), k.obj.ID, k.obj.Note, k.key, k.note)
		}
		if md.inColl(id) {
			if got, err := k.obj.Parent.Get(); err != nil || got != md.m.par[k.parent].obj {
				md.fatalf("%s.Parent is %p (%v), want %s", cv(id), got, err, pv(k.parent))
			}
		}
	}
	for _, id := range sortedIDs(md.m.lab) {
		l := md.m.lab[id]
		if !md.e.IsManaged(l.obj) || l.obj.ID != l.key || l.obj.Name != l.name {
			md.fatalf("%s: managed %v, %+v, the model: key %d", lv(id), md.e.IsManaged(l.obj), *l.obj, l.key)
		}
	}
	if md.dbDirty && md.view == nil {
		md.compareDB()
		md.dbDirty = false
	}
}

func (md *model) idsOfKids(kids []*MChild) []int {
	var ids []int
	for _, c := range kids {
		id := -1
		for kid, k := range md.m.kid {
			if k.obj == c {
				id = kid
			}
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (md *model) idsOfLabels(labs []*MLabel) []int {
	var ids []int
	for _, l := range labs {
		id := -1
		for lid, m := range md.m.lab {
			if m.obj == l {
				id = lid
			}
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// readDB reads the model's tables through a fresh fork.
func (md *model) readDB() dbv {
	f := md.o.Fork()
	d := newDB()
	ps, err := em.FindAll[MParent](md.ctx, f, em.FindOptions{Populate: []string{"labels"}})
	if err != nil {
		md.fatalf("read the parents: %v", err)
	}
	for _, p := range ps {
		d.par[p.ID] = dpar{id: md.keyP[p.ID], name: p.Name, score: p.Score, ver: p.Version}
		ls, _ := p.Labels.Items()
		for _, l := range ls {
			d.link[[2]int64{p.ID, l.ID}] = true
		}
	}
	ks, err := em.FindAll[MChild](md.ctx, f)
	if err != nil {
		md.fatalf("read the children: %v", err)
	}
	for _, k := range ks {
		pk, _ := k.Parent.ID().(int64)
		d.kid[k.ID] = dkid{id: md.keyK[k.ID], note: k.Note, parent: pk}
	}
	ls, err := em.FindAll[MLabel](md.ctx, f)
	if err != nil {
		md.fatalf("read the labels: %v", err)
	}
	for _, l := range ls {
		d.lab[l.ID] = l.Name
	}
	return d
}

func (md *model) compareDB() {
	got := md.readDB()
	want := md.committed
	var diffs []string
	for k, w := range want.par {
		g, ok := got.par[k]
		if !ok || g.name != w.name || g.score != w.score || g.ver != w.ver {
			diffs = append(diffs, fmt.Sprintf("parent %d (%s): stored %+v (present %v), want %+v", k, pv(w.id), g, ok, w))
		}
	}
	for k, g := range got.par {
		if _, ok := want.par[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("parent %d stored, want none: %+v", k, g))
		}
	}
	for k, w := range want.kid {
		g, ok := got.kid[k]
		if !ok || g.note != w.note || g.parent != w.parent {
			diffs = append(diffs, fmt.Sprintf("child %d (%s): stored %+v (present %v), want %+v", k, cv(w.id), g, ok, w))
		}
	}
	for k, g := range got.kid {
		if _, ok := want.kid[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("child %d stored, want none: %+v", k, g))
		}
	}
	if !maps.Equal(got.lab, want.lab) {
		diffs = append(diffs, fmt.Sprintf("labels stored %v, want %v", got.lab, want.lab))
	}
	if !maps.Equal(got.link, want.link) {
		diffs = append(diffs, fmt.Sprintf("links stored %v, want %v", got.link, want.link))
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		md.fatalf("the database differs from the model:\n\t%s", strings.Join(diffs, "\n\t"))
	}
}

// finish ends the sequence: an open transaction is committed (or rolled
// back), the rest flushed, and the database compared a last time.
func (md *model) finish() {
	md.rt.Logf("// finish")
	if md.began {
		if md.dead {
			md.logf("_ = e.Rollback(ctx)")
			_ = md.e.Rollback(md.ctx)
			md.rolledBack(0)
		} else {
			md.opCommit("")
		}
	}
	if md.view == nil {
		md.flushWith("", 0)
	}
	md.check()
	md.compareDB()
}
