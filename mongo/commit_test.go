package mongo_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mikrogo/mikro/em"
)

// TestCommitOutcomeUnknownOnAReplicaSet (issue 11, contract C4): a commit
// the server cannot vouch for (UnknownTransactionCommitResult, still after
// the retries) is never reported as "nothing happened": the error matches
// em.ErrCommitUnknown, the unit of work is kept as committed (keys,
// managed), and flushing again writes nothing a second time.
func TestCommitOutcomeUnknownOnAReplicaSet(t *testing.T) {
	db, p, direct := rsServer(t)
	ctx := context.Background()
	orm := open(t, db, em.Config{})
	e := orm.Fork()
	cy := &Writer{Name: "Cy"}
	novel := &Novel{Title: "Sea", Price: 3}
	p.FailCommitsUnknown(true)
	err := e.Transactional(ctx, func(tx *em.EntityManager) error {
		cy.Novels.Add(novel)
		return tx.Persist(cy)
	})
	p.FailCommitsUnknown(false)
	if !errors.Is(err, em.ErrCommitUnknown) {
		t.Fatalf("a commit with an unknown outcome returned %v, want an error matching em.ErrCommitUnknown", err)
	}
	if cy.ID == "" || novel.ID == "" || !e.IsManaged(cy) || !e.IsManaged(novel) {
		t.Fatalf("after an unknown commit: keys %q %q, managed %v %v; want kept as committed", cy.ID, novel.ID, e.IsManaged(cy), e.IsManaged(novel))
	}
	p.Reset()
	must(t, e.Flush(ctx))
	if cmds := entityCommands(p); len(cmds) != 0 {
		t.Fatalf("the flush after an unknown commit wrote again: %+v", cmds)
	}
	// (The proxy applies writes at once, as the commit would have.)
	countNamed(t, direct, "Cy", 1)
}
