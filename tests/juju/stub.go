package juju

import (
	_ "github.com/juju/charm/v12"
	_ "github.com/juju/juju/api"
	_ "github.com/juju/juju/api/client/action"
	_ "github.com/juju/juju/api/client/application"
	_ "github.com/juju/juju/api/client/applicationoffers"
	_ "github.com/juju/juju/api/client/charms"
	_ "github.com/juju/juju/api/client/client"
	_ "github.com/juju/juju/api/client/modelmanager"
	_ "github.com/juju/juju/api/client/resources"
	_ "github.com/juju/juju/api/common/charm"
	_ "github.com/juju/juju/core/crossmodel"
	_ "github.com/juju/juju/core/resources"
	_ "github.com/juju/juju/jujuclient"
	_ "github.com/juju/juju/rpc/params"
	_ "github.com/juju/names/v5"
	_ "github.com/jujulet/postgresql-k8s/tests/scenario"
	_ "gopkg.in/yaml.v3"
)
