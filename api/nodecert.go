package api

// The channel from the API server to a node agent's HTTPS server (the
// kubelet's port 10250 role: exec, attach, port-forward, container logs) is
// mutual TLS with certificates of the cluster CA. These are the names both
// ends check, and the wire format of the request by which an agent gets its
// serving certificate.
const (
	// AgentClientCommonName and AgentClientOrganization are the subject of
	// the client certificate the API server shows node agents, as kubeadm's
	// apiserver-kubelet-client. An agent serves streams and logs to that
	// subject only.
	AgentClientCommonName   = "kube-apiserver-kubelet-client"
	AgentClientOrganization = "shoal:apiservers"

	// NodeServingOrganization is the organization of a node agent's
	// serving certificate, whose common name is system:node:<node name>,
	// as a kubelet's (signer kubernetes.io/kubelet-serving). The API server
	// checks that name against the pod's node before it streams to it.
	NodeServingOrganization = "system:nodes"

	// NodeServingCertificatePath is where a node agent asks the API server,
	// with its node token, to sign its serving certificate: POST a
	// NodeCertificateRequest as JSON, get a NodeCertificate back.
	NodeServingCertificatePath = "/shoal/v1/node-serving-certificate"
)

// NodeCertificateRequest asks the API server to sign a node agent's serving
// certificate. The request's subject must be system:node:<the caller's
// node>/system:nodes, and its names only that node's name and the
// addresses its Node reports (status.addresses).
type NodeCertificateRequest struct {
	// CSR is a PEM "CERTIFICATE REQUEST".
	CSR string `json:"csr"`
}

// NodeCertificate is the API server's answer to a NodeCertificateRequest.
type NodeCertificate struct {
	// Certificate is the signed serving certificate, PEM.
	Certificate string `json:"certificate"`
	// CA is the cluster CA, PEM: it signs the API server's client
	// certificate, which the agent accepts.
	CA string `json:"ca"`
}

// NodeServingCommonName is the common name of node's serving certificate.
func NodeServingCommonName(node string) string { return "system:node:" + node }
