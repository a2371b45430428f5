// Package echo is the small web app that elbguard's demo and integration
// tests put behind the proxy: plain HTTP requests are answered with what the
// app saw of its client (the address headers a proxy set), and WebSocket
// messages are echoed back unchanged. (The benchmarks use their own backend,
// benchmark/backend.)
package echo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/coder/websocket"
)

// PathWebSocket is the path that upgrades to the echo WebSocket.
const PathWebSocket = "/ws"

// DefaultReadLimit is the largest WebSocket message echoed when
// Server.ReadLimit is zero.
const DefaultReadLimit = 1 << 20

// Server is the echo app. The zero value is ready to use.
type Server struct {
	// Log receives one line per WebSocket session that ends with an error.
	// Nil: discard.
	Log *slog.Logger
	// ReadLimit is the largest WebSocket message, in bytes, the app accepts;
	// a larger one closes the session with status 1009. Zero means
	// DefaultReadLimit.
	ReadLimit int64
}

// Seen is the JSON answer to a plain HTTP request: what the app saw of the
// request and of the client behind the proxy.
type Seen struct {
	Method          string `json:"method"`
	Path            string `json:"path"`
	Host            string `json:"host"`
	RemoteAddr      string `json:"remote_addr"`
	XRealIP         string `json:"x_real_ip"`
	XForwardedFor   string `json:"x_forwarded_for"`
	XForwardedProto string `json:"x_forwarded_proto"`
	XForwardedPort  string `json:"x_forwarded_port"`
}

// ServeHTTP upgrades PathWebSocket to an echo WebSocket and answers any
// other request with a Seen as JSON.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == PathWebSocket {
		s.serveWebSocket(w, r)
		return
	}
	seen := Seen{
		Method:          r.Method,
		Path:            r.URL.RequestURI(),
		Host:            r.Host,
		RemoteAddr:      r.RemoteAddr,
		XRealIP:         r.Header.Get("X-Real-IP"),
		XForwardedFor:   r.Header.Get("X-Forwarded-For"),
		XForwardedProto: r.Header.Get("X-Forwarded-Proto"),
		XForwardedPort:  r.Header.Get("X-Forwarded-Port"),
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(seen)
}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		s.logger().WarnContext(r.Context(), "websocket upgrade failed", "error", err.Error(), "remote_addr", r.RemoteAddr)
		return // Accept has answered the client
	}
	limit := s.ReadLimit
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	c.SetReadLimit(limit)
	err = Copy(r.Context(), c)
	switch websocket.CloseStatus(err) {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway:
		return
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		s.logger().InfoContext(r.Context(), "websocket session ended", "error", err.Error(), "remote_addr", r.RemoteAddr)
	}
	_ = c.CloseNow()
}

// Copy echoes every message read from c back to c, streaming each one
// without buffering it whole, until the peer closes or ctx ends. It returns
// the error that ended the session (a *websocket.CloseError on a close
// frame).
func Copy(ctx context.Context, c *websocket.Conn) error {
	for {
		typ, r, err := c.Reader(ctx)
		if err != nil {
			return fmt.Errorf("read message: %w", err)
		}
		w, err := c.Writer(ctx, typ)
		if err != nil {
			return fmt.Errorf("start echo: %w", err)
		}
		if _, err := io.Copy(w, r); err != nil {
			return fmt.Errorf("echo message: %w", err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("finish echo: %w", err)
		}
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}
