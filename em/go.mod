module github.com/mikrogo/mikro/em

go 1.24

require github.com/mikrogo/mikro/qb v0.1.0
