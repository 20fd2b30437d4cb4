package em_test

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/em/pgxdriver"
	"github.com/mikrogo/mikro/internal/emtest"
)

// stranger is a struct no ORM registers.
type stranger struct {
	ID int64 `db:"id" orm:"pk"`
}

type (
	author    = emtest.Author
	review    = emtest.Review
	publisher = emtest.Publisher
)

// misuse is one wrong call of an exported function or method: it must
// return an error (wantErr), or, for calls whose result has no error,
// return without panicking.
type misuse struct {
	desc    string
	wantErr bool
	call    func() error
}

// metaOf is the metadata of entity in o, nil if o does not map it.
func metaOf(o *em.ORM, entity any) *em.EntityMeta { m, _ := o.Meta(entity); return m }

func bad(desc string, call func() error) misuse { return misuse{desc: desc, wantErr: true, call: call} }

// calm is a call with no error result (or a legitimately nil one): it must
// only not panic.
func calm(desc string, call func()) misuse {
	return misuse{desc: desc, call: func() error { call(); return nil }}
}

// emDir is the source folder of package em, from this test's folder
// (internal/tests/em).
const emDir = "../../../em"

// exportedAPI lists the exported functions and methods of package em, read
// from its source: "Name" for functions, "Type.Name" for methods.
func exportedAPI(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	var names []string
	entries, err := os.ReadDir(emDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range entries {
		n := de.Name()
		if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(emDir, n), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name != "em" {
			continue
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || !fd.Name.IsExported() {
				continue
			}
			if fd.Recv == nil {
				names = append(names, fd.Name.Name)
				continue
			}
			typ := fd.Recv.List[0].Type
			if s, ok := typ.(*ast.StarExpr); ok {
				typ = s.X
			}
			switch x := typ.(type) {
			case *ast.IndexExpr:
				typ = x.X
			case *ast.IndexListExpr:
				typ = x.X
			}
			id, ok := typ.(*ast.Ident)
			if !ok || !id.IsExported() {
				continue
			}
			names = append(names, id.Name+"."+fd.Name.Name)
		}
	}
	slices.Sort(names)
	return names
}

// TestNoPanicForCallerMistakes calls every exported function and method of
// em with the arguments a careless caller passes (nil, zero values,
// unregistered types, wrong types, a nil manager) and fails on any panic:
// each must return an error saying what was wrong. It also fails when an
// exported function is missing from its table, so that new API is covered.
func TestNoPanicForCallerMistakes(t *testing.T) {
	ctx := context.Background()
	o, err := em.Open(ctx, em.Config{Driver: "sqlite", DSN: "file::memory:", Entities: emtest.Entities})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	must(t, o.CreateSchema(ctx))
	e := o.Fork()
	ann := &author{Name: "Ann"}
	must(t, e.Persist(ann))
	must(t, e.Flush(ctx))
	var nilEM *em.EntityManager
	var nilAuthor *author
	var nilCtx context.Context
	m, err := o.Meta(author{})
	must(t, err)
	nameField := m.Property("name")
	var nilMeta *em.EntityMeta
	var nilField *em.FieldMeta
	badFilters := []any{em.F{"nope": 1}, 3.5, make(chan int), em.F{"name": em.F{"$in": 5}}, em.F{"id": em.In(nil)}, em.F{"$and": 5}, em.F{"$or": []any{5}}, em.F{"name": em.F{"$like": 5}}, em.F{"reviews": em.F{"text": make(chan int)}}}
	findOpts := []em.FindOptions{{Fields: []string{"nope"}}, {OrderBy: []string{"nope"}}, {Populate: []string{"nope"}}, {Populate: []string{"reviews.nope"}}, {Populate: []string{"reviews"}, PopulateWhere: map[string]em.F{"nope": {"x": 1}}}}

	var zeroColl em.Collection[review]
	var zeroRef em.Ref[author]
	var zeroQB em.QueryBuilder[author]
	var zeroRepo em.EntityRepository[author]

	table := map[string][]misuse{
		"Count": {
			bad("nil manager", func() error { _, err := em.Count[author](ctx, nil, nil); return err }),
			bad("unregistered type", func() error { _, err := em.Count[stranger](ctx, e, nil); return err }),
		},
		"Create": {
			bad("nil manager", func() error { _, err := em.Create[author](nil, em.F{}); return err }),
			bad("unregistered type", func() error { _, err := em.Create[stranger](e, em.F{}); return err }),
			bad("data of a wrong type", func() error { _, err := em.Create[author](e, 5); return err }),
			bad("unknown property", func() error { _, err := em.Create[author](e, em.F{"nope": 1}); return err }),
			bad("value of a wrong type", func() error { _, err := em.Create[author](e, em.F{"rating": "high"}); return err }),
			bad("reference of a wrong type", func() error { _, err := em.Create[review](e, em.F{"author": 3.5}); return err }),
		},
		"Find": {
			bad("nil manager", func() error { _, err := em.Find[author](ctx, nil, nil); return err }),
			bad("unregistered type", func() error { _, err := em.Find[stranger](ctx, e, nil); return err }),
		},
		"FindAll": {
			bad("nil manager", func() error { _, err := em.FindAll[author](ctx, nil); return err }),
			bad("unregistered type", func() error { _, err := em.FindAll[stranger](ctx, e); return err }),
		},
		"FindAndCount": {
			bad("nil manager", func() error { _, _, err := em.FindAndCount[author](ctx, nil, nil); return err }),
			bad("unregistered type", func() error { _, _, err := em.FindAndCount[stranger](ctx, e, nil); return err }),
		},
		"FindOne": {
			bad("nil manager", func() error { _, err := em.FindOne[author](ctx, nil, 1); return err }),
			bad("unregistered type", func() error { _, err := em.FindOne[stranger](ctx, e, 1); return err }),
			bad("key of a wrong type", func() error { _, err := em.FindOne[author](ctx, e, "one"); return err }),
		},
		"FindOneOrFail": {
			bad("nil manager", func() error { _, err := em.FindOneOrFail[author](ctx, nil, 1); return err }),
			bad("unregistered type", func() error { _, err := em.FindOneOrFail[stranger](ctx, e, 1); return err }),
			bad("key of a wrong type", func() error { _, err := em.FindOneOrFail[author](ctx, e, 3.5); return err }),
		},
		"Merge": {
			bad("nil manager", func() error { _, err := em.Merge(nilEM, &author{ID: 9}); return err }),
			bad("nil entity", func() error { _, err := em.Merge(e, nilAuthor); return err }),
			bad("unregistered type", func() error { _, err := em.Merge(e, &stranger{ID: 1}); return err }),
		},
		"NativeDelete": {
			bad("nil manager", func() error { _, err := em.NativeDelete[author](ctx, nil, nil); return err }),
			bad("unregistered type", func() error { _, err := em.NativeDelete[stranger](ctx, e, nil); return err }),
		},
		"NativeInsert": {
			bad("nil manager", func() error { _, err := em.NativeInsert[publisher](ctx, nil, em.F{"code": "a"}); return err }),
			bad("unregistered type", func() error { _, err := em.NativeInsert[stranger](ctx, e, em.F{"id": 1}); return err }),
			bad("nil data", func() error { _, err := em.NativeInsert[publisher](ctx, e, nil); return err }),
			bad("unknown property", func() error { _, err := em.NativeInsert[publisher](ctx, e, em.F{"nope": 1}); return err }),
			bad("value of a wrong type", func() error {
				_, err := em.NativeInsert[publisher](ctx, e, em.F{"code": make(chan int)})
				return err
			}),
		},
		"NativeUpdate": {
			bad("nil manager", func() error { _, err := em.NativeUpdate[author](ctx, nil, nil, em.F{"rating": 1}); return err }),
			bad("unregistered type", func() error { _, err := em.NativeUpdate[stranger](ctx, e, nil, em.F{"id": 1}); return err }),
			bad("nil data", func() error { _, err := em.NativeUpdate[author](ctx, e, nil, nil); return err }),
			bad("unknown property", func() error { _, err := em.NativeUpdate[author](ctx, e, nil, em.F{"nope": 1}); return err }),
		},
		"Upsert": {
			bad("nil manager", func() error { _, err := em.Upsert(ctx, nilEM, &publisher{Code: "a"}); return err }),
			bad("nil entity", func() error { _, err := em.Upsert(ctx, e, (*publisher)(nil)); return err }),
			bad("unregistered type", func() error { _, err := em.Upsert(ctx, e, &stranger{}); return err }),
			bad("unknown conflict property", func() error { _, err := em.Upsert(ctx, e, &publisher{Code: "a"}, "nope"); return err }),
			bad("NULL conflict key", func() error { _, err := em.Upsert(ctx, e, &author{Name: "a"}, "email"); return err }),
			bad("reference conflict key to an unflushed entity", func() error {
				p := &emtest.Profile{Bio: "b"}
				p.Author = em.RefTo(&author{Name: "new"})
				_, err := em.Upsert(ctx, e, p, "author")
				return err
			}),
		},
		"UpsertMany": {
			bad("nil manager", func() error { _, err := em.UpsertMany(ctx, nilEM, []*publisher{{Code: "a"}}); return err }),
			bad("nil element", func() error { _, err := em.UpsertMany(ctx, e, []*publisher{{Code: "a"}, nil}); return err }),
			calm("no entities", func() { _, _ = em.UpsertMany(ctx, e, []*publisher(nil)) }),
		},
		"WithContext": {
			calm("nil context", func() { _ = em.WithContext(nilCtx, e) }),
			calm("nil manager", func() {
				if got, ok := em.FromContext(em.WithContext(ctx, nil)); ok || got != nil {
					panic("FromContext found a nil manager")
				}
			}),
		},
		"FromContext": {
			calm("nil context", func() {
				if _, ok := em.FromContext(nilCtx); ok {
					panic("FromContext(nil) found a manager")
				}
			}),
		},
		"Collection.Add": {
			calm("zero collection, nil item", func() { var c em.Collection[review]; c.Add(nil) }),
			calm("managed collection, nil item", func() { ann.Reviews.Add(nil) }),
		},
		"Collection.All": {
			bad("zero collection", func() error { _, err := zeroColl.All(); return err }),
		},
		"Collection.Contains": {
			bad("zero collection", func() error { _, err := zeroColl.Contains(nil); return err }),
			calm("nil item", func() { _, _ = ann.Reviews.Contains(nil) }),
		},
		"Collection.Count": {
			bad("zero collection", func() error { _, err := zeroColl.Count(); return err }),
		},
		"Collection.IDs": {
			bad("zero collection", func() error { _, err := zeroColl.IDs(); return err }),
		},
		"Collection.Init": {
			bad("zero collection", func() error { var c em.Collection[review]; return c.Init(ctx, e) }),
			bad("nil manager", func() error { var a author; return a.Reviews.Init(ctx, nil) }),
		},
		"Collection.IsInitialized": {
			calm("zero collection", func() { _ = zeroColl.IsInitialized() }),
		},
		"Collection.Items": {
			bad("zero collection", func() error { _, err := zeroColl.Items(); return err }),
		},
		"Collection.LoadCount": {
			bad("zero collection", func() error { _, err := zeroColl.LoadCount(ctx, e); return err }),
			bad("nil manager", func() error { _, err := ann.Reviews.LoadCount(ctx, nil); return err }),
		},
		"Collection.Matching": {
			bad("zero collection", func() error { _, err := zeroColl.Matching(ctx, e, em.F{"text": "x"}); return err }),
			bad("nil manager", func() error { _, err := ann.Reviews.Matching(ctx, nil, em.F{"text": "x"}); return err }),
			bad("nil manager, no filter", func() error { _, err := ann.Reviews.Matching(ctx, nil, nil); return err }),
			bad("bad filter", func() error { _, err := ann.Reviews.Matching(ctx, e, em.F{"nope": 1}); return err }),
		},
		"Collection.Remove": {
			calm("zero collection, nil item", func() { var c em.Collection[review]; c.Remove(nil) }),
		},
		"Collection.RemoveAll": {
			bad("zero collection", func() error { var c em.Collection[review]; return c.RemoveAll() }),
		},
		"Collection.Set": {
			bad("zero collection", func() error { var c em.Collection[review]; return c.Set(nil) }),
		},
		"DBError.Error":     {calm("zero error", func() { _ = (&em.DBError{}).Error() })},
		"DBError.Is":        {calm("zero error", func() { _ = (&em.DBError{}).Is(em.ErrDeadlock) })},
		"DBError.Retryable": {calm("zero error", func() { _ = (&em.DBError{}).Retryable() })},
		"DBError.Unwrap":    {calm("zero error", func() { _ = (&em.DBError{}).Unwrap() })},
		"EntityManager.Assign": {
			bad("nil manager", func() error { return nilEM.Assign(ann, em.F{"rating": 2}) }),
			bad("nil entity", func() error { return e.Assign(nil, em.F{"rating": 2}) }),
			bad("nil pointer", func() error { return e.Assign(nilAuthor, em.F{"rating": 2}) }),
			bad("unregistered type", func() error { return e.Assign(&stranger{}, em.F{"id": 2}) }),
			bad("unknown property", func() error { return e.Assign(ann, em.F{"nope": 2}) }),
			bad("value of a wrong type", func() error { return e.Assign(ann, em.F{"rating": "high"}) }),
			bad("collection of a wrong type", func() error { return e.Assign(ann, em.F{"reviews": 5}) }),
		},
		"EntityManager.Begin": {
			bad("nil manager", func() error { return nilEM.Begin(ctx) }),
		},
		"EntityManager.Clear": {calm("nil manager", func() { nilEM.Clear() })},
		"EntityManager.Commit": {
			bad("nil manager", func() error { return nilEM.Commit(ctx) }),
			bad("without Begin", func() error { return o.Fork().Commit(ctx) }),
		},
		"EntityManager.Detach": {
			calm("nil manager", func() { nilEM.Detach(ann) }),
			calm("nil entity", func() { e.Detach(nil) }),
			calm("nil pointer", func() { e.Detach(nilAuthor) }),
			calm("not a pointer", func() { e.Detach(author{}) }),
		},
		"EntityManager.Flush": {bad("nil manager", func() error { return nilEM.Flush(ctx) })},
		"EntityManager.Fork":  {calm("nil manager", func() { _ = nilEM.Fork() })},
		"EntityManager.InTransaction": {
			calm("nil manager", func() { _ = nilEM.InTransaction() }),
		},
		"EntityManager.IsManaged": {
			calm("nil manager", func() { _ = nilEM.IsManaged(ann) }),
			calm("nil entity", func() { _ = e.IsManaged(nil) }),
			calm("nil pointer", func() { _ = e.IsManaged(nilAuthor) }),
			calm("not a pointer", func() { _ = e.IsManaged(5) }),
		},
		"EntityManager.ManagedCount": {calm("nil manager", func() { _ = nilEM.ManagedCount() })},
		"EntityManager.ORM":          {calm("nil manager", func() { _ = nilEM.ORM() })},
		"EntityManager.Persist": {
			bad("nil manager", func() error { return nilEM.Persist(&author{Name: "x"}) }),
			bad("nil entity", func() error { return o.Fork().Persist(nil) }),
			bad("nil pointer", func() error { return o.Fork().Persist(nilAuthor) }),
			bad("not a pointer", func() error { return o.Fork().Persist(author{Name: "x"}) }),
			bad("unregistered type", func() error { return o.Fork().Persist(&stranger{}) }),
			bad("pointer to pointer", func() error { a := &author{}; return o.Fork().Persist(&a) }),
		},
		"EntityManager.Populate": {
			bad("nil manager", func() error { return nilEM.Populate(ctx, ann, "reviews") }),
			bad("nil entities", func() error { return e.Populate(ctx, nil, "reviews") }),
			bad("nil pointer", func() error { return e.Populate(ctx, nilAuthor, "reviews") }),
			bad("wrong type", func() error { return e.Populate(ctx, 5, "reviews") }),
			bad("unregistered type", func() error { return e.Populate(ctx, []*stranger{{}}, "x") }),
			bad("unknown path", func() error { return e.Populate(ctx, ann, "nope") }),
			calm("nil element", func() { _ = e.Populate(ctx, []*author{ann, nil}, "reviews") }),
		},
		"EntityManager.Refresh": {
			bad("nil manager", func() error { return nilEM.Refresh(ctx, ann) }),
			bad("nil entity", func() error { return e.Refresh(ctx, nil) }),
			bad("nil pointer", func() error { return e.Refresh(ctx, nilAuthor) }),
			bad("not managed", func() error { return e.Refresh(ctx, &author{ID: 1}) }),
		},
		"EntityManager.Remove": {
			bad("nil manager", func() error { return nilEM.Remove(ann) }),
			bad("nil entity", func() error { return e.Remove(nil) }),
			bad("nil pointer", func() error { return e.Remove(nilAuthor) }),
			bad("not a pointer", func() error { return e.Remove(author{}) }),
		},
		"EntityManager.Rollback": {
			bad("nil manager", func() error { return nilEM.Rollback(ctx) }),
			bad("without Begin", func() error { return o.Fork().Rollback(ctx) }),
		},
		"EntityManager.Transactional": {
			bad("nil manager", func() error { return nilEM.Transactional(ctx, func(*em.EntityManager) error { return nil }) }),
			bad("nil function", func() error { return o.Fork().Transactional(ctx, nil) }),
		},
		"EntityManager.TransactionalRetry": {
			bad("nil manager", func() error {
				return nilEM.TransactionalRetry(ctx, em.RetryOptions{}, func(*em.EntityManager) error { return nil })
			}),
			bad("nil function", func() error { return o.Fork().TransactionalRetry(ctx, em.RetryOptions{}, nil) }),
			bad("nil context", func() error {
				return o.Fork().TransactionalRetry(nil, em.RetryOptions{}, func(*em.EntityManager) error { return nil }) //nolint:staticcheck // the mistake under test
			}),
		},
		"EntityMeta.FieldByColumn": {calm("nil meta", func() { _ = nilMeta.FieldByColumn("name") })},
		"EntityMeta.Property":      {calm("nil meta", func() { _ = nilMeta.Property("name") })},
		"Repo":                     {calm("nil manager", func() { _ = em.Repo[author](nil) })},
		"EntityRepository.Count": {
			bad("zero repository", func() error { _, err := zeroRepo.Count(ctx, nil); return err }),
			bad("unregistered type", func() error { _, err := em.Repo[stranger](e).Count(ctx, nil); return err }),
		},
		"EntityRepository.Create": {
			bad("zero repository", func() error { _, err := zeroRepo.Create(em.F{}); return err }),
		},
		"EntityRepository.Find": {
			bad("zero repository", func() error { _, err := zeroRepo.Find(ctx, nil); return err }),
		},
		"EntityRepository.FindAll": {
			bad("zero repository", func() error { _, err := zeroRepo.FindAll(ctx); return err }),
		},
		"EntityRepository.FindAndCount": {
			bad("zero repository", func() error { _, _, err := zeroRepo.FindAndCount(ctx, nil); return err }),
		},
		"EntityRepository.FindOne": {
			bad("zero repository", func() error { _, err := zeroRepo.FindOne(ctx, 1); return err }),
		},
		"EntityRepository.FindOneOrFail": {
			bad("zero repository", func() error { _, err := zeroRepo.FindOneOrFail(ctx, 1); return err }),
		},
		"EntityRepository.Manager": {calm("zero repository", func() { _ = zeroRepo.Manager() })},
		"EventKind.String":         {calm("out of range", func() { _ = em.EventKind(200).String() })},
		"And":                      {calm("nil filters", func() { _ = em.And(nil, nil) })},
		"Or":                       {calm("nil filters", func() { _ = em.Or(nil) })},
		"Not":                      {calm("nil filter", func() { _ = em.Not(nil) })},
		"Eq":                       {calm("nil", func() { _ = em.Eq(nil) })},
		"Ne":                       {calm("nil", func() { _ = em.Ne(nil) })},
		"Gt":                       {calm("nil", func() { _ = em.Gt(nil) })},
		"Gte":                      {calm("nil", func() { _ = em.Gte(nil) })},
		"Lt":                       {calm("nil", func() { _ = em.Lt(nil) })},
		"Lte":                      {calm("nil", func() { _ = em.Lte(nil) })},
		"In":                       {calm("not a list", func() { _ = em.In(5) })},
		"Nin":                      {calm("nil", func() { _ = em.Nin(nil) })},
		"Like":                     {calm("empty", func() { _ = em.Like("") })},
		"ILike":                    {calm("empty", func() { _ = em.ILike("") })},
		"Exists":                   {calm("false", func() { _ = em.Exists(false) })},
		"FieldMeta.Addr": {
			calm("nil field", func() { _ = nilField.Addr(ann) }),
			calm("nil entity", func() { _ = nameField.Addr(nil) }),
			calm("other entity type", func() { _ = nameField.Addr(&stranger{}) }),
			calm("not a pointer", func() { _ = nameField.Addr(author{}) }),
		},
		"FieldMeta.Get": {
			calm("nil field", func() { _ = nilField.Get(ann) }),
			calm("nil entity", func() { _ = nameField.Get(nil) }),
			calm("nil pointer", func() { _ = nameField.Get(nilAuthor) }),
			calm("other entity type", func() { _ = nameField.Get(&stranger{}) }),
		},
		"FieldMeta.IsReference": {calm("nil field", func() { _ = nilField.IsReference() })},
		"FieldMeta.Owner":       {calm("nil field", func() { _ = nilField.Owner() })},
		"FieldMeta.Set": {
			bad("nil field", func() error { return nilField.Set(ann, "x") }),
			bad("nil entity", func() error { return nameField.Set(nil, "x") }),
			bad("nil pointer", func() error { return nameField.Set(nilAuthor, "x") }),
			bad("other entity type", func() error { return nameField.Set(&stranger{}, "x") }),
			bad("value of a wrong type", func() error { return nameField.Set(&author{}, make(chan int)) }),
		},
		"FieldMeta.Value": {
			calm("nil field", func() { _ = nilField.Value(ann) }),
			calm("nil entity", func() { _ = nameField.Value(nil) }),
			calm("other entity type", func() { _ = nameField.Value(&stranger{}) }),
		},
		"FilterError.Error":         {calm("zero error", func() { _ = (&em.FilterError{}).Error() })},
		"FilterError.Is":            {calm("zero error", func() { _ = (&em.FilterError{}).Is(nil) })},
		"MetadataError.Error":       {calm("zero error", func() { _ = (&em.MetadataError{}).Error() })},
		"MetadataError.Is":          {calm("zero error", func() { _ = (&em.MetadataError{}).Is(nil) })},
		"MetadataError.Unwrap":      {calm("zero error", func() { _ = (&em.MetadataError{}).Unwrap() })},
		"NotFoundError.Error":       {calm("zero error", func() { _ = (&em.NotFoundError{}).Error() })},
		"NotFoundError.Is":          {calm("zero error", func() { _ = (&em.NotFoundError{}).Is(nil) })},
		"OptimisticLockError.Error": {calm("zero error", func() { _ = (&em.OptimisticLockError{}).Error() })},
		"OptimisticLockError.Is":    {calm("zero error", func() { _ = (&em.OptimisticLockError{}).Is(nil) })},
		"ValidationError.Error":     {calm("zero error", func() { _ = (&em.ValidationError{}).Error() })},
		"ValidationError.Is":        {calm("zero error", func() { _ = (&em.ValidationError{}).Is(nil) })},
		"Open": {
			bad("empty config", func() error { _, err := em.Open(ctx, em.Config{}); return err }),
			bad("nil context", func() error {
				_, err := em.Open(nilCtx, em.Config{Driver: "sqlite", DSN: "file::memory:", Entities: emtest.Entities})
				return err
			}),
			bad("nil entity", func() error {
				_, err := em.Open(ctx, em.Config{Driver: "sqlite", DSN: "file::memory:", Entities: []any{nil}})
				return err
			}),
			bad("not a struct", func() error {
				_, err := em.Open(ctx, em.Config{Driver: "sqlite", DSN: "file::memory:", Entities: []any{5}})
				return err
			}),
			bad("nil schema", func() error {
				_, err := em.Open(ctx, em.Config{Driver: "sqlite", DSN: "file::memory:", Schemas: []*em.Schema{nil}})
				return err
			}),
			bad("nil subscriber", func() error {
				_, err := em.Open(ctx, em.Config{Driver: "sqlite", DSN: "file::memory:", Entities: emtest.Entities, Subscribers: []em.Subscriber{nil}})
				return err
			}),
			bad("nil subscriber func", func() error {
				var sf em.SubscriberFunc
				_, err := em.Open(ctx, em.Config{Driver: "sqlite", DSN: "file::memory:", Entities: emtest.Entities, Subscribers: []em.Subscriber{sf}})
				return err
			}),
			bad("unknown driver", func() error { _, err := em.Open(ctx, em.Config{Driver: "nope", DSN: "x"}); return err }),
		},
		"OpenBackend": {bad("nil backend", func() error { _, err := em.OpenBackend(ctx, nil, em.Config{}); return err })},
		"OpenConn":    {bad("nil connection", func() error { _, err := em.OpenConn(ctx, nil, em.Config{}); return err })},
		"ORM.Backend": {calm("SQL", func() { _ = o.Backend() })},
		"ORM.Close": {calm("twice", func() {
			o2, err := em.Open(ctx, em.Config{Driver: "sqlite", DSN: "file::memory:", Entities: emtest.Entities})
			if err == nil {
				_ = o2.Close()
				_ = o2.Close()
			}
		})},
		"ORM.CreateSchema": {bad("exists already", func() error { return o.CreateSchema(ctx) })},
		"ORM.DB":           {calm("SQL", func() { _ = o.DB() })},
		"ORM.Dialect":      {calm("SQL", func() { _ = o.Dialect() })},
		"ORM.DropSchema":   {bad("nil context", func() error { return o.DropSchema(nilCtx) })},
		"ORM.EM": {
			bad("root manager without a fork", func() error { return o.EM().Persist(&author{}) }),
		},
		"ORM.Fork": {calm("SQL", func() { _ = o.Fork() })},
		"ORM.MarshalEntity": {
			bad("nil", func() error { _, err := o.MarshalEntity(nil); return err }),
			bad("nil pointer", func() error { _, err := o.MarshalEntity(nilAuthor); return err }),
			bad("not an entity", func() error { _, err := o.MarshalEntity(5); return err }),
			bad("unregistered type", func() error { _, err := o.MarshalEntity(&stranger{}); return err }),
		},
		"ORM.Meta": {
			bad("nil", func() error { _, err := o.Meta(nil); return err }),
			bad("unregistered type", func() error { _, err := o.Meta(stranger{}); return err }),
		},
		"ParseFilter": {
			bad("nil metadata", func() error { _, err := em.ParseFilter(nil, em.F{"name": "Ann"}); return err }),
			bad("unknown property", func() error { _, err := em.ParseFilter(metaOf(o, author{}), em.F{"nope": 1}); return err }),
			bad("relation path", func() error {
				_, err := em.ParseFilter(metaOf(o, author{}), em.F{"reviews": em.F{}})
				return err
			}),
			bad("not a filter", func() error { _, err := em.ParseFilter(metaOf(o, author{}), 1.5); return err }),
		},
		"ORM.Metas": {calm("SQL", func() { _ = o.Metas() })},
		"ORM.Middleware": {calm("nil handler", func() {
			o.Middleware(nil).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		})},
		"ORM.RefreshSchema": {bad("nil context", func() error { return o.RefreshSchema(nilCtx) })},
		"ORM.SchemaSQL":     {calm("SQL", func() { _, _ = o.SchemaSQL() })},
		"QB": {
			bad("nil manager", func() error { _, err := em.QB[author](nil, "a").All(ctx); return err }),
			bad("unregistered type", func() error { _, err := em.QB[stranger](e, "s").All(ctx); return err }),
		},
		"QueryBuilder.Build": {
			bad("zero builder", func() error { _, err := zeroQB.Build(); return err }),
			bad("unknown join path", func() error { _, err := em.QB[author](e, "a").Join("a.nope", "n").Build(); return err }),
			bad("bad where", func() error { _, err := em.QB[author](e, "a").Where(em.F{"a.nope": 1}).Build(); return err }),
			bad("bad order", func() error { _, err := em.QB[author](e, "a").OrderBy("a.nope").Build(); return err }),
			calm("odd select", func() { _, _ = em.QB[author](e, "a").Select(nil, 5).Build() }),
			calm("negative paging", func() { _, _ = em.QB[author](e, "a").Limit(-1).Offset(-1).Build() }),
			bad("empty alias", func() error { _, err := em.QB[author](e, "").Join("reviews", "").Build(); return err }),
		},
		"QueryBuilder.Delete":        {bad("zero builder", func() error { _, err := zeroQB.Delete(ctx); return err })},
		"QueryBuilder.Distinct":      {calm("zero builder", func() { _ = zeroQB.Distinct() })},
		"QueryBuilder.Execute":       {bad("zero builder", func() error { _, err := zeroQB.Execute(ctx); return err })},
		"QueryBuilder.ExecuteInto":   {bad("zero builder", func() error { return zeroQB.ExecuteInto(ctx, nil) }), bad("nil destination", func() error { return em.QB[author](e, "a").ExecuteInto(ctx, nil) }), bad("not a pointer", func() error { return em.QB[author](e, "a").ExecuteInto(ctx, 5) })},
		"QueryBuilder.Count":         {bad("zero builder", func() error { _, err := zeroQB.Count(ctx); return err })},
		"QueryBuilder.All":           {bad("zero builder", func() error { _, err := zeroQB.All(ctx); return err })},
		"QueryBuilder.One":           {bad("zero builder", func() error { _, err := zeroQB.One(ctx); return err })},
		"QueryBuilder.GroupBy":       {calm("zero builder", func() { _ = zeroQB.GroupBy("x") })},
		"QueryBuilder.Having":        {calm("zero builder", func() { _ = zeroQB.Having(nil) })},
		"QueryBuilder.Join":          {calm("zero builder", func() { _ = zeroQB.Join("x", "y") })},
		"QueryBuilder.LeftJoin":      {calm("zero builder", func() { _ = zeroQB.LeftJoin("x", "y", nil) })},
		"QueryBuilder.Limit":         {calm("zero builder", func() { _ = zeroQB.Limit(-1) })},
		"QueryBuilder.Offset":        {calm("zero builder", func() { _ = zeroQB.Offset(-1) })},
		"QueryBuilder.OrderBy":       {calm("zero builder", func() { _ = zeroQB.OrderBy("x") })},
		"QueryBuilder.Populate":      {calm("zero builder", func() { _ = zeroQB.Populate("x") })},
		"QueryBuilder.Select":        {calm("zero builder", func() { _ = zeroQB.Select(nil) })},
		"QueryBuilder.Update":        {bad("zero builder", func() error { _, err := zeroQB.Update(ctx, em.F{"x": 1}); return err }), bad("nil set", func() error { _, err := em.QB[author](e, "a").Update(ctx, nil); return err }), bad("unknown property", func() error { _, err := em.QB[author](e, "a").Update(ctx, em.F{"nope": 1}); return err })},
		"QueryBuilder.Where":         {calm("zero builder", func() { _ = zeroQB.Where(5) })},
		"GetReference":               {bad("nil manager", func() error { _, err := em.GetReference[author](nil, 1); return err }), bad("unregistered type", func() error { _, err := em.GetReference[stranger](e, 1); return err }), bad("nil key", func() error { _, err := em.GetReference[author](e, nil); return err }), bad("key of a wrong type", func() error { _, err := em.GetReference[author](e, "one"); return err })},
		"RefTo":                      {calm("nil entity", func() { _ = em.RefTo[author](nil) })},
		"Ref.Get":                    {calm("zero reference", func() { _, _ = zeroRef.Get() })},
		"Ref.ID":                     {calm("zero reference", func() { _ = zeroRef.ID() })},
		"Ref.IsLoaded":               {calm("zero reference", func() { _ = zeroRef.IsLoaded() })},
		"Ref.IsSet":                  {calm("zero reference", func() { _ = zeroRef.IsSet() })},
		"Ref.Load":                   {calm("zero reference", func() { r := zeroRef; _, _ = r.Load(ctx, e) }), bad("nil manager", func() error { r, _ := em.GetReference[author](e, ann.ID+100); _, err := r.Load(ctx, nil); return err }), bad("nil reference", func() error { var r *em.Ref[author]; _, err := r.Load(ctx, e); return err })},
		"NewSchema":                  {calm("not a struct", func() { _ = em.NewSchema[int]("") })},
		"Schema.ChangeTracking":      {calm("out of range", func() { _ = em.NewSchema[stranger]("s").ChangeTracking(200) })},
		"Schema.Field":               {calm("unknown field", func() { _ = em.NewSchema[stranger]("s").Field("nope", em.FieldDef{}) })},
		"SnakeCase.ColumnName":       {calm("empty", func() { _ = em.SnakeCase{}.ColumnName("") })},
		"SnakeCase.TableName":        {calm("empty", func() { _ = em.SnakeCase{}.TableName("") })},
		"SubscriberFunc.HandleEvent": {bad("nil function", func() error { var f em.SubscriberFunc; return f.HandleEvent(ctx, nil) })},
	}
	for _, f := range badFilters {
		f := f
		desc := fmt.Sprintf("filter %v", f)
		table["Count"] = append(table["Count"], bad(desc, func() error { _, err := em.Count[author](ctx, e, f); return err }))
		table["Find"] = append(table["Find"], bad(desc, func() error { _, err := em.Find[author](ctx, e, f); return err }))
		table["FindOne"] = append(table["FindOne"], bad(desc, func() error { _, err := em.FindOne[author](ctx, e, f); return err }))
		table["NativeDelete"] = append(table["NativeDelete"], bad(desc, func() error { _, err := em.NativeDelete[author](ctx, e, f); return err }))
		table["QueryBuilder.Where"] = append(table["QueryBuilder.Where"], bad(desc, func() error { _, err := em.QB[author](e, "a").Where(f).All(ctx); return err }))
	}
	for _, fo := range findOpts {
		fo := fo
		desc := fmt.Sprintf("options %+v", fo)
		table["FindAll"] = append(table["FindAll"], bad(desc, func() error { _, err := em.FindAll[author](ctx, e, fo); return err }))
		table["FindOne"] = append(table["FindOne"], bad(desc, func() error { _, err := em.FindOne[author](ctx, e, ann.ID, fo); return err }))
	}
	table["FindAll"] = append(table["FindAll"], calm("negative paging", func() { _, _ = em.FindAll[author](ctx, e, em.FindOptions{Limit: -1, Offset: -1}) }))
	two, repo := []em.FindOptions{{Limit: 1}, {Offset: 1}}, em.Repo[author](e)
	for name, call := range map[string]func() error{
		"Find":                           func() error { _, err := em.Find[author](ctx, e, nil, two...); return err },
		"FindAll":                        func() error { _, err := em.FindAll[author](ctx, e, two...); return err },
		"FindOne":                        func() error { _, err := em.FindOne[author](ctx, e, ann.ID, two...); return err },
		"FindOneOrFail":                  func() error { _, err := em.FindOneOrFail[author](ctx, e, ann.ID, two...); return err },
		"FindAndCount":                   func() error { _, _, err := em.FindAndCount[author](ctx, e, nil, two...); return err },
		"EntityRepository.Find":          func() error { _, err := repo.Find(ctx, nil, two...); return err },
		"EntityRepository.FindAll":       func() error { _, err := repo.FindAll(ctx, two...); return err },
		"EntityRepository.FindOne":       func() error { _, err := repo.FindOne(ctx, ann.ID, two...); return err },
		"EntityRepository.FindOneOrFail": func() error { _, err := repo.FindOneOrFail(ctx, ann.ID, two...); return err },
		"EntityRepository.FindAndCount":  func() error { _, _, err := repo.FindAndCount(ctx, nil, two...); return err },
		"Collection.Matching":            func() error { _, err := ann.Reviews.Matching(ctx, e, nil, two...); return err },
	} {
		table[name] = append(table[name], bad("two FindOptions", call))
	}

	api := exportedAPI(t)
	for _, name := range api {
		if len(table[name]) == 0 {
			t.Errorf("%s is exported but not in the table of TestNoPanicForCallerMistakes: add its wrong calls", name)
		}
	}
	for name := range table {
		if !slices.Contains(api, name) {
			t.Errorf("the table of TestNoPanicForCallerMistakes names %s, which em does not export", name)
		}
	}
	for name, calls := range table {
		for _, c := range calls {
			err, panicked := func() (err error, p any) {
				defer func() { p = recover() }()
				return c.call(), nil
			}()
			switch {
			case panicked != nil:
				t.Errorf("%s, %s: panicked: %v", name, c.desc, panicked)
			case c.wantErr && err == nil:
				t.Errorf("%s, %s: no error", name, c.desc)
			}
		}
	}
}

// TestPgxdriverOpenRefusesNilContext: pgxdriver.Open returns ErrNilContext
// for a nil context (nothing is dialled: the pool connects lazily).
func TestPgxdriverOpenRefusesNilContext(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var noCtx context.Context
	if _, err := pgxdriver.Open(noCtx, pool, em.Config{Entities: emtest.Entities}); !errors.Is(err, em.ErrNilContext) {
		t.Fatalf("pgxdriver.Open with a nil context: %v, want ErrNilContext", err)
	}
	if _, err := pgxdriver.Open(context.Background(), nil, em.Config{Entities: emtest.Entities}); err == nil {
		t.Fatal("pgxdriver.Open with a nil pool: no error")
	}
}
