package probe

import (
	"context"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// tcpSocket succeeds when a connection is accepted; nothing is sent.
func (pr *Prober) tcpSocket(ctx context.Context, t *corev1.TCPSocketAction, podIP string, c *corev1.Container) (Result, string, error) {
	port, err := resolvePort(t.Port, c)
	if err != nil {
		return Unknown, "", err
	}
	host, err := hostOr(t.Host, podIP)
	if err != nil {
		return Unknown, "", err
	}
	conn, err := pr.dial(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return failed(ctx, err)
	}
	_ = conn.Close()
	return Success, "", nil
}
