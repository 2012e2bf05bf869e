package dashboard_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/internal/testenv"
)

// browser is a headless Chromium (Debian's) that trusts the cluster's
// serving certificate and nothing else unusual, with a fresh profile.
type browser struct {
	ctx context.Context
}

func newBrowser(t *testing.T, f *fixture) *browser {
	t.Helper()
	testenv.Require(t, testenv.Chromium)
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root on the CI machine
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
		// The API server's certificate is signed by the cluster's own CA:
		// trust exactly its key, not any certificate.
		chromedp.Flag("ignore-certificate-errors-spki-list", serverKeyPin(t, f)),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{ctx: ctx}
}

// serverKeyPin is the base64 SHA-256 of the API server's public key, the
// form Chromium's --ignore-certificate-errors-spki-list takes.
func serverKeyPin(t *testing.T, f *fixture) string {
	t.Helper()
	u, err := url.Parse(f.ui)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", u.Host, f.tlsConfig())
	if err != nil {
		t.Fatalf("dial the API server: %v", err)
	}
	defer conn.Close()
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// run runs steps, failing the test after timeout.
func (b *browser) run(t *testing.T, timeout time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// eval is the value of a JavaScript expression in the page (awaited, if
// it is a promise).
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return v
}

// until polls a JavaScript condition in the page until it is true.
func (b *browser) until(t *testing.T, timeout time.Duration, what, cond string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
		t.Fatalf("browser: wait until %s: %v", what, err)
	}
}

