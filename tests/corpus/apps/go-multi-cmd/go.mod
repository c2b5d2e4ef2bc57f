module github.com/example/shortlinks

go 1.19
