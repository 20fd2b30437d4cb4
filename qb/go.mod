module github.com/mikrogo/mikro/qb

go 1.22
