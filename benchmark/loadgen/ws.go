package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// ErrEcho is wrapped when a WebSocket echo does not return what was sent.
var ErrEcho = errors.New("load: WebSocket echo mismatch")

// wsDial opens one WebSocket through d. url is "ws://HOST/PATH": HOST is
// only the Host header, the TCP connection always goes to d.Addr.
func wsDial(ctx context.Context, d *Dialer, client *http.Client, url string) (*websocket.Conn, error) {
	// On success the library owns the upgraded connection behind resp.Body.
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{ //nolint:bodyclose // closed below on failure
		HTTPClient:      client,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		status := ""
		if resp != nil {
			status = " (HTTP " + resp.Status + ")"
			if resp.Body != nil {
				_ = resp.Body.Close()
			}
		}
		return nil, fmt.Errorf("websocket dial %s via %s%s: %w", url, d.Addr, status, err)
	}
	c.SetReadLimit(-1)
	return c, nil
}

// wsClient returns an HTTP client whose every connection goes through d.
func wsClient(d *Dialer) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         d.DialContext,
		DisableCompression:  true,
		MaxIdleConnsPerHost: -1,
	}}
}

// WSEcho opens workers WebSockets to an echo endpoint and, on each, sends a
// binary message of size bytes and waits for it to come back, in a closed
// loop for dur. Ops are round trips; latency is per round trip.
func WSEcho(ctx context.Context, d *Dialer, url string, size, workers int, dur time.Duration) Result {
	client := wsClient(d)
	defer client.CloseIdleConnections()
	msg := bytes.Repeat([]byte("e"), max(size, 1))
	return run(ctx, workers, dur, func(ctx context.Context, end time.Time, t *tally) {
		var c *websocket.Conn
		defer func() {
			if c != nil {
				_ = c.CloseNow()
			}
		}()
		for time.Now().Before(end) && ctx.Err() == nil {
			if c == nil {
				var err error
				if c, err = wsDial(ctx, d, client, url); err != nil {
					t.fail(err)
					pause(ctx)
					continue
				}
			}
			start := time.Now()
			err := c.Write(ctx, websocket.MessageBinary, msg)
			var got []byte
			if err == nil {
				_, got, err = c.Read(ctx)
			}
			if err == nil && !bytes.Equal(got, msg) {
				err = fmt.Errorf("%w: got %d bytes; want %d", ErrEcho, len(got), len(msg))
			}
			if err != nil {
				t.fail(err)
				_ = c.CloseNow()
				c = nil
				pause(ctx)
				continue
			}
			t.lat = append(t.lat, time.Since(start))
			t.ops++
		}
	})
}

// WSBulk opens workers WebSockets to a streaming endpoint that sends binary
// messages as fast as it can, and counts the bytes received for dur. Ops
// are messages; Bytes is the payload.
func WSBulk(ctx context.Context, d *Dialer, url string, workers int, dur time.Duration) Result {
	client := wsClient(d)
	defer client.CloseIdleConnections()
	return run(ctx, workers, dur, func(ctx context.Context, end time.Time, t *tally) {
		c, err := wsDial(ctx, d, client, url)
		if err != nil {
			t.fail(err)
			return
		}
		defer func() { _ = c.CloseNow() }()
		for time.Now().Before(end) && ctx.Err() == nil {
			_, r, err := c.Reader(ctx)
			var n int64
			if err == nil {
				n, err = io.Copy(io.Discard, r)
			}
			if err != nil {
				t.fail(fmt.Errorf("read bulk message: %w", err))
				return
			}
			t.bytes += n
			t.ops++
		}
	})
}

// Idle is a set of open WebSockets that carry no traffic.
type Idle struct {
	conns []*websocket.Conn
}

// Len returns the number of open connections.
func (i *Idle) Len() int { return len(i.conns) }

// Close closes every connection at once (no closing handshake).
func (i *Idle) Close() {
	for _, c := range i.conns {
		_ = c.CloseNow()
	}
	i.conns = nil
}

// HoldIdle opens n WebSockets through d, workers at a time, and keeps them
// open until Close. It fails, closing what it opened, if any dial fails.
func HoldIdle(ctx context.Context, d *Dialer, url string, n, workers int) (*Idle, error) {
	client := wsClient(d)
	ctx, cancel := context.WithCancel(ctx) // the first failure stops the other dials
	defer cancel()
	idle := &Idle{conns: make([]*websocket.Conn, n)}
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				// A handshake that takes 10 s on loopback has failed: a proxy
				// out of file descriptors stops accepting rather than refusing.
				dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
				c, err := wsDial(dctx, d, client, url)
				dcancel()
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("open idle WebSocket %d of %d: %w", i+1, n, err)
					}
					mu.Unlock()
					cancel()
					return
				}
				idle.conns[i] = c
			}
		})
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		// only the caller's context can have ended: cancel runs after an error
		first = fmt.Errorf("open %d idle WebSockets: %w", n, ctx.Err())
	}
	if first != nil {
		for _, c := range idle.conns {
			if c != nil {
				_ = c.CloseNow()
			}
		}
		return nil, first
	}
	return idle, nil
}

// EchoTimed is Echo that returns each connection's round trip, in order:
// the latency of a message on a connection that was idle.
func (i *Idle) EchoTimed(ctx context.Context, msg []byte) ([]time.Duration, error) {
	out := make([]time.Duration, 0, len(i.conns))
	for n, c := range i.conns {
		start := time.Now()
		err := c.Write(ctx, websocket.MessageBinary, msg)
		var got []byte
		if err == nil {
			_, got, err = c.Read(ctx)
		}
		if err != nil {
			return out, fmt.Errorf("echo on idle WebSocket %d of %d: %w", n+1, len(i.conns), err)
		}
		if !bytes.Equal(got, msg) {
			return out, fmt.Errorf("%w: idle WebSocket %d: got %d bytes; want %d", ErrEcho, n+1, len(got), len(msg))
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// Echo sends msg on each connection in turn and waits for it to come back,
// so that every connection has carried traffic both ways before it goes
// idle again.
func (i *Idle) Echo(ctx context.Context, msg []byte) error {
	for n, c := range i.conns {
		err := c.Write(ctx, websocket.MessageBinary, msg)
		var got []byte
		if err == nil {
			_, got, err = c.Read(ctx)
		}
		if err != nil {
			return fmt.Errorf("echo on idle WebSocket %d of %d: %w", n+1, len(i.conns), err)
		}
		if !bytes.Equal(got, msg) {
			return fmt.Errorf("%w: idle WebSocket %d: got %d bytes; want %d", ErrEcho, n+1, len(got), len(msg))
		}
	}
	return nil
}
