module github.com/mikrogo/mikro/examples

go 1.26.0
