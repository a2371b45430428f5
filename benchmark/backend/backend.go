// Package backend is the one application every proxy under benchmark
// forwards to: a small HTTP body, the client address the proxy passed on,
// a WebSocket echo and a WebSocket stream for bulk transfer.
//
// It runs in its own process (elbguard-benchmark backend), so its CPU time is
// never confused with the load generator's.
package backend

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
)

// Paths served by the backend.
const (
	// PathSmall answers 200 with Body.
	PathSmall = "/"
	// PathWhoAmI answers 200 with the X-Forwarded-For header it received,
	// so the bench can check that a proxy passes the PROXY header's client
	// address on.
	PathWhoAmI = "/whoami"
	// PathUpload reads the request body whole and answers 200 with its
	// length (an app taking a form or an upload).
	PathUpload = "/upload"
	// PathEcho upgrades to a WebSocket that echoes every message.
	PathEcho = "/ws/echo"
	// PathBulk upgrades to a WebSocket that sends BulkMessage-byte binary
	// messages until the client goes away.
	PathBulk = "/ws/bulk"
)

// BulkMessage is the size of each message on PathBulk.
const BulkMessage = 64 << 10

// Body is the small response body (128 bytes).
var Body = bytes.Repeat([]byte("elbguard bench backend, a small body.\n"), 4)[:128]

// Handler returns the backend's routes.
func Handler(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	bodyLen := strconv.Itoa(len(Body))
	mux.HandleFunc(PathSmall, func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		h["Content-Length"] = []string{bodyLen}
		_, _ = w.Write(Body)
	})
	mux.HandleFunc(PathUpload, func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.Header()["Content-Type"] = []string{"text/plain"}
		_, _ = io.WriteString(w, strconv.FormatInt(n, 10))
	})
	mux.HandleFunc(PathWhoAmI, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get("X-Forwarded-For"))
	})
	mux.HandleFunc(PathEcho, func(w http.ResponseWriter, r *http.Request) {
		c, err := accept(w, r)
		if err != nil {
			log.Debug("accept echo websocket", "err", err)
			return
		}
		defer func() { _ = c.CloseNow() }()
		ctx := context.Background()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	})
	bulk := bytes.Repeat([]byte{0xb5}, BulkMessage)
	mux.HandleFunc(PathBulk, func(w http.ResponseWriter, r *http.Request) {
		c, err := accept(w, r)
		if err != nil {
			log.Debug("accept bulk websocket", "err", err)
			return
		}
		defer func() { _ = c.CloseNow() }()
		ctx := c.CloseRead(context.Background()) // ends when the client goes away
		for ctx.Err() == nil {
			if err := c.Write(ctx, websocket.MessageBinary, bulk); err != nil {
				return
			}
		}
	})
	return mux
}

func accept(w http.ResponseWriter, r *http.Request) (*websocket.Conn, error) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		CompressionMode:    websocket.CompressionDisabled,
		InsecureSkipVerify: true, // any Origin: the bench client sends none
	})
	if err != nil {
		return nil, fmt.Errorf("accept websocket: %w", err)
	}
	c.SetReadLimit(-1)
	return c, nil
}

// Serve serves Handler on ln until ctx ends, then shuts down.
func Serve(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           Handler(log),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve backend on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down backend: %w", err)
	}
	return nil
}

// Command runs the backend as `elbguard-benchmark backend --listen ADDR` until
// ctx ends.
func Command(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("elbguard-benchmark backend", flag.ContinueOnError)
	addr := fs.String("listen", "127.0.0.1:8080", "address to serve on")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("parse backend flags: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	log.Info("backend listening", "addr", ln.Addr().String())
	return Serve(ctx, ln, log)
}
