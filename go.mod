module github.com/shipdeploy/ship

go 1.26.8
