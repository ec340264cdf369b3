package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"

	"github.com/gin-gonic/gin"
)

//go:embed assets/*
var assetFiles embed.FS

// assetSet holds the embedded style sheet and script with a content hash
// each: pages link them as /assets/{name}?v={hash}, so a browser may cache
// them for good and a new build still loads its own.
type assetSet struct {
	files map[string]asset
}

type asset struct {
	body        []byte
	hash        string
	contentType string
}

var assetTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
}

func loadAssets() (*assetSet, error) {
	set := &assetSet{files: map[string]asset{}}
	err := fs.WalkDir(assetFiles, "assets", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := assetFiles.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct := assetTypes[path.Ext(name)]
		if ct == "" {
			ct = "application/octet-stream"
		}
		set.files[path.Base(name)] = asset{body: body, hash: hex.EncodeToString(sum[:6]), contentType: ct}
		return nil
	})
	return set, err
}

// url is the versioned address of an asset; templates call it as asset.
func (s *assetSet) url(name string) string {
	a, ok := s.files[name]
	if !ok {
		return "/assets/" + name
	}
	return "/assets/" + name + "?v=" + a.hash
}

// serveAsset serves an embedded file; cached for a year when the request
// names the current version, revalidated otherwise.
func (p *Pages) serveAsset(c *gin.Context) {
	a, ok := p.assets.files[c.Param("file")]
	if !ok {
		c.Header("X-Content-Type-Options", "nosniff")
		c.String(http.StatusNotFound, "no such file\n")
		return
	}
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	// Opened on its own (the SVG icon), a file may do nothing.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'")
	if c.Query("v") == a.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("ETag", `"`+a.hash+`"`)
	if c.GetHeader("If-None-Match") == `"`+a.hash+`"` {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, a.contentType, a.body)
}
