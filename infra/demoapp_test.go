//go:build integration

package infra

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/elbguard/elbguard/test/harness"
)

// TestDemoApp runs the demo instances' sample app (demoapp/ws_echo.py, as the
// user data installs it) and talks to it with a real WebSocket client library,
// with the headers elbguard-proxy sets.
func TestDemoApp(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		harness.Missing(t, "python3 (the demo app's runtime on AL2023): apt-get install python3")
	}
	app := filepath.Join(t.TempDir(), "ws_echo.py")
	if err := os.WriteFile(app, []byte(demoApp), 0o755); err != nil {
		t.Fatal(err)
	}
	addr := harness.FreeAddr(t)
	harness.Start(t, python, []string{app, "--listen", addr})
	harness.WaitTCP(t, addr, 10*time.Second)
	ctx := harness.Context(t, 30*time.Second)

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	req.Header.Set("X-Real-IP", "203.0.113.7")
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(page, []byte("<b>203.0.113.7</b>")) {
		t.Errorf("GET / = %d %q; want 200 showing the client address 203.0.113.7", resp.StatusCode, page)
	}
	resp, err = http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz = %v, %v; want 200", resp, err)
	}
	resp.Body.Close()

	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"X-Real-Ip": {"203.0.113.7"}},
	})
	if err != nil {
		t.Fatalf("dial WebSocket: %v", err)
	}
	defer func() { _ = c.CloseNow() }()
	c.SetReadLimit(1 << 20)
	typ, msg, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageText || string(msg) != "connected from 203.0.113.7" {
		t.Fatalf("greeting = %v %q, %v; want text \"connected from 203.0.113.7\"", typ, msg, err)
	}
	big := bytes.Repeat([]byte("elbguard"), 100_000/8) // > 64 KiB: 8-byte length
	tests := []struct {
		typ  websocket.MessageType
		data []byte
	}{
		{websocket.MessageText, []byte("hello")},
		{websocket.MessageText, []byte(strings.Repeat("x", 300))}, // 16-bit length
		{websocket.MessageBinary, big},
		{websocket.MessageBinary, nil},
	}
	for _, tt := range tests {
		if err := c.Write(ctx, tt.typ, tt.data); err != nil {
			t.Fatalf("write %d bytes: %v", len(tt.data), err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil || typ != tt.typ || !bytes.Equal(got, tt.data) {
			t.Errorf("echo of %v with %d bytes = %v with %d bytes, %v; want the same message", tt.typ, len(tt.data), typ, len(got), err)
		}
	}
	// A pong is only processed while a Read is in progress.
	readDone := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx)
		readDone <- err
	}()
	if err := c.Ping(ctx); err != nil {
		t.Errorf("ping: %v", err)
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := <-readDone; websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("read after close = %v; want the server's normal closure", err)
	}
}
