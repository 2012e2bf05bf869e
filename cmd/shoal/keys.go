package main

import (
	"flag"
	"strings"

	"github.com/shoalmesh/shoal/cluster"
)

// addKeyFlags adds the flags of the keys every API server of a cluster
// shares, named as kube-apiserver names them.
func addKeyFlags(fs *flag.FlagSet, cfg *cluster.Config) {
	fs.StringVar(&cfg.EncryptionProviderConfig, "encryption-provider-config", "",
		"EncryptionConfiguration file for encryption at rest (default: <data-dir>/pki/"+cluster.EncryptionConfigFile+", made on first start: Secrets with AES-GCM)")
	fs.StringVar(&cfg.ServiceAccountSigningKeyFile, "service-account-signing-key-file", "",
		"PEM private key service account tokens are signed with (default: <data-dir>/pki/"+cluster.ServiceAccountKey+", made on first start)")
	fs.Func("service-account-key-file", "PEM file of more public keys whose service account tokens are accepted (repeatable, or comma-separated)", func(v string) error {
		cfg.ServiceAccountKeyFiles = append(cfg.ServiceAccountKeyFiles, strings.Split(v, ",")...)
		return nil
	})
	fs.StringVar(&cfg.ServiceAccountIssuer, "service-account-issuer", "", "the iss of service account tokens (default: https://kubernetes.default.svc.cluster.local)")
	fs.Func("api-audiences", "comma-separated audiences the API server accepts tokens for (default: the issuer)", func(v string) error {
		cfg.APIAudiences = append(cfg.APIAudiences, strings.Split(v, ",")...)
		return nil
	})
}
