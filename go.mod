module github.com/stockade-ids/stockade

go 1.26

require (
	github.com/buger/jsonparser v1.6.1 // indirect
	github.com/expr-lang/expr v1.17.8 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
