package dashboard_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoalmesh/shoal/api"
	"github.com/shoalmesh/shoal/controlplane/auth"
	"github.com/shoalmesh/shoal/internal/testenv"
	"github.com/shoalmesh/shoal/xds/translate"
)

// Without valid credentials in the Authorization header the dashboard
// serves its static page and nothing else: no data, whatever the path,
// and a token in the URL is not read.
func TestNoCredentialsNoData(t *testing.T) {
	f := start(t)
	admin := f.s.Tokens.Admin()
	noRedirect := *f.client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, tt := range []struct {
		name, method, path, token string
		code                      int
	}{
		{"stream without a token", "GET", "api/stream", "", 401},
		{"stream with a wrong token", "GET", "api/stream", "not-a-token", 401},
		{"stream with a made-up session", "GET", "api/stream", "shoal-ui.xyz", 401},
		{"stream with the token in the URL", "GET", "api/stream?token=" + admin + "&access_token=" + admin, "", 401},
		{"history without a token", "GET", "api/history?service=default/kubernetes", "", 401},
		{"logout without a token", "POST", "api/logout", "", 401},
		{"an unknown path", "GET", "secrets", "", 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, tt.method, tt.path, tt.token, nil)
			if resp.StatusCode != tt.code {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, resp.StatusCode, body, tt.code)
			}
			for _, leak := range []string{"kubernetes", "10.96.0.1", "kube-system"} {
				if strings.Contains(string(body), leak) {
					t.Errorf("%s %s answered %q, which names cluster data (%s)", tt.method, tt.path, body, leak)
				}
			}
			if tt.code == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}

	resp, body := f.do(t, "GET", "", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `id="login"`) || strings.Contains(string(body), "10.96.0.1") {
		t.Fatalf("GET /ui/ = %d, want the static login page: %s", resp.StatusCode, body)
	}
	if !resp.Uncompressed {
		t.Errorf("GET /ui/ with Accept-Encoding: gzip was not served gzipped")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("page CSP = %q", csp)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", strings.TrimSuffix(f.ui, "/"), nil)
	r, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if loc := r.Header.Get("Location"); r.StatusCode != http.StatusMovedPermanently || loc != "/ui/" {
		t.Errorf("GET /ui = %d to %q, want 301 to /ui/", r.StatusCode, loc)
	}
}

