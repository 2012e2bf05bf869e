package cluster

import (
	"crypto/tls"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/shoalmesh/shoal/controlplane/pki"
)

// connect returns the etcd client of a `cluster` block with endpoints
// (shoal dns): one per plugin instance, closed on shutdown.
func connect(cfg Config) (*clientv3.Client, error) {
	tc, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:            cfg.Endpoints,
		TLS:                  tc,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		Logger:               zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", cfg.Endpoints, err)
	}
	return c, nil
}

// tlsConfig is the etcd client's TLS configuration (nil without `tls`).
func tlsConfig(cfg Config) (*tls.Config, error) {
	if cfg.TLSCert == "" {
		return nil, nil
	}
	return pki.ClientTLS(cfg.TLSCA, cfg.TLSCert, cfg.TLSKey)
}
