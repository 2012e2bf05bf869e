// Package servers lets Shoal's servers form one cluster on an embedded etcd,
// as k3s's servers do: the first `shoal up` makes a server token; another
// machine's `shoal up --join https://<first>:6443 --token <server token>`
// asks the first one's API for the bootstrap data (the cluster and etcd CAs
// with their keys, the service account signing key, the encryption
// configuration, the token file) and is added to etcd as a learner; its own
// etcd then starts with initial-cluster-state=existing, and any server
// promotes it to a voting member once it has caught up.
//
// The server token names the cluster CA's hash as well as a secret, so the
// joining server trusts only that CA (it fetches it unauthenticated, checks
// the hash, then sends the secret over TLS verified with it). It is not a
// node token: it authenticates nothing but a join, and a node token cannot
// join.
//
// The same API lists the servers (the etcd members) and removes one, for
// users RBAC allows the non-resource path /shoal/v1/servers:
//
//	h := &servers.Handler{Token: tok, CAPEM: ca, Etcd: client, Files: bootstrapFiles, Log: log}
//	api := apiserver.New(apiserver.Config{..., Public: h.Public(), NonResource: h.Servers()})
//	go servers.RunPromoter(ctx, client, log)
//
// and on a joining machine:
//
//	b, err := servers.Join(ctx, "https://10.0.0.1:6443", tok, servers.JoinRequest{Name: "s2", PeerURL: "https://10.0.0.2:2380"})
package servers
