package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The etcd PKI lives in EtcdDir under the directory given to
// LoadOrCreateEtcd, laid out as kubeadm lays out /etc/kubernetes/pki/etcd.
// Its CA is not the cluster CA: a certificate the cluster CA signs (an API
// server's, a node's) must not open the registry.
const (
	EtcdDir            = "etcd"
	EtcdServerCertFile = "server.crt" // a member's client listener
	EtcdServerKeyFile  = "server.key"
	EtcdPeerCertFile   = "peer.crt" // between members, both ways
	EtcdPeerKeyFile    = "peer.key"
	EtcdClientCertFile = "client.crt" // what Shoal's own etcd clients present
	EtcdClientKeyFile  = "client.key"
)

// etcdCAName is the etcd CA's common name.
const etcdCAName = "shoal-etcd-ca"

// EtcdFiles are the paths of the etcd CA certificate and of one server's
// etcd key pairs, all issued by that CA.
type EtcdFiles struct {
	CA                    string
	ServerCert, ServerKey string
	PeerCert, PeerKey     string
	ClientCert, ClientKey string
}

// LoadOrCreateEtcd keeps the etcd CA in <dir>/etcd (made on the first
// server's first start; a joining server receives the first one's) and
// issues from it, whenever missing, expiring or not naming every one of
// hosts: the member's serving certificate for its client listener, its peer
// certificate (server and client authentication between members) and the
// client certificate Shoal's own etcd clients (API server, `shoal dns`)
// present. Loopback and localhost are always named.
func LoadOrCreateEtcd(dir string, hosts []string) (EtcdFiles, error) {
	return loadOrCreateEtcd(dir, hosts, time.Now())
}

func loadOrCreateEtcd(dir string, hosts []string, now time.Time) (EtcdFiles, error) {
	dir = filepath.Join(dir, EtcdDir)
	ca, err := loadOrCreateCA(dir, etcdCAName, now)
	if err != nil {
		return EtcdFiles{}, fmt.Errorf("etcd CA: %w", err)
	}
	names := parseHosts(loopbackHosts, hosts)
	server, client := x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth
	for _, l := range []leaf{
		{certFile: EtcdServerCertFile, keyFile: EtcdServerKeyFile, commonName: "shoal-etcd-server", usages: []x509.ExtKeyUsage{server}, sans: names},
		{certFile: EtcdPeerCertFile, keyFile: EtcdPeerKeyFile, commonName: "shoal-etcd-peer", usages: []x509.ExtKeyUsage{server, client}, sans: names},
		{certFile: EtcdClientCertFile, keyFile: EtcdClientKeyFile, commonName: "shoal-etcd-client", usages: []x509.ExtKeyUsage{client}},
	} {
		if _, err := l.loadOrIssue(dir, ca.CA, ca.caKey, now); err != nil {
			return EtcdFiles{}, fmt.Errorf("etcd: %w", err)
		}
	}
	at := func(name string) string { return filepath.Join(dir, name) }
	return EtcdFiles{
		CA:         at(CACertFile),
		ServerCert: at(EtcdServerCertFile), ServerKey: at(EtcdServerKeyFile),
		PeerCert: at(EtcdPeerCertFile), PeerKey: at(EtcdPeerKeyFile),
		ClientCert: at(EtcdClientCertFile), ClientKey: at(EtcdClientKeyFile),
	}, nil
}

// ClientTLS returns the TLS configuration of an etcd client that presents
// certFile and keyFile and trusts only the CA in caFile: the files of
// kube-apiserver's --etcd-certfile, --etcd-keyfile and --etcd-cafile.
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("etcd client certificate: %w", err)
	}
	tc, err := CATLS(caFile)
	if err != nil {
		return nil, err
	}
	tc.Certificates = []tls.Certificate{pair}
	return tc, nil
}

// CATLS returns the TLS configuration of a client that trusts only the CA
// in caFile.
func CATLS(caFile string) (*tls.Config, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("CA %s: no PEM certificate in it", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
