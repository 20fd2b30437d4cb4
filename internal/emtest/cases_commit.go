package emtest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/mikrogo/mikro/em"
)

// Notice has an AfterCommit hook: it records each committed write of it.
type Notice struct {
	ID   int64  `db:"id" orm:"pk"`
	Name string `db:"name" orm:"unique,length=50"`
}

// TableName names the table (prefixed, so that the suite's tables do not
// collide with others in the test database).
func (Notice) TableName() string { return "em_notice" }

var (
	noticeMu    sync.Mutex
	noticeTrail []string
)

// AfterCommit records the committed write.
func (n *Notice) AfterCommit(_ context.Context, op em.EventKind) error {
	noticeMu.Lock()
	noticeTrail = append(noticeTrail, op.String()+":"+n.Name)
	noticeMu.Unlock()
	return nil
}

func takeNotices() []string {
	noticeMu.Lock()
	defer noticeMu.Unlock()
	t := noticeTrail
	noticeTrail = nil
	return t
}

func init() {
	behaviourCases = append(behaviourCases,
		behaviourCase{name: "after_commit_hook_only_for_committed_writes", config: func(c *em.Config) {
			c.Entities = append(slices.Clone(c.Entities), (*Notice)(nil))
		}, run: func(t *testing.T, v env) {
			takeNotices()
			e := v.orm.Fork()
			a, b := &Notice{Name: "a"}, &Notice{Name: "b"}
			must(t, e.Persist(a, b))
			must(t, e.Flush(v.ctx))
			if got := takeNotices(); !slices.Equal(got, []string{"AfterCreate:a", "AfterCreate:b"}) && !slices.Equal(got, []string{"AfterCreate:b", "AfterCreate:a"}) {
				t.Fatalf("after a committed flush: %v", got)
			}
			// A failed flush commits nothing: no hook; its retry: one each.
			c, dup := &Notice{Name: "c"}, &Notice{Name: "a"}
			must(t, e.Persist(c, dup))
			if err := e.Flush(v.ctx); !errors.Is(err, em.ErrUniqueViolation) {
				t.Fatalf("duplicate: %v", err)
			}
			if got := takeNotices(); len(got) != 0 && v.sql {
				t.Fatalf("AfterCommit ran for a failed flush: %v", got)
			}
			takeNotices()
			e.Detach(dup)
			must(t, e.Flush(v.ctx))
			if got := takeNotices(); v.sql && !slices.Equal(got, []string{"AfterCreate:c"}) {
				t.Fatalf("after the retry: %v", got)
			}
			a.Name = "a2"
			must(t, e.Remove(b))
			must(t, e.Flush(v.ctx))
			if got := takeNotices(); !slices.Contains(got, "AfterUpdate:a2") || !slices.Contains(got, "AfterDelete:b") || len(got) != 2 {
				t.Fatalf("update and delete: %v", got)
			}
			if !v.sql {
				return // transactions and savepoints below
			}
			// Inside a transaction: nothing until the COMMIT; a failed savepoint
			// and a rolled-back transaction never.
			err := e.Transactional(v.ctx, func(tx *em.EntityManager) error {
				must(t, tx.Persist(&Notice{Name: "outer"}))
				must(t, tx.Flush(v.ctx))
				_ = tx.Transactional(v.ctx, func(tx *em.EntityManager) error {
					must(t, tx.Persist(&Notice{Name: "inner"}))
					must(t, tx.Flush(v.ctx))
					return errors.New("inner fails")
				})
				if got := takeNotices(); len(got) != 0 {
					t.Errorf("AfterCommit ran before the COMMIT: %v", got)
				}
				return nil
			})
			must(t, err)
			if got := takeNotices(); !slices.Equal(got, []string{"AfterCreate:outer"}) {
				t.Fatalf("after the COMMIT: %v, want only the outer write", got)
			}
			must(t, e.Begin(v.ctx))
			must(t, e.Persist(&Notice{Name: "never"}))
			must(t, e.Flush(v.ctx))
			must(t, e.Rollback(v.ctx))
			if got := takeNotices(); len(got) != 0 {
				t.Fatalf("AfterCommit ran for a rolled-back transaction: %v", got)
			}
		}},
	)
}
