module github.com/mikrogo/mikro/bench

go 1.26.0

require (
	github.com/Masterminds/squirrel v1.5.4
	github.com/doug-martin/goqu/v9 v9.19.0
	github.com/huandu/go-sqlbuilder v1.43.0
	github.com/mikrogo/mikro/qb v0.0.0
)

require (
	github.com/huandu/go-clone v1.7.3 // indirect
	github.com/huandu/xstrings v1.4.0 // indirect
	github.com/lann/builder v0.0.0-20180802200727-47ae307949d0 // indirect
	github.com/lann/ps v0.0.0-20150810152359-62de8c46ede0 // indirect
)

replace (
	github.com/mikrogo/mikro/internal => ../internal
	github.com/mikrogo/mikro/qb => ../qb
)
