// Package migrate compares the schema the entities of an em.ORM describe
// with a live database, and plans the SQL that brings the database to it.
package migrate
