package em

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/mikrogo/mikro/em/dbconn"
	"github.com/mikrogo/mikro/qb"
)

// noDB is a connection that refuses every statement: flushes with nothing
// to write never reach it.
type noDB struct{}

var errNoDB = errors.New("noDB: no statement expected")

func (noDB) Exec(context.Context, string, []any) (dbconn.Result, error) { return nil, errNoDB }
func (noDB) Query(context.Context, string, []any) (dbconn.Rows, error)  { return nil, errNoDB }
func (noDB) Begin(context.Context) (dbconn.Tx, error)                   { return nil, errNoDB }
func (noDB) Session(context.Context) (dbconn.Session, error)            { return nil, errNoDB }
func (noDB) Close() error                                               { return nil }

type scanRow struct {
	ID      int    `orm:"pk"`
	Name    string `db:"name"`
	Title   string `db:"title"`
	Fax     string `db:"fax"`
	Web     string `db:"web"`
	Age     int    `db:"age"`
	Right   bool   `db:"right"`
	Counter int64  `db:"counter"`
}

// managedRows returns a manager with n clean managed scanRows, attached with
// Merge, on a connection that refuses statements.
func managedRows(tb testing.TB, n int) (*EntityManager, []*scanRow) {
	tb.Helper()
	o, err := OpenConn(context.Background(), noDB{}, Config{Dialect: qb.Postgres, Entities: []any{scanRow{}}})
	if err != nil {
		tb.Fatal(err)
	}
	e := o.Fork()
	rows := make([]*scanRow, n)
	for i := range rows {
		r := &scanRow{ID: i + 1, Name: "name", Title: "title", Fax: "fax", Web: "web", Age: 30, Right: true, Counter: int64(i)}
		if rows[i], err = Merge(e, r); err != nil {
			tb.Fatal(err)
		}
	}
	return e, rows
}

