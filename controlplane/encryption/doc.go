// Package encryption encrypts chosen resources at rest in etcd, as
// kube-apiserver's --encryption-provider-config does, reading the same file
// format (apiserver.config.k8s.io/v1 EncryptionConfiguration) with the
// aesgcm, secretbox and identity providers.
//
// A value is stored as k8s:enc:<provider>:v1:<key name>:<nonce and
// ciphertext>, the bytes kube-apiserver writes, so etcd never holds a
// Secret's plaintext. The first provider of a resource encrypts every
// write; every provider listed can read. AES-GCM binds each value to its
// etcd key, so a value copied under another key does not decrypt.
//
// Rotating a key, with every API server given the same file at each step:
//
//  1. add the new key second in the aesgcm keys, restart;
//  2. move it first, restart: writes now use it, reads still know the old;
//  3. rewrite every Secret under the new key:
//     kubectl get secrets -A -o json | kubectl replace -f -
//  4. remove the old key, restart.
//
// Usage:
//
//	cfg, err := encryption.LoadOrCreate("/var/lib/shoal/pki/encryption-config.yaml", true)
//	...
//	for resource, t := range cfg.Transformers {
//		st.SetTransformer(resourceNamed(resource), t)
//	}
package encryption
