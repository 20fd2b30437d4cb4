package emtest

import "github.com/mikrogo/mikro/em"

// The model-based test's own domain (tables em_m_*): small, so that random
// sequences of operations meet each other often, with every feature of the
// unit of work the contract speaks of.

// MParent has a version, a unique column, a one-to-many with orphan
// removal and a many-to-many.
type MParent struct {
	ID       int64                 `db:"id" orm:"pk"`
	Name     string                `db:"name" orm:"unique,length=40"`
	Score    int                   `db:"score"`
	Version  int                   `db:"version" orm:"version"`
	Children em.Collection[MChild] `orm:"mappedBy=parent,orphanRemoval"`
	Labels   em.Collection[MLabel] `orm:"manyToMany"`
}

// TableName names the table (prefixed em_m_: the model's tables).
func (MParent) TableName() string { return "em_m_parent" }

// MChild is an item of MParent.Children: a required many-to-one.
type MChild struct {
	ID     int64           `db:"id" orm:"pk"`
	Note   string          `db:"note" orm:"length=40"`
	Parent em.Ref[MParent] `db:"parent_id"`
}

// TableName names the table (prefixed em_m_: the model's tables).
func (MChild) TableName() string { return "em_m_child" }

// MLabel is the item side of MParent.Labels.
type MLabel struct {
	ID   int64  `db:"id" orm:"pk"`
	Name string `db:"name" orm:"length=40"`
}

// TableName names the table (prefixed em_m_: the model's tables).
func (MLabel) TableName() string { return "em_m_label" }

// ModelEntities lists the model's entity types, for Config.Entities.
var ModelEntities = []any{(*MParent)(nil), (*MChild)(nil), (*MLabel)(nil)}
