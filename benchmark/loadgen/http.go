package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// ErrStatus is wrapped by a response whose status is not the one expected.
var ErrStatus = errors.New("load: unexpected HTTP status")

// HTTP is the request an HTTP scenario sends and the status it expects.
type HTTP struct {
	// Host is the Host header; the zero value is "app.example.com".
	Host string
	// Path is the request target, e.g. "/" or "/a/b?c=d"; zero means "/".
	Path string
	// Want is the expected status code; zero means 200.
	Want int
	// Body, when set, makes the request a POST with this body and its
	// Content-Length (a form or JSON upload).
	Body []byte
}

func (h HTTP) request(closeConn bool) []byte {
	host, path := h.Host, h.Path
	if host == "" {
		host = "app.example.com"
	}
	if path == "" {
		path = "/"
	}
	method := "GET"
	if h.Body != nil {
		method = "POST"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: elbguard-benchmark\r\nAccept: */*\r\n", method, path, host)
	if h.Body != nil {
		fmt.Fprintf(&b, "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n", len(h.Body))
	}
	if closeConn {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	b.Write(h.Body)
	return b.Bytes()
}

func (h HTTP) want() int {
	if h.Want == 0 {
		return 200
	}
	return h.Want
}

// KeepAlive sends req over workers persistent connections, each waiting for
// a response before the next request (a closed loop), for dur. A connection
// the server closes is replaced. Latency is per request.
func KeepAlive(ctx context.Context, d *Dialer, req HTTP, workers int, dur time.Duration) Result {
	raw := req.request(false)
	return run(ctx, workers, dur, func(ctx context.Context, end time.Time, t *tally) {
		var c net.Conn
		var br *bufio.Reader
		defer func() {
			if c != nil {
				c.Close()
			}
		}()
		for time.Now().Before(end) && ctx.Err() == nil {
			if c == nil {
				var err error
				if c, err = d.Dial(ctx); err != nil {
					t.fail(err)
					pause(ctx)
					continue
				}
				_ = c.SetDeadline(end.Add(10 * time.Second))
				br = bufio.NewReaderSize(c, 16<<10)
			}
			start := time.Now()
			keep, err := roundTrip(c, br, raw, req.want())
			if err != nil {
				t.fail(err)
				c.Close()
				c = nil
				pause(ctx)
				continue
			}
			t.lat = append(t.lat, time.Since(start))
			t.ops++
			if !keep {
				c.Close()
				c = nil
			}
		}
	})
}

// Churn opens a new connection for every request: connect, PROXY header,
// one request with "Connection: close", read the response, close. Ops are
// connections; latency is the whole exchange.
func Churn(ctx context.Context, d *Dialer, req HTTP, workers int, dur time.Duration) Result {
	raw := req.request(true)
	return run(ctx, workers, dur, func(ctx context.Context, end time.Time, t *tally) {
		br := bufio.NewReaderSize(nil, 4<<10)
		for time.Now().Before(end) && ctx.Err() == nil {
			start := time.Now()
			c, err := d.Dial(ctx)
			if err != nil {
				t.fail(err)
				pause(ctx)
				continue
			}
			_ = c.SetDeadline(end.Add(10 * time.Second))
			br.Reset(c)
			keep, err := roundTrip(c, br, raw, req.want())
			if err == nil && !keep {
				// Wait for the server's FIN, as a load balancer does, so
				// the server side holds the TIME_WAIT, not our ports.
				_, _ = io.Copy(io.Discard, br)
			}
			c.Close()
			if err != nil {
				t.fail(err)
				pause(ctx)
				continue
			}
			t.lat = append(t.lat, time.Since(start))
			t.ops++
		}
	})
}

// run starts workers copies of work, which loop until end, and merges
// their tallies.
func run(ctx context.Context, workers int, dur time.Duration, work func(context.Context, time.Time, *tally)) Result {
	workers = max(workers, 1)
	ctx, cancel := context.WithTimeout(ctx, dur+30*time.Second)
	defer cancel()
	parts := make([]tally, workers)
	start := time.Now()
	end := start.Add(dur)
	var wg sync.WaitGroup
	for i := range parts {
		wg.Go(func() { work(ctx, end, &parts[i]) })
	}
	wg.Wait()
	return merge(parts, time.Since(start))
}

// pause backs off briefly after a failure so a dead target does not turn a
// worker into a busy loop.
func pause(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Millisecond):
	}
}

// roundTrip writes one request and reads its response, discarding the
// body. It reports whether the connection may carry another request.
func roundTrip(c net.Conn, br *bufio.Reader, raw []byte, want int) (bool, error) {
	if _, err := c.Write(raw); err != nil {
		return false, fmt.Errorf("write request: %w", err)
	}
	status, keep, err := ReadResponse(br)
	if err != nil {
		return false, err
	}
	if status != want {
		return false, fmt.Errorf("%w %d; want %d", ErrStatus, status, want)
	}
	return keep, nil
}

// ReadResponse reads one HTTP/1.x response from br and discards its body
// (Content-Length, chunked, or until EOF). It returns the status code and
// whether the connection stays open.
func ReadResponse(br *bufio.Reader) (status int, keepAlive bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, fmt.Errorf("read status line: %w", err)
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("read status line: malformed %q", trim(line))
	}
	code := line[9:12]
	if line[8] != ' ' || code[0] < '1' || code[0] > '9' || code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9' {
		return 0, false, fmt.Errorf("read status line: malformed %q", trim(line))
	}
	status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	keepAlive = line[7] == '1'
	length, chunked := int64(-1), false
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return status, false, fmt.Errorf("read header: %w", err)
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return status, false, fmt.Errorf("read header: malformed %q", trim(h))
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return status, false, fmt.Errorf("read header: bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			lv := bytes.ToLower(value)
			if bytes.Contains(lv, []byte("close")) {
				keepAlive = false
			} else if bytes.Contains(lv, []byte("keep-alive")) {
				keepAlive = true
			}
		}
	}
	switch {
	case status < 200 || status == 204 || status == 304:
		return status, keepAlive, nil
	case chunked:
		return status, keepAlive, discardChunked(br)
	case length >= 0:
		if _, err := br.Discard(int(length)); err != nil {
			return status, false, fmt.Errorf("read body: %w", err)
		}
		return status, keepAlive, nil
	default:
		if _, err := io.Copy(io.Discard, br); err != nil {
			return status, false, fmt.Errorf("read body: %w", err)
		}
		return status, false, nil
	}
}

func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("read chunk size: %w", err)
		}
		sz, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(sz)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("read chunk size: malformed %q", trim(line))
		}
		if n == 0 {
			for { // trailers, then the blank line
				tl, err := br.ReadSlice('\n')
				if err != nil {
					return fmt.Errorf("read trailer: %w", err)
				}
				if len(bytes.TrimRight(tl, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(n) + 2); err != nil {
			return fmt.Errorf("read chunk: %w", err)
		}
	}
}

func trim(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	return string(bytes.TrimRight(b, "\r\n"))
}

// IdleHTTP is a set of keep-alive connections, each having carried one
// request, left open and silent (a load balancer's pool of connections to
// an instance).
type IdleHTTP struct {
	conns []net.Conn
	brs   []*bufio.Reader
	raw   []byte
	want  int
}

// Len is the number of connections held.
func (i *IdleHTTP) Len() int { return len(i.conns) }

// Close closes every connection.
func (i *IdleHTTP) Close() {
	for _, c := range i.conns {
		_ = c.Close()
	}
}

// HoldKeepAlive opens n connections through d, workers at a time, sends req
// on each and keeps it open. It fails, closing what it opened, if any
// request fails or the server does not keep the connection.
func HoldKeepAlive(ctx context.Context, d *Dialer, req HTTP, n, workers int) (*IdleHTTP, error) {
	idle := &IdleHTTP{conns: make([]net.Conn, n), brs: make([]*bufio.Reader, n), raw: req.request(false), want: req.want()}
	var (
		next  sync.Mutex
		i     int
		first error
		wg    sync.WaitGroup
	)
	for range max(workers, 1) {
		wg.Go(func() {
			for {
				next.Lock()
				k := i
				i++
				stop := first != nil || ctx.Err() != nil
				next.Unlock()
				if k >= n || stop {
					return
				}
				err := func() error {
					dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					defer cancel()
					c, err := d.Dial(dctx)
					if err != nil {
						return err
					}
					idle.conns[k], idle.brs[k] = c, bufio.NewReaderSize(c, 512)
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					keep, err := roundTrip(c, idle.brs[k], idle.raw, idle.want)
					_ = c.SetDeadline(time.Time{})
					if err == nil && !keep {
						err = fmt.Errorf("load: connection %d not kept alive", k+1)
					}
					return err
				}()
				if err != nil {
					next.Lock()
					if first == nil {
						first = fmt.Errorf("open idle keep-alive connection %d of %d: %w", k+1, n, err)
					}
					next.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = fmt.Errorf("open %d idle keep-alive connections: %w", n, ctx.Err())
	}
	if first != nil {
		for _, c := range idle.conns {
			if c != nil {
				_ = c.Close()
			}
		}
		return nil, first
	}
	return idle, nil
}

// RequestTimed sends the request again on each connection in turn and
// returns each round trip: the latency of a request on a connection that
// was idle.
func (i *IdleHTTP) RequestTimed(ctx context.Context) ([]time.Duration, error) {
	out := make([]time.Duration, 0, len(i.conns))
	for k, c := range i.conns {
		start := time.Now()
		if dl, ok := ctx.Deadline(); ok {
			_ = c.SetDeadline(dl)
		}
		if _, err := roundTrip(c, i.brs[k], i.raw, i.want); err != nil {
			return out, fmt.Errorf("request on idle keep-alive connection %d of %d: %w", k+1, len(i.conns), err)
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}
