module github.com/jujulet/postgresql-k8s/tests/juju

go 1.26.5

replace github.com/jujulet/postgresql-k8s => ../..
