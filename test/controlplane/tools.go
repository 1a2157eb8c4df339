//go:build tools

// Package controlplane pins the commands that `build.sh` builds, so that
// `go mod tidy` keeps their modules in go.mod and go.sum.
package controlplane

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
