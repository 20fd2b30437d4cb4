package emtest

import (
	"errors"
	"strings"
	"testing"

	"github.com/mikrogo/mikro/em"
)

func init() {
	behaviourCases = append(behaviourCases,
		behaviourCase{name: "find_options_at_most_one", run: findOptionsAtMostOne},
	)
}

// findOptionsAtMostOne: the finds take their FindOptions as a variadic
// parameter so that a call without options can leave them out; two values
// used to be taken as the first alone, silently. Each find refuses them with
// a *ValidationError naming the call, before any query, and one value still
// works.
func findOptionsAtMostOne(t *testing.T, v env) {
	a := seedAuthors(t, v, "Ann", "Bob")[0]
	e := v.orm.Fork()
	r := &Review{Text: "fine", Author: em.RefTo(a)}
	must(t, e.Persist(r))
	must(t, e.Flush(v.ctx))
	e = v.orm.Fork()
	owner, err := em.FindOneOrFail[Author](v.ctx, e, a.ID)
	must(t, err)
	repo := em.Repo[Author](e)
	two := []em.FindOptions{{OrderBy: []string{"name DESC"}}, {Limit: 1}}
	calls := []struct {
		op   string
		call func(opts ...em.FindOptions) (int, error) // the number of entities found
	}{
		{"Find[Author]", func(o ...em.FindOptions) (int, error) {
			l, err := em.Find[Author](v.ctx, e, em.F{"name": "Ann"}, o...)
			return len(l), err
		}},
		{"FindAll[Author]", func(o ...em.FindOptions) (int, error) {
			l, err := em.FindAll[Author](v.ctx, e, o...)
			return len(l), err
		}},
		{"FindOne[Author]", func(o ...em.FindOptions) (int, error) {
			x, err := em.FindOne[Author](v.ctx, e, a.ID, o...)
			return count(x), err
		}},
		{"FindOneOrFail[Author]", func(o ...em.FindOptions) (int, error) {
			x, err := em.FindOneOrFail[Author](v.ctx, e, em.F{"name": "Ann"}, o...)
			return count(x), err
		}},
		{"FindAndCount[Author]", func(o ...em.FindOptions) (int, error) {
			l, _, err := em.FindAndCount[Author](v.ctx, e, em.F{"name": "Ann"}, o...)
			return len(l), err
		}},
		{"EntityRepository[Author].Find", func(o ...em.FindOptions) (int, error) {
			l, err := repo.Find(v.ctx, em.F{"name": "Ann"}, o...)
			return len(l), err
		}},
		{"EntityRepository[Author].FindAll", func(o ...em.FindOptions) (int, error) {
			l, err := repo.FindAll(v.ctx, o...)
			return len(l), err
		}},
		{"EntityRepository[Author].FindOne", func(o ...em.FindOptions) (int, error) {
			x, err := repo.FindOne(v.ctx, a.ID, o...)
			return count(x), err
		}},
		{"EntityRepository[Author].FindOneOrFail", func(o ...em.FindOptions) (int, error) {
			x, err := repo.FindOneOrFail(v.ctx, em.F{"name": "Ann"}, o...)
			return count(x), err
		}},
		{"EntityRepository[Author].FindAndCount", func(o ...em.FindOptions) (int, error) {
			l, _, err := repo.FindAndCount(v.ctx, em.F{"name": "Ann"}, o...)
			return len(l), err
		}},
		{"Collection[Review].Matching", func(o ...em.FindOptions) (int, error) {
			l, err := owner.Reviews.Matching(v.ctx, e, em.F{"text": "fine"}, o...)
			return len(l), err
		}},
	}
	for _, c := range calls {
		v.log.Reset()
		_, err := c.call(two...)
		var ve *em.ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, em.ErrValidation) || ve.Op != c.op || ve.Field != "opts" || ve.Value != 2 ||
			!strings.HasPrefix(err.Error(), "em: "+c.op+": 2 FindOptions values") || !strings.Contains(err.Error(), "merge them into one FindOptions value") {
			t.Errorf("%s with two FindOptions: %v (%#v), want a *ValidationError naming it that says to merge them", c.op, err, ve)
		}
		if q := v.log.All(); len(q) != 0 {
			t.Errorf("%s with two FindOptions ran %v", c.op, q)
		}
		if n, err := c.call(em.FindOptions{Limit: 1}); err != nil || n != 1 {
			t.Errorf("%s with one FindOptions: %d found, %v; want 1", c.op, n, err)
		}
		if n, err := c.call(); err != nil || n < 1 {
			t.Errorf("%s without FindOptions: %d found, %v", c.op, n, err)
		}
	}
}

// count is 1 for an entity found, 0 for none.
func count[T any](x *T) int {
	if x == nil {
		return 0
	}
	return 1
}
