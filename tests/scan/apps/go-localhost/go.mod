module github.com/example/todo-api

go 1.22

require github.com/lib/pq v1.10.9
