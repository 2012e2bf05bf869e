package dashboard

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"path"
	"strings"
	"time"
)

// The page, its script and its style: static, with no data, the only
// things served without credentials.
//
//go:embed assets
var assetFS embed.FS

type asset struct {
	data, gzipped []byte
	contentType   string
	etag          string
}

// assets are the embedded files by the path they are served at.
var assets = loadAssets()

func loadAssets() map[string]asset {
	out := map[string]asset{}
	for name, ct := range map[string]string{
		"index.html": "text/html; charset=utf-8",
		"app.js":     "text/javascript; charset=utf-8",
		"app.css":    "text/css; charset=utf-8",
	} {
		b, err := assetFS.ReadFile(path.Join("assets", name))
		if err != nil {
			panic("dashboard: embedded asset missing: " + name) // a build without its assets
		}
		sum := sha256.Sum256(b)
		p := Path + name
		if name == "index.html" {
			p = Path
		}
		out[p] = asset{data: b, gzipped: gzipOf(b), contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return out
}

// serveAsset serves the page at Path and its files beside it; the browser
// revalidates them (ETag) so a new binary's page is picked up at once.
func serveAsset(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == strings.TrimSuffix(Path, "/") {
		http.Redirect(w, r, Path, http.StatusMovedPermanently)
		return
	}
	a, ok := assets[r.URL.Path]
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("Vary", "Accept-Encoding")
	data, etag := a.data, a.etag
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		data, etag = a.gzipped, strings.TrimSuffix(a.etag, `"`)+`-gz"`
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// gzipOf compresses an asset once, at start.
func gzipOf(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level: never an error
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// acceptsGzip reports whether r's Accept-Encoding takes gzip (every
// browser's does).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
