//go:build tools

// Package helm pins the command that `build.sh` builds, so that `go mod tidy`
// keeps its module in go.mod and go.sum.
package helm

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
