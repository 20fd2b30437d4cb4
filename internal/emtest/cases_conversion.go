package emtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mikrogo/mikro/em"
)

// Loose has fields whose columns are of another type than the field's own
// (as in a schema mikro did not create): the database hands back values of
// the column's type, and every read path must convert them alike.
type Loose struct {
	ID    int64   `db:"id" orm:"pk"`
	Code  string  `db:"code" orm:"type=NUMERIC(10,2)"`           // string over NUMERIC: a float on SQLite
	Opt   *string `db:"opt" orm:"type=NUMERIC(10,2)"`            // nullable pointer over NUMERIC
	Maybe string  `db:"maybe" orm:"nullable,type=NUMERIC(10,2)"` // nullable plain field over NUMERIC
	// Owners is the other side of LooseOwner.Loose.
	Owners em.Collection[LooseOwner] `orm:"mappedBy=loose"`
}

// TableName names the table.
func (Loose) TableName() string { return "em_loose" }

// LooseOwner refers to a Loose.
type LooseOwner struct {
	ID    int64          `db:"id" orm:"pk"`
	Name  string         `db:"name"`
	Loose em.Ref[Loose]  `db:"loose_id"`
	Text  em.Ref[LooseT] `db:"text_id" orm:"nullable"`
}

// TableName names the table.
func (LooseOwner) TableName() string { return "em_loose_owner" }

// LooseT has an int over TEXT and a bool over INTEGER, which database/sql
// converts (native pgx does not), and a time over TEXT, which only SQLite
// converts (its times are text anyway).
type LooseT struct {
	ID   int64      `db:"id" orm:"pk"`
	Qty  int        `db:"qty" orm:"type=TEXT"`
	Flag bool       `db:"flag" orm:"type=INTEGER"`
	At   *time.Time `db:"at" orm:"type=TEXT"`
}

// TableName names the table.
func (LooseT) TableName() string { return "em_loose_t" }

func init() {
	behaviourCases = append(behaviourCases, behaviourCase{
		name:    "read_paths_convert_alike",
		sqlOnly: "column types other than the field's are a SQL schema's; the joined strategy is SQL joins",
		config: func(c *em.Config) {
			c.Entities = append(append([]any(nil), c.Entities...), Loose{}, LooseOwner{}, LooseT{})
		},
		run: runReadPathsConvertAlike,
	})
}

// runReadPathsConvertAlike: entities over columns of other types load the
// same with the select-in and the joined strategy (and as plain finds), on
// the reference side and the collection side.
func runReadPathsConvertAlike(t *testing.T, v env) {
	e := v.orm.Fork()
	// Written as another program would: values of the columns' types.
	_, err := em.NativeInsert[Loose](v.ctx, e, map[string]any{"id": 1, "code": 12.5, "opt": 3.25, "maybe": 4.5})
	must(t, err)
	_, err = em.NativeInsert[Loose](v.ctx, e, map[string]any{"id": 2, "code": 8, "opt": nil, "maybe": nil})
	must(t, err)
	sqlite := v.target == "sqlite"
	data := []map[string]any{{"id": 10, "name": "a", "loose": 1}, {"id": 11, "name": "b", "loose": 1}, {"id": 12, "name": "c", "loose": 2}}
	text := v.orm.DB() != nil // through database/sql
	if text {
		row := map[string]any{"id": 1, "qty": "-3", "flag": 1}
		if sqlite {
			row["at"] = "2021-01-01 10:00:00.5"
		}
		_, err = em.NativeInsert[LooseT](v.ctx, e, row)
		must(t, err)
		data[0]["text"] = 1
	}
	for _, d := range data {
		_, err = em.NativeInsert[LooseOwner](v.ctx, e, d)
		must(t, err)
	}

	loose := func(l *Loose) string {
		opt := "nil"
		if l.Opt != nil {
			opt = *l.Opt
		}
		// NUMERIC(10,2) is text with two decimals on PostgreSQL and
		// MariaDB, a number on SQLite: compare as numbers.
		var code, o, maybe float64
		fmt.Sscan(l.Code, &code)
		fmt.Sscan(opt, &o)
		fmt.Sscan(l.Maybe, &maybe)
		return fmt.Sprintf("%d:%g/%g/%g", l.ID, code, o, maybe)
	}
	const wantOwners = "a→1:12.5/3.25/4.5 b→1:12.5/3.25/4.5 c→2:8/0/0"
	const wantLoose = "1:12.5/3.25/4.5[a b] 2:8/0/0[c]"
	for _, s := range []em.PopulateStrategy{em.SelectIn, em.Joined} {
		populate := []string{"loose"}
		if text {
			populate = append(populate, "text")
		}
		owners, err := em.FindAll[LooseOwner](v.ctx, v.orm.Fork(), em.FindOptions{OrderBy: []string{"id"}, Populate: populate, Strategy: s})
		if err != nil {
			t.Errorf("strategy %d: find owners populating %v: %v", s, populate, err)
			continue
		}
		var got []string
		for _, o := range owners {
			l, err := o.Loose.Get()
			if err != nil || l == nil {
				t.Fatalf("strategy %d: %s.Loose not populated: %v", s, o.Name, err)
			}
			got = append(got, o.Name+"→"+loose(l))
			if text && o.Name == "a" {
				lt, err := o.Text.Get()
				if err != nil || lt == nil || lt.Qty != -3 || !lt.Flag {
					t.Errorf("strategy %d: int over TEXT, bool over INTEGER: %+v %v, want -3, true", s, lt, err)
				} else if want := time.Date(2021, 1, 1, 10, 0, 0, 500_000_000, time.UTC); sqlite && (lt.At == nil || !lt.At.Equal(want)) {
					t.Errorf("strategy %d: time over TEXT: %v, want %v", s, lt.At, want)
				}
			}
		}
		if g := strings.Join(got, " "); g != wantOwners {
			t.Errorf("strategy %d: owners loaded as\n%s, want\n%s", s, g, wantOwners)
		}

		ls, err := em.FindAll[Loose](v.ctx, v.orm.Fork(), em.FindOptions{OrderBy: []string{"id"}, Populate: []string{"owners"}, Strategy: s})
		if err != nil {
			t.Errorf("strategy %d: find Loose populating owners: %v", s, err)
			continue
		}
		got = got[:0]
		for _, l := range ls {
			items, err := l.Owners.Items()
			must(t, err)
			var names []string
			for _, o := range items {
				names = append(names, o.Name)
			}
			got = append(got, loose(l)+"["+strings.Join(names, " ")+"]")
		}
		if g := strings.Join(got, " "); g != wantLoose {
			t.Errorf("strategy %d: Loose loaded as\n%s, want\n%s", s, g, wantLoose)
		}
	}
}
