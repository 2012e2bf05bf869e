package cni

import "github.com/shoalmesh/shoal/nodeagent/network"

var (
	// ErrInvalidConfig wraps every NodeConfig problem SetupNode reports.
	ErrInvalidConfig = network.ErrInvalidConfig
	// ErrStateLocked means another NodeNetwork (in this or another process)
	// uses the state directory.
	ErrStateLocked = network.ErrStateLocked
	// ErrClosed is returned by calls on a NodeNetwork after Close.
	ErrClosed = network.ErrClosed
)
