module example.com/labgo

go 1.22