// BenchmarkNoopFlush measures a Flush with nothing to write, without a
// database: the cost of finding out that nothing changed.
func BenchmarkNoopFlush(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("managed=%d", n), func(b *testing.B) {
			e, _ := managedRows(b, n)
			ctx := context.Background()
			for b.Loop() {
				if err := e.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCleanRun checks the comparison of runs of slots against the Go
// reference, for every size up to 300 bytes and a difference in every byte:
// a changed byte is never passed over, whatever its position.
func TestCleanRun(t *testing.T) {
	impls := map[string]func([]trackSlot) int{"cleanRun": cleanRun, "go": cleanRunGo}
	addAsm(impls)
	rng := rand.New(rand.NewPCG(1, 2))
	for size := 1; size <= 300; size++ {
		const n = 5
		a := make([]byte, n*size+1)
		b := make([]byte, n*size+1)
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		copy(b, a)
		// Unaligned starts (offset 1) too: the assembly loads unaligned.
		slots := make([]trackSlot, n)
		for i := range slots {
			slots[i] = trackSlot{ptr: unsafe.Pointer(&a[1+i*size]), snap: unsafe.Pointer(&b[1+i*size]), size: uintptr(size)}
		}
		for name, f := range impls {
			if got := f(slots); got != n {
				t.Fatalf("%s: size %d, all equal: %d clean, want %d", name, size, got, n)
			}
		}
		for victim := range n {
			for pos := range size {
				i := 1 + victim*size + pos
				for _, flip := range []byte{0x01, 0x80} {
					b[i] ^= flip
					for name, f := range impls {
						if got := f(slots); got != victim {
							t.Fatalf("%s: size %d, byte %d of slot %d changed: %d clean, want %d", name, size, pos, victim, got, victim)
						}
					}
					b[i] ^= flip
				}
			}
		}
		// A slot without snapshot or compared field by field stops the run.
		slots[2].snap = nil
		slots[3].size = 0
		for name, f := range impls {
			if got := f(slots); got != 2 {
				t.Fatalf("%s: size %d, slot 2 without snapshot: %d clean, want 2", name, size, got)
			}
			if got := f(slots[3:]); got != 0 {
				t.Fatalf("%s: size %d, slot of size 0: %d clean, want 0", name, size, got)
			}
		}
	}
}

type kindsRow struct {
	ID    int64 `orm:"pk"`
	I8    int8
	I16   int16
	I32   int32
	U     uint
	U8    uint8
	U16   uint16
	U64   uint64
	F32   float32
	F64   float64
	B     bool
	S     string
	Bytes []byte
	PS    *string
	PI    *int64
	T     time.Time
	PT    *time.Time
}

// flatRow has no field a snapshot must deep-copy: it is compared byte for
// byte first.
type flatRow struct {
	ID  int64 `orm:"pk"`
	I8  int8
	I16 int16
	I32 int32
	U   uint
	U8  uint8
	F32 float32
	F64 float64
	B   bool
	S   string
	T   time.Time
}

type tinyRow struct {
	ID int16 `orm:"pk"`
	A  uint8
	B  uint8
	C  uint8
}

// checkTracked fails unless every tracked slot agrees with its entry.
func checkTracked(t *testing.T, e *EntityManager) {
	t.Helper()
	for i, s := range e.tracked {
		if !s.en.inTracked || int(s.en.slot) != i || s.snap != s.en.snap || s.ptr != s.en.ptr {
			t.Fatalf("slot %d out of step with its entry (inTracked %v, slot %d, snap %p/%p)", i, s.en.inTracked, s.en.slot, s.snap, s.en.snap)
		}
	}
}

// TestFlushSeesEveryFieldChange changes each field of managed entities in
// turn and checks that the plan holds that one change: the byte comparison
// of clean entities must never hide a changed field, whatever its type.
func TestFlushSeesEveryFieldChange(t *testing.T) {
	o, err := OpenConn(context.Background(), noDB{}, Config{Dialect: qb.Postgres, Entities: []any{kindsRow{}, flatRow{}, tinyRow{}}})
	if err != nil {
		t.Fatal(err)
	}
	s, i := "s", int64(5)
	now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
	changes := map[string]func(r *kindsRow){
		"I8": func(r *kindsRow) { r.I8++ }, "I16": func(r *kindsRow) { r.I16++ }, "I32": func(r *kindsRow) { r.I32++ },
		"U": func(r *kindsRow) { r.U++ }, "U8": func(r *kindsRow) { r.U8++ }, "U16": func(r *kindsRow) { r.U16++ },
		"U64": func(r *kindsRow) { r.U64 += 1 << 63 }, "F32": func(r *kindsRow) { r.F32 += 0.5 }, "F64": func(r *kindsRow) { r.F64 = -r.F64 - 1 },
		"B": func(r *kindsRow) { r.B = !r.B }, "S": func(r *kindsRow) { r.S += "x" }, "Bytes": func(r *kindsRow) { r.Bytes[0]++ },
		"PS": func(r *kindsRow) { *r.PS += "x" }, "PI": func(r *kindsRow) { r.PI = nil }, "T": func(r *kindsRow) { r.T = r.T.Add(time.Nanosecond) },
		"PT": func(r *kindsRow) { v := r.PT.Add(time.Second); r.PT = &v },
	}
	for name, change := range changes {
		e := o.Fork()
		onlyChangeFound(t, e, name, func(id int64) *kindsRow {
			ps, pi, pt := s, i, now
			return &kindsRow{ID: id, I8: 1, I16: 2, I32: 3, U: 4, U8: 5, U16: 6, U64: 7, F32: 8, F64: 9, B: true, S: "str",
				Bytes: []byte{1, 2}, PS: &ps, PI: &pi, T: now, PT: &pt}
		}, change)
	}
	if m, _ := o.Meta(flatRow{}); !m.flat {
		t.Fatal("flatRow is not compared by bytes")
	}
	flatChanges := map[string]func(r *flatRow){
		"I8": func(r *flatRow) { r.I8++ }, "I16": func(r *flatRow) { r.I16 ^= -1 << 15 }, "I32": func(r *flatRow) { r.I32++ },
		"U": func(r *flatRow) { r.U++ }, "U8": func(r *flatRow) { r.U8++ }, "F32": func(r *flatRow) { r.F32 += 0.5 },
		"F64": func(r *flatRow) { r.F64 = -r.F64 }, "B": func(r *flatRow) { r.B = !r.B }, "S": func(r *flatRow) { r.S = "stR" },
		"T": func(r *flatRow) { r.T = r.T.Add(time.Nanosecond) },
	}
	for name, change := range flatChanges {
		e := o.Fork()
		onlyChangeFound(t, e, name, func(id int64) *flatRow {
			return &flatRow{ID: id, I8: 1, I16: 2, I32: 3, U: 4, U8: 5, F32: 8, F64: 9, B: true, S: "str", T: now}
		}, change)
	}
	// A struct of 5 bytes (not a multiple of 8 or 16), every byte in turn.
	e := o.Fork()
	var tiny []*tinyRow
	for id := range int16(20) {
		r := &tinyRow{ID: id + 1}
		if _, err := Merge(e, r); err != nil {
			t.Fatal(err)
		}
		tiny = append(tiny, r)
	}
	for _, f := range []func(r *tinyRow){func(r *tinyRow) { r.A++ }, func(r *tinyRow) { r.B++ }, func(r *tinyRow) { r.C++ }} {
		f(tiny[19])
		if p := e.computePlan(); len(p.updates) != 1 || p.updates[0].en.ptr != unsafe.Pointer(tiny[19]) {
			t.Fatalf("tiny row: plan %+v", p.updates)
		}
		e.takeSnapshot(e.byPtr[unsafe.Pointer(tiny[19])])
	}
	checkTracked(t, e)
}

// TestFailedFlushKeepsSlots: a flush that fails puts snapshots back (other
// memory than before); the tracked slots must follow, or the next flush
// would compare with a stale snapshot.
func TestFailedFlushKeepsSlots(t *testing.T) {
	e, rows := managedRows(t, 100)
	rows[42].Counter++
	if err := e.Flush(context.Background()); !errors.Is(err, errNoDB) {
		t.Fatalf("Flush: %v, want the connection's refusal", err)
	}
	checkTracked(t, e)
	if p := e.computePlan(); len(p.updates) != 1 || p.updates[0].en.ptr != unsafe.Pointer(rows[42]) {
		t.Fatalf("after a failed flush: plan %+v", p.updates)
	}
	// Detached and removed entities leave dead slots; compaction keeps the
	// slots in step.
	for _, r := range rows[:90] {
		e.Detach(r)
	}
	for range 2 {
		e.computePlan()
	}
	checkTracked(t, e)
}

func TestEntrySize(t *testing.T) {
	// A record and two copies of a 96-byte entity fill a 256-byte size
	// class; a larger record puts every loaded entity in the next one.
	if s := unsafe.Sizeof(entry{}); s > 64 {
		t.Fatalf("entry is %d bytes, want at most 64", s)
	}
}

// TestFewRecords checks the identity map and the records by address while
// they are a short list and after they move into maps: the same answers
// before, across and after the move.
func TestFewRecords(t *testing.T) {
	ctx := context.Background()
	e, _ := managedRows(t, 0)
	m := e.orm.reg.order[0]
	var rows []*scanRow
	check := func(when string) {
		t.Helper()
		live := 0
		for i, r := range rows {
			if r == nil {
				continue
			}
			live++
			if !e.IsManaged(r) {
				t.Fatalf("%s: row %d not managed", when, i)
			}
			got, err := FindOne[scanRow](ctx, e, r.ID)
			if err != nil || got != r {
				t.Fatalf("%s: FindOne(%d) = %p, %v; want %p", when, r.ID, got, err, r)
			}
		}
		if n := e.ManagedCount(); n != live {
			t.Fatalf("%s: ManagedCount %d, want %d", when, n, live)
		}
		if e.imRefs != 0 || e.imM2M != 0 {
			t.Fatalf("%s: counters %d %d for a type without relations", when, e.imRefs, e.imM2M)
		}
	}
	add := func(id int) {
		r, err := Merge(e, &scanRow{ID: id, Name: "n"})
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	for id := 1; id <= len(e.fewBuf); id++ {
		add(id)
	}
	if !e.small() {
		t.Fatal("records in maps before the list is full")
	}
	check("full list")
	// A second instance of a managed key is refused, a removed one leaves.
	if err := e.Persist(&scanRow{ID: 3}); err == nil {
		t.Fatal("Persist of a managed key accepted")
	}
	e.Detach(rows[2])
	rows[2] = nil
	if got, _ := FindOne[scanRow](ctx, e, 3); got != nil {
		t.Fatal("detached row still in the identity map")
	}
	check("after Detach")
	// A new entity whose key the database gives has a record, no key.
	fresh := &scanRow{Name: "new"}
	if err := e.Persist(fresh); err != nil {
		t.Fatal(err)
	}
	if !e.IsManaged(fresh) || e.lookup(m, pkKey{}) != nil {
		t.Fatal("persisted row: record or key wrong")
	}
	add(100)
	add(101) // one more than the list holds: into the maps
	if e.small() {
		t.Fatal("records still in the list")
	}
	if !e.IsManaged(fresh) {
		t.Fatal("persisted row lost in the move")
	}
	e.Detach(fresh)
	check("after the move")
	e.Clear()
	for _, r := range rows {
		if r != nil && e.IsManaged(r) {
			t.Fatal("managed after Clear")
		}
	}
	if !e.small() || e.ManagedCount() != 0 {
		t.Fatal("Clear left records")
	}
	rows = nil
	add(7)
	check("after Clear")
}

// TestParallelScanOrder: the updates of a scan shared between goroutines
// come in list order, whichever goroutine found them.
func TestParallelScanOrder(t *testing.T) {
	e, rows := managedRows(t, 5*parallelScan/2)
	var want []unsafe.Pointer
	for i := 3; i < len(rows); i += 977 {
		rows[i].Counter--
		want = append(want, unsafe.Pointer(rows[i]))
	}
	for range 20 {
		p := e.computePlan()
		if len(p.updates) != len(want) {
			t.Fatalf("%d updates, want %d", len(p.updates), len(want))
		}
		for i, u := range p.updates {
			if u.en.ptr != want[i] {
				t.Fatalf("update %d is not the entity changed %d-th", i, i)
			}
		}
	}
}

// onlyChangeFound merges 40 clean entities made by row (ids 1…40) into e,
// checks that a plan finds nothing, applies change to the 18th and checks
// that the plan is one update of that entity's field name alone.
func onlyChangeFound[T any](t *testing.T, e *EntityManager, name string, row func(id int64) *T, change func(*T)) {
	t.Helper()
	var rows []*T
	for id := range int64(40) {
		r := row(id + 1)
		if _, err := Merge(e, r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if p := e.computePlan(); !p.empty() {
		t.Fatalf("%s: clean entities planned %d writes", name, p.n)
	}
	change(rows[17])
	p := e.computePlan()
	if len(p.updates) != 1 || p.updates[0].en.ptr != unsafe.Pointer(rows[17]) || len(p.updates[0].fields) != 1 || p.updates[0].fields[0].Name != name {
		t.Fatalf("%s changed: plan %+v", name, p.updates)
	}
}
