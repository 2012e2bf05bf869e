package servers

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// joinRetry bounds how long Join keeps trying a server that is away or
// busy (starting, without quorum, with another server joining).
const joinRetry = time.Minute

// Join asks the server at server (https://host:port) to take this one in
// as req, trusting only the CA the token names, and returns the bootstrap
// data. A wrong token, a CA other than the token's, or a name already in
// use fail at once; a server that cannot be reached or answers 503 is
// tried again for a minute.
func Join(ctx context.Context, server string, t Token, req JoinRequest) (*Bootstrap, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("--join %q: want the first server's API URL, https://<address>:6443", server)
	}
	base := "https://" + u.Host
	deadline := time.Now().Add(joinRetry)
	wait := 500 * time.Millisecond
	for {
		b, retry, err := join(ctx, base, t, req)
		if err == nil || !retry || time.Now().Add(wait).After(deadline) {
			if err != nil {
				return nil, fmt.Errorf("join %s: %w", base, err)
			}
			return b, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("join %s: %w (last: %v)", base, ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// join makes one attempt; retry says whether another may succeed.
func join(ctx context.Context, base string, t Token, req JoinRequest) (b *Bootstrap, retry bool, err error) {
	ca, retry, err := fetchCA(ctx, base)
	if err != nil {
		return nil, retry, err
	}
	if hash, err := CAHash(ca); err != nil || hash != t.CAHash {
		return nil, false, ErrCAMismatch
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, base+JoinPath, bytes.NewReader(body))
	if err != nil {
		return nil, false, err
	}
	hr.Header.Set("Authorization", "Bearer "+t.Secret)
	hr.Header.Set("Content-Type", "application/json")
	resp, err := client(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}).Do(hr)
	if err != nil {
		return nil, true, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, true, fmt.Errorf("read the answer: %w", err)
	}
	msg := strings.TrimSpace(string(data))
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return nil, false, ErrTokenRefused
	case http.StatusServiceUnavailable:
		return nil, true, fmt.Errorf("%s: %s", resp.Status, msg)
	default:
		return nil, false, fmt.Errorf("%s: %s", resp.Status, msg)
	}
	b = &Bootstrap{}
	if err := json.Unmarshal(data, b); err != nil {
		return nil, false, fmt.Errorf("decode the bootstrap data: %w", err)
	}
	return b, false, nil
}

// fetchCA gets the server's CA without verifying the server: the caller
// checks it against the token's hash before trusting anything else.
func fetchCA(ctx context.Context, base string) (ca []byte, retry bool, err error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, base+CAPath, nil)
	if err != nil {
		return nil, false, err
	}
	resp, err := client(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}).Do(hr)
	if err != nil {
		return nil, true, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, true, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode == http.StatusServiceUnavailable,
			fmt.Errorf("GET %s: %s (is it a Shoal server on an embedded etcd?)", CAPath, resp.Status)
	}
	return data, false, nil
}

func client(tc *tls.Config) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
}

// List returns the servers of the cluster whose API is at apiURL, asked
// with hc (an admin's client: see rest.HTTPClientFor).
func List(ctx context.Context, hc *http.Client, apiURL string) ([]Member, error) {
	var ms []Member
	return ms, call(ctx, hc, http.MethodGet, strings.TrimSuffix(apiURL, "/")+ServersPath, &ms)
}

// Remove removes the server named name (or with that member ID) from the
// cluster whose API is at apiURL and returns it.
func Remove(ctx context.Context, hc *http.Client, apiURL, name string) (Member, error) {
	var m Member
	return m, call(ctx, hc, http.MethodDelete, strings.TrimSuffix(apiURL, "/")+ServersPath+"/"+url.PathEscape(name), &m)
}

func call(ctx context.Context, hc *http.Client, method, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, strings.TrimSpace(string(data)))
	}
	return json.Unmarshal(data, out)
}