// What a stream carries is what its user may list, decided by RBAC again
// for every message.
func TestStreamShowsWhatTheUserMayList(t *testing.T) {
	f := start(t)
	ctx := t.Context()
	createNamespace(t, f.cs, "team")
	seedService(t, f.cs, "team", "web", "10.77.0.1")
	nobody, err := f.s.Tokens.Add("nobody", nil)
	if err != nil {
		t.Fatal(err)
	}
	jane, err := f.s.Tokens.Add("jane", nil)
	if err != nil {
		t.Fatal(err)
	}
	viewer, ok := f.s.Tokens.TokenFor(auth.ViewerUser)
	if !ok {
		t.Fatal("no viewer token")
	}

	t.Run("no rights", func(t *testing.T) {
		if resp, body := f.do(t, "GET", "api/stream", nobody, nil); resp.StatusCode != 403 || strings.Contains(string(body), "web") {
			t.Fatalf("stream for a user without rights = %d %s, want 403 and no data", resp.StatusCode, body)
		}
		if resp, body := f.do(t, "GET", "api/history?service=team/web", nobody, nil); resp.StatusCode != 403 {
			t.Fatalf("history for a user without rights = %d %s, want 403", resp.StatusCode, body)
		}
	})

	t.Run("viewer", func(t *testing.T) {
		s := f.openStream(t, viewer)
		if s.resp.StatusCode != 200 || !strings.HasPrefix(s.resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("viewer's stream = %d %s", s.resp.StatusCode, s.resp.Header.Get("Content-Type"))
		}
		s.until(t, 10*time.Second, "the viewer sees both namespaces' services and their endpoints", func(v *view) bool {
			web, ok := v.services["team/web"]
			_, k8s := v.services["default/kubernetes"]
			return ok && k8s && len(web.Endpoints) == 1
		})
		want := map[string]bool{"nodes": true, "load": true, "services": true, "endpoints": true, "deployments": true, "events": true}
		for k, w := range want {
			if s.view.can[k] != w {
				t.Errorf("viewer can[%s] = %v, want %v", k, s.view.can[k], w)
			}
		}
		if s.view.user != auth.ViewerUser {
			t.Errorf("stream user = %q", s.view.user)
		}
		resp, body := f.do(t, "GET", "api/history?service=team/web", viewer, nil)
		var h struct {
			Series map[string][][3]float64 `json:"series"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &h) != nil {
			t.Fatalf("viewer's history = %d %s", resp.StatusCode, body)
		}
		if _, ok := h.Series["10.77.0.1"]; !ok {
			t.Errorf("history of team/web = %s, want the series of 10.77.0.1", body)
		}
	})

	t.Run("one namespace", func(t *testing.T) {
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "jane-view", Namespace: "team"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "jane"}}}
		if _, err := f.cs.RbacV1().RoleBindings("team").Create(ctx, rb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var s *stream
		// The authorizer reads its bindings from the caches: the binding
		// takes effect within moments of its write.
		deadline := time.Now().Add(10 * time.Second)
		for {
			s = f.openStream(t, jane)
			if s.resp.StatusCode == 200 || time.Now().After(deadline) {
				break
			}
			s.resp.Body.Close()
			time.Sleep(50 * time.Millisecond)
		}
		if s.resp.StatusCode != 200 {
			t.Fatalf("jane's stream = %d, want 200 once her RoleBinding is in", s.resp.StatusCode)
		}
		s.until(t, 10*time.Second, "jane sees team/web", func(v *view) bool { return len(v.services["team/web"].Endpoints) == 1 })
		if len(s.view.services) != 1 || len(s.view.nodes) != 0 || s.view.can["nodes"] {
			t.Errorf("jane sees services %v and nodes %v (can %v), want team/web only", keys(s.view.services), keys(s.view.nodes), s.view.can)
		}
		for _, e := range s.view.events {
			if e.NS != "team" {
				t.Errorf("jane sees an event of namespace %q: %+v", e.NS, e)
			}
		}
		if err := f.cs.RbacV1().RoleBindings("team").Delete(ctx, "jane-view", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		for {
			name, data := s.next(t)
			if name == "end" {
				if !strings.Contains(string(data), "forbidden") {
					t.Fatalf("end event = %s, want reason forbidden", data)
				}
				break
			}
		}
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The login link shoal up prints is good once; the session it becomes
// sees what its token sees, until it logs out.
func TestLoginLink(t *testing.T) {
	f := start(t)
	link := f.s.DashboardLogin
	base, code, ok := strings.Cut(link, "#login=")
	if !ok || base != f.ui || code == "" {
		t.Fatalf("login link %q, want %s#login=<code>", link, f.ui)
	}
	body := `{"code":"` + code + `"}`
	if resp, b := f.do(t, "POST", "api/login", "", strings.NewReader(body), "Content-Type", "text/plain"); resp.StatusCode != 415 {
		t.Fatalf("login as text/plain (a cross-site form) = %d %s, want 415", resp.StatusCode, b)
	}
	resp, b := f.do(t, "POST", "api/login", "", strings.NewReader(body), "Content-Type", "application/json")
	var got struct{ Token string }
	if resp.StatusCode != 200 || json.Unmarshal(b, &got) != nil || !strings.HasPrefix(got.Token, "shoal-ui.") {
		t.Fatalf("login = %d %s", resp.StatusCode, b)
	}
	if strings.Contains(string(b), f.s.Tokens.Admin()) {
		t.Fatal("the login answer carries the admin token itself")
	}
	if resp, b := f.do(t, "POST", "api/login", "", strings.NewReader(body), "Content-Type", "application/json"); resp.StatusCode != 401 {
		t.Fatalf("second use of the code = %d %s, want 401", resp.StatusCode, b)
	}

	s := f.openStream(t, got.Token)
	if s.resp.StatusCode != 200 {
		t.Fatalf("session's stream = %d", s.resp.StatusCode)
	}
	s.until(t, 10*time.Second, "the admin's view", func(v *view) bool { return v.user == auth.AdminUser && len(v.services) > 0 })

	if resp, b := f.do(t, "POST", "api/logout", got.Token, nil); resp.StatusCode != 204 {
		t.Fatalf("logout = %d %s", resp.StatusCode, b)
	}
	if resp, _ := f.do(t, "GET", "api/stream", got.Token, nil); resp.StatusCode != 401 {
		t.Fatalf("stream after logout = %d, want 401", resp.StatusCode)
	}
}

// A Service's endpoints carry the traffic the xDS replicas publish and the
// weights the weights leader computes from it: an endpoint that turns slow
// loses weight within seconds, on the open stream.
func TestStreamFollowsTrafficAndWeights(t *testing.T) {
	f := start(t)
	createNamespace(t, f.cs, "shop")
	ips := []string{"10.77.0.1", "10.77.0.2", "10.77.0.3"}
	seedService(t, f.cs, "shop", "web", ips...)
	node(t, f.cs, "node-a", api.LoadReport{CPU: 1.5, Memory: 3 << 30, Pods: 7})
	deployment(t, f.cs, "shop", "web", 3)
	rep := newReplica(t, f.s.Etcd, "synthetic")
	even := api.TrafficReport{ips[0]: load(50, 0.010), ips[1]: load(50, 0.010), ips[2]: load(50, 0.010)}
	rep.publish(t, even)

	s := f.openStream(t, f.s.Tokens.Admin())
	if s.resp.StatusCode != 200 {
		t.Fatalf("stream = %d", s.resp.StatusCode)
	}
	s.until(t, 10*time.Second, "three endpoints with traffic, the node's load, the deployment", func(v *view) bool {
		web := v.services["shop/web"]
		if len(web.Endpoints) != 3 || v.nodes["node-a"].Load == nil || v.deploys["shop/web"].Desired != 3 {
			return false
		}
		for _, ep := range web.Endpoints {
			if ep.RPS != 50 || ep.Latency != 0.010 || !ep.Ready {
				return false
			}
		}
		return true
	})
	if l := s.view.nodes["node-a"].Load; l.CPU != 1.5 || l.Pods != 7 {
		t.Errorf("node-a load = %+v, want 1.5 cores and 7 pods", *l)
	}

	slow := api.TrafficReport{ips[0]: load(50, 0.010), ips[1]: load(50, 0.010), ips[2]: load(50, 0.400)}
	rep.publish(t, slow)
	weight := func(v *view, ip string) uint32 {
		for _, ep := range v.services["shop/web"].Endpoints {
			if ep.IP == ip {
				return ep.Weight
			}
		}
		return 0
	}
	s.until(t, 15*time.Second, "the slow endpoint's weight falls below the others'", func(v *view) bool {
		return weight(v, ips[2]) < 60 && weight(v, ips[0]) > translate.NeutralWeight && weight(v, ips[1]) > translate.NeutralWeight
	})
	for _, ep := range s.view.services["shop/web"].Endpoints {
		if ep.IP == ips[2] && ep.Latency != 0.400 {
			t.Errorf("slow endpoint's latency = %v, want 0.4", ep.Latency)
		}
	}

	// The history samples once a Tick, so it shows the fall a moment after
	// the stream does.
	testenv.Eventually(t, 5*time.Second, "the history shows the slow endpoint's weight falling", func() error {
		resp, body := f.do(t, "GET", "api/history?service=shop/web", f.s.Tokens.Admin(), nil)
		var h struct {
			Series map[string][][3]float64 `json:"series"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &h) != nil {
			t.Fatalf("history = %d %s", resp.StatusCode, body)
		}
		pts := h.Series[ips[2]]
		if len(pts) < 2 || pts[len(pts)-1][1] >= pts[0][1] || pts[len(pts)-1][2] != 0.4 {
			return fmt.Errorf("history of the slow endpoint = %v, want its weight falling and its latency at 0.4 s", pts)
		}
		return nil
	})
}
