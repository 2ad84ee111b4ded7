module github.com/stockade-ids/stockade

go 1.26
