package auth

import (
	"github.com/shoalmesh/shoal/internal/atomicfile"

	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kubeconfigName names the cluster and the context in written kubeconfigs.
const kubeconfigName = "shoal"

// WriteKubeconfig writes a kubeconfig (mode 0600) whose current context
// "shoal" reaches the API server at server, trusts only caPEM and
// authenticates as user with token. The CA is embedded rather than referenced
// so the file can be copied to another machine.
func WriteKubeconfig(path, server string, caPEM []byte, user, token string) error {
	if len(caPEM) == 0 || user == "" || token == "" {
		return fmt.Errorf("write kubeconfig %s: CA, user and token are all required", path)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[kubeconfigName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[kubeconfigName] = &clientcmdapi.Context{Cluster: kubeconfigName, AuthInfo: user}
	cfg.CurrentContext = kubeconfigName
	if err := clientcmd.Validate(*cfg); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("encode kubeconfig %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	return atomicfile.Write(path, data, 0o600)
}
