package cluster

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/shoalmesh/shoal/controlplane/dashboard"
)

// printBanner tells the user where everything is and how to add machines;
// w may be nil. The server token is named by its file, never printed.
func (in *Instance) printBanner(w io.Writer) {
	if w == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Shoal is up.\n  API server:  %s\n", in.APIURL)
	if in.DNSAddr != "" {
		fmt.Fprintf(&b, "  DNS:         %s (UDP and TCP)\n", in.DNSAddr)
	}
	fmt.Fprintf(&b, "  xDS:         %s (ADS, LRS)\n", in.XDSAdvertise)
	switch {
	case in.NodeName != "":
		fmt.Fprintf(&b, "  Node:        %s (this host runs pods)\n", in.NodeName)
	case in.NoAgent != "":
		fmt.Fprintf(&b, "  Node agent:  not running (%s)\n", in.NoAgent)
	}
	if in.ServerName != "" {
		fmt.Fprintf(&b, "  Server:      %s (an etcd member)\n", in.ServerName)
		fmt.Fprintf(&b, "  etcd:        %v (mutual TLS: client certificate %s)\n", in.Endpoints, absPath(in.EtcdFiles.ClientCert))
	} else {
		fmt.Fprintf(&b, "  etcd:        %v\n", in.Endpoints)
	}
	fmt.Fprintf(&b, "  kubeconfig:  %s\n\nUse it with:\n  export KUBECONFIG=%s\n  kubectl get namespaces\n", in.Kubeconfig, absPath(in.Kubeconfig))
	if in.DashboardLogin != "" {
		fmt.Fprintf(&b, "\nDashboard: %s (log in with a bearer token: the kubeconfig's, or `kubectl create token`)\n  one-time admin login link (good for %v): %s\n", in.DashboardURL, dashboard.CodeTTL, in.DashboardLogin)
	}
	if in.JoinCommand != "" {
		fmt.Fprintf(&b, "\nTo add a node, run on it (as root):\n  %s\n", in.JoinCommand)
	}
	if in.ServerToken != "" {
		fmt.Fprintf(&b, "\nTo add a server (three survive the loss of one), copy the server token from\n%s and run on the new machine:\n  shoal up --join %s --token <server token>\n",
			in.serverTokenFile, in.APIURL)
	}
	if in.Advertise.Addr().IsLoopback() && (in.JoinCommand != "" || in.ServerToken != "") {
		fmt.Fprintf(&b, "\nThis server is advertised on loopback: other machines cannot reach it. To add machines,\nstart it with --api-addr 0.0.0.0:6443 --xds-addr 0.0.0.0:18000 (or --advertise-address).\n")
	}
	io.WriteString(w, b.String())
}

// xdsAdvertised is the xDS address other machines reach: the listen
// address, or ip when it listens on every address.
func xdsAdvertised(listen string, ip netip.Addr) string {
	if ap, err := advertised(listen, ip); err == nil {
		return ap.String()
	}
	return listen
}
