package backend

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler(slog.New(slog.DiscardHandler)))
	defer srv.Close()
	tests := []struct {
		name, path, xff, want string
	}{
		{"small body", PathSmall, "", string(Body)},
		{"whoami echoes X-Forwarded-For", PathWhoAmI, "198.51.100.7", "198.51.100.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("GET %s: %v", tt.path, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(b) != tt.want {
				t.Errorf("GET %s = %d %q; want 200 %q", tt.path, resp.StatusCode, b, tt.want)
			}
		})
	}
	if len(Body) != 128 {
		t.Errorf("len(Body) = %d; want 128", len(Body))
	}
	resp, err := http.Post(srv.URL+PathUpload, "application/octet-stream", strings.NewReader(strings.Repeat("b", 65536)))
	if err != nil {
		t.Fatalf("POST %s: %v", PathUpload, err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != "65536" {
		t.Errorf("POST %s = %d %q; want 200 \"65536\"", PathUpload, resp.StatusCode, b)
	}
}

func TestEchoAndBulk(t *testing.T) {
	srv := httptest.NewServer(Handler(slog.New(slog.DiscardHandler)))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws := "ws" + strings.TrimPrefix(srv.URL, "http")

	c, _, err := websocket.Dial(ctx, ws+PathEcho, nil)
	if err != nil {
		t.Fatalf("dial echo: %v", err)
	}
	defer func() { _ = c.CloseNow() }()
	if err := c.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
		t.Fatalf("write: %v", err)
	}
	typ, got, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageText || string(got) != "ping" {
		t.Errorf("echo = %v %q, %v; want text \"ping\"", typ, got, err)
	}

	b, _, err := websocket.Dial(ctx, ws+PathBulk, nil)
	if err != nil {
		t.Fatalf("dial bulk: %v", err)
	}
	defer func() { _ = b.CloseNow() }()
	b.SetReadLimit(-1)
	for range 3 {
		typ, msg, err := b.Read(ctx)
		if err != nil || typ != websocket.MessageBinary || len(msg) != BulkMessage {
			t.Fatalf("bulk message = %v, %d bytes, %v; want binary %d bytes", typ, len(msg), err, BulkMessage)
		}
	}
}