// The dashboard in a real browser: refused without credentials, logged in
// with the kubeconfig's token, a Service with three endpoints shows three,
// and an endpoint that turns slow loses weight on the page, without a
// reload. A screenshot is kept as the test's artifact.
func TestBrowser(t *testing.T) {
	f := start(t)
	createNamespace(t, f.cs, "shop")
	ips := []string{"10.77.0.1", "10.77.0.2", "10.77.0.3"}
	seedService(t, f.cs, "shop", "web", ips...)
	node(t, f.cs, "node-a", api.LoadReport{CPU: 1.5, Memory: 3 << 30, Pods: 7})
	deployment(t, f.cs, "shop", "web", 3)
	rep := newReplica(t, f.s.Etcd, "synthetic")
	rep.publish(t, api.TrafficReport{ips[0]: load(50, 0.010), ips[1]: load(50, 0.012), ips[2]: load(50, 0.011)})

	b := newBrowser(t, f)
	webRows := `document.querySelectorAll('[data-service="shop/web"] tr[data-ip]')`

	// Without credentials: the login form, no data, and the page's own
	// request for data is refused.
	b.run(t, 20*time.Second, "open the dashboard", chromedp.Navigate(f.ui), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	hidden := eval[bool](t, b, `document.getElementById('app').hidden`)
	status := eval[int](t, b, `fetch('api/stream').then(r => r.status)`)
	text := eval[string](t, b, `document.body.innerText`)
	if !hidden || status != 401 || strings.Contains(text, "10.77.0.1") || strings.Contains(text, "node-a") {
		t.Fatalf("without a token: app hidden %v, stream %d, page text %q; want the login form only and 401", hidden, status, text)
	}

	b.run(t, 10*time.Second, "log in with a wrong token",
		chromedp.SendKeys(chromedp.CSS("#token"), "not-a-token"), chromedp.Click(chromedp.CSS("#login-form button")))
	b.until(t, 10*time.Second, "the wrong token is refused", `document.getElementById('login-error').textContent.includes('401')`)

	// The kubeconfig's credentials, as a user would paste them.
	kc, err := clientcmd.LoadFromFile(f.s.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	token := kc.AuthInfos[kc.Contexts[kc.CurrentContext].AuthInfo].Token
	if token == "" {
		t.Fatal("the kubeconfig carries no token")
	}
	b.run(t, 10*time.Second, "log in with the kubeconfig's token",
		chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#login-form button")))
	b.until(t, 20*time.Second, "shop/web shows its three endpoints", webRows+`.length === 3`)
	b.until(t, 10*time.Second, "the node's measured load and the deployment show",
		`(document.querySelector('tr[data-node="node-a"] td.pods')||{}).textContent === '7' && !!document.querySelector('tr[data-deployment="shop/web"]')`)
	eval[bool](t, b, `window.sameDocument = true`)

	// One pod turns slow: its weight falls on the open page.
	rep.publish(t, api.TrafficReport{ips[0]: load(50, 0.010), ips[1]: load(50, 0.012), ips[2]: load(50, 0.400)})
	weightOf := func(ip string) string {
		return `+document.querySelector('[data-service="shop/web"] tr[data-ip="` + ip + `"] td.w').textContent`
	}
	b.until(t, 20*time.Second, "the slow endpoint's weight falls below the others'",
		weightOf(ips[2])+` < 60 && `+weightOf(ips[0])+` > 100 && `+weightOf(ips[1])+` > 100`)
	same := eval[bool](t, b, `window.sameDocument === true`)
	navigations := eval[int](t, b, `performance.getEntriesByType('navigation').length`)
	if !same || navigations != 1 {
		t.Errorf("the page was reloaded (same document %v, navigations %d)", same, navigations)
	}
	lat := eval[string](t, b, `document.querySelector('[data-service="shop/web"] tr[data-ip="10.77.0.3"] td.lat').textContent`)
	if lat != "400 ms" {
		t.Errorf("the slow endpoint's latency reads %q, want 400 ms", lat)
	}
	// Both plots have a line per endpoint, with more than one point once
	// a few seconds have passed.
	b.until(t, 10*time.Second, "each endpoint's weight and latency plotted",
		`[...document.querySelectorAll('[data-service="shop/web"] svg polyline')].filter(p => p.getAttribute('points').split(' ').length > 1).length === 6`)

	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(t.ArtifactDir(), "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	// make dashboard-screenshot: the README's, the Services only, kept small.
	if out := os.Getenv("SHOAL_DASHBOARD_SCREENSHOT"); out != "" {
		small, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(`[data-service="shop/web"]`)))
		if err != nil {
			t.Fatalf("screenshot shop/web: %v", err)
		}
		if err := os.WriteFile(out, small, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The login link `shoal up` prints logs a fresh browser in, leaves the
// address bar without its code, and data is on screen soon after: the
// time to first data is logged (make bench-dashboard reads it).
func TestBrowserLoginLink(t *testing.T) {
	f := start(t)
	b := newBrowser(t, f)
	b.run(t, 20*time.Second, "open the login link", chromedp.Navigate(f.s.DashboardLogin))
	b.until(t, 20*time.Second, "data on screen", `performance.getEntriesByName('shoal-first-data').length === 1 && !!document.querySelector('[data-service="default/kubernetes"]')`)
	hash := eval[string](t, b, `location.hash`)
	user := eval[string](t, b, `document.getElementById('who').textContent`)
	if hash != "" || user != "admin" {
		t.Errorf("after the login link: address bar hash %q, user %q; want no code and admin", hash, user)
	}
	firstData := eval[float64](t, b, `performance.getEntriesByName('shoal-first-data')[0].startTime`)
	t.Logf("time to first data: %s ms from navigation start (%s)", strconv.FormatFloat(firstData, 'f', 0, 64), eval[string](t, b, `JSON.stringify(performance.getEntriesByType('resource').map(e => [e.name.replace(/.*\/ui\//, ''), Math.round(e.startTime), Math.round(e.responseEnd)]))`))

	// A second browser cannot use the same link.
	b2 := newBrowser(t, f)
	b2.run(t, 20*time.Second, "open the used login link", chromedp.Navigate(f.s.DashboardLogin))
	b2.until(t, 10*time.Second, "the used link is refused", `document.getElementById('login-error').textContent.includes('not valid')`)
}
