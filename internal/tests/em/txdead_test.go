package em_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mikrogo/mikro/em"
	"github.com/mikrogo/mikro/internal/dbtest"
)

// TestDeadlockVictimTransactionIsDead (issue 11, bug 9; contract C3): two
// forks lock two rows in opposite order and the database kills one. The
// victim's transaction is dead: every later call in it fails with an error
// matching the deadlock, Commit rolls back and returns it, nothing of the
// victim's transaction is in the database (neither its earlier insert and
// update nor the change of the failed flush, whether the caller keeps or
// detaches it), and Rollback succeeds and restores the unit of work.
func TestDeadlockVictimTransactionIsDead(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, tg dbtest.Target) {
		if tg.Name == dbtest.SQLite {
			t.Skip("SQLite has one writer at a time: no deadlocks between row locks")
		}
		for _, mode := range []string{"keep_commit", "detach_commit", "rollback"} {
			t.Run(mode, func(t *testing.T) { deadlockVictim(t, tg, mode) })
		}
	})
}

func deadlockVictim(t *testing.T, tg dbtest.Target, mode string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := openAccts(t, tg, em.Config{})
	seed := o.Fork()
	a, b := &Acct{Name: "a", Balance: 10}, &Acct{Name: "b", Balance: 10}
	must(t, seed.Persist(a, b))
	must(t, seed.Flush(ctx))

	type side struct {
		e      *em.EntityManager
		first  *Acct // locked first, then the other
		other  int64
		extra  *Acct // inserted earlier in the transaction
		change *Acct // the row whose update deadlocks
	}
	mk := func(first, other *Acct, extraName string) *side {
		s := &side{e: o.Fork(), other: other.ID}
		must(t, s.e.Begin(ctx))
		s.extra = &Acct{Name: extraName, Balance: 1}
		must(t, s.e.Persist(s.extra))
		must(t, s.e.Flush(ctx))
		mine, err := em.FindOneOrFail[Acct](ctx, s.e, first.ID, em.FindOptions{Lock: em.LockPessimisticWrite})
		must(t, err)
		mine.Balance += 100 // an earlier update in the transaction
		must(t, s.e.Flush(ctx))
		return s
	}
	s1, s2 := mk(a, b, "x1"), mk(b, a, "x2")
	// Each now updates the row the other holds.
	run := func(s *side, errc chan<- error) {
		got, err := em.FindOneOrFail[Acct](ctx, s.e, s.other)
		if err != nil {
			errc <- err
			return
		}
		s.change = got
		got.Balance += 1000
		errc <- s.e.Flush(ctx)
	}
	err1, err2 := make(chan error, 1), make(chan error, 1)
	go run(s1, err1)
	time.Sleep(300 * time.Millisecond) // let s1 wait on b first
	go run(s2, err2)
	// The victim is the side whose flush fails. On MariaDB the winner may
	// be through first (InnoDB has rolled the victim back already); on
	// PostgreSQL it waits for the victim's rollback.
	var victim, winner *side
	var verr error
	winnerDone := false
	select {
	case verr = <-err1:
		victim, winner = s1, s2
		if verr == nil {
			victim, winner, winnerDone = s2, s1, true
			verr = <-err2
		}
	case verr = <-err2:
		victim, winner = s2, s1
		if verr == nil {
			victim, winner, winnerDone = s1, s2, true
			verr = <-err1
		}
	}
	if verr == nil {
		t.Fatal("both flushes succeeded: want one deadlock victim")
	}
	if !errors.Is(verr, em.ErrDeadlock) {
		t.Fatalf("victim's flush: %v, want ErrDeadlock", verr)
	}
	// The victim's locks are gone (the server rolled it back, or will
	// with the calls below): the winner goes through and commits.
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, em.ErrDeadlock) {
			t.Errorf("%s in the dead transaction: %v, want an error matching ErrDeadlock", what, err)
		}
	}
	if mode == "detach_commit" {
		victim.e.Detach(victim.change)
	}
	_, err := em.Find[Acct](ctx, victim.e, em.F{})
	check("Find", err)
	_, err = em.Count[Acct](ctx, victim.e, em.F{})
	check("Count", err)
	check("Flush", victim.e.Flush(ctx))
	check("Transactional", victim.e.Transactional(ctx, func(*em.EntityManager) error { return nil }))
	_, err = em.QB[Acct](victim.e, "a").All(ctx)
	check("QB", err)
	if mode == "rollback" {
		must(t, victim.e.Rollback(ctx))
	} else {
		check("Commit", victim.e.Commit(ctx))
	}
	if victim.e.InTransaction() {
		t.Errorf("%s of a dead transaction left it open", mode)
	}
	// PostgreSQL keeps the victim's locks until it rolls back: only now
	// can the winner be waited for.
	if !winnerDone {
		if winner == s1 {
			must(t, <-err1)
		} else {
			must(t, <-err2)
		}
	}
	must(t, winner.e.Commit(ctx))
	// (What the victim's manager holds after the rollback is C2's, tested
	// with the rollback cases.)

	// The database holds the winner's transaction and nothing of the
	// victim's.
	check2 := o.Fork()
	all, err := em.FindAll[Acct](ctx, check2, em.FindOptions{OrderBy: []string{"name"}})
	must(t, err)
	got := map[string]int64{}
	for _, x := range all {
		got[x.Name] = x.Balance
	}
	wantWinnerFirst, wantWinnerOther := int64(110), int64(1010)
	winFirst, winOther := "a", "b"
	if winner == s2 {
		winFirst, winOther = "b", "a"
	}
	if len(got) != 3 || got[winFirst] != wantWinnerFirst || got[winOther] != wantWinnerOther {
		t.Fatalf("rows after the deadlock: %v; want only the winner's work (%s=%d, %s=%d and its extra row)",
			got, winFirst, wantWinnerFirst, winOther, wantWinnerOther)
	}
	if _, ok := got[victim.extra.Name]; ok {
		t.Fatalf("the victim's insert %q is in the database: %v", victim.extra.Name, got)
	}
}
