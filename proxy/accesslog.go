package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// entry is one access log record: a request, or a WebSocket/TCP session at
// its end (tunnel true, bytes each way and duration).
type entry struct {
	listener  string
	client    netip.Addr
	start     time.Time
	duration  time.Duration
	method    string
	uri       string
	proto     string
	host      string
	status    int
	bytes     int64         // body bytes to the client (session: bytes to the client)
	bytesIn   int64         // session: bytes to the upstream
	upstream  time.Duration // the app's response time ($upstream_response_time); 0: the app was not asked
	referer   string
	userAgent string
	tunnel    bool
}

// newEntry is the access-log entry of a request, whichever parser read it
// (the fast path's fastEntry, serveParsed's).
func (l *listener) newEntry(fc *frontConn, start time.Time, method, uri, proto, host, referer, userAgent string) entry {
	return entry{listener: l.name, client: fc.src.Addr(), start: start, method: method, uri: uri, proto: proto,
		host: host, referer: referer, userAgent: userAgent}
}

// requestDone counts a finished request (its status, body bytes and
// duration) and takes the app's response time relay recorded on f (0: the
// app was not asked), for the request's log line.
func (l *listener) requestDone(f *httpConn, status int, sent int64, start time.Time) (took, upstream time.Duration) {
	took = time.Since(start)
	upstream, f.upstreamTime = f.upstreamTime, 0
	l.metrics.request(status)
	if sent > 0 {
		l.metrics.toClient.Add(float64(sent))
	}
	l.metrics.requestTime.Observe(took.Seconds())
	return took, upstream
}

// upstreamDone records one exchange with the app that began at t0: its
// time (on f for the log line, and in the histogram) and the request bytes
// relayed to it (head, and the body read so far).
func (l *listener) upstreamDone(f *httpConn, t0 time.Time, head int, body *clientBody) {
	f.upstreamTime = l.upstreamTook(t0)
	n := int64(head)
	if body != nil {
		n += body.read
	}
	l.metrics.toUpstream.Add(float64(n))
}

// upstreamTook observes the app's response time since t0 and returns it.
func (l *listener) upstreamTook(t0 time.Time) time.Duration {
	d := max(time.Since(t0), time.Nanosecond)
	l.metrics.upTime.Observe(d.Seconds())
	return d
}

// AccessLog is a buffered access log writer, safe for concurrent use. Lines
// are flushed every FlushInterval, on Reopen and on Close.
type AccessLog struct {
	path   string
	format string

	mu   sync.Mutex
	f    *os.File // nil for stdout
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// OpenAccessLog opens the log described by cfg; it returns nil, nil when
// cfg.Path is empty (logging disabled).
func OpenAccessLog(cfg AccessLogConfig) (*AccessLog, error) {
	if cfg.Path == "" {
		return nil, nil
	}
	a := &AccessLog{path: cfg.Path, format: cfg.Format, stop: make(chan struct{}), done: make(chan struct{})}
	out, f, err := openLogFile(cfg.Path)
	if err != nil {
		return nil, err
	}
	a.f = f
	a.w = bufio.NewWriterSize(out, 64<<10)
	interval := cfg.FlushInterval
	if interval <= 0 {
		interval = time.Second
	}
	go a.flushLoop(interval)
	return a, nil
}

func openLogFile(path string) (io.Writer, *os.File, error) {
	if path == "-" {
		return os.Stdout, nil, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("open access log %s: %w", path, err)
	}
	return f, f, nil
}

func (a *AccessLog) flushLoop(every time.Duration) {
	defer close(a.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.mu.Lock()
			_ = a.w.Flush()
			a.mu.Unlock()
		}
	}
}

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Write formats and buffers one line.
func (a *AccessLog) Write(e *entry) {
	bp := lineBufs.Get().(*[]byte)
	b := (*bp)[:0]
	if a.format == LogFormatJSON {
		b = appendJSON(b, e)
	} else {
		b = appendCombined(b, e)
	}
	a.mu.Lock()
	_, _ = a.w.Write(b)
	a.mu.Unlock()
	*bp = b
	lineBufs.Put(bp)
}

// Reopen flushes and reopens the file (logrotate's postrotate sends SIGUSR1).
func (a *AccessLog) Reopen() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	_ = a.w.Flush()
	if a.f == nil {
		return nil
	}
	out, f, err := openLogFile(a.path)
	if err != nil {
		return err
	}
	old := a.f
	a.f = f
	a.w.Reset(out)
	if err := old.Close(); err != nil {
		return fmt.Errorf("close rotated access log %s: %w", a.path, err)
	}
	return nil
}

// Close flushes the buffer and closes the file.
func (a *AccessLog) Close() error {
	close(a.stop)
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.w.Flush(); err != nil {
		return fmt.Errorf("flush access log %s: %w", a.path, err)
	}
	if a.f != nil {
		if err := a.f.Close(); err != nil {
			return fmt.Errorf("close access log %s: %w", a.path, err)
		}
	}
	return nil
}

// clfTime caches the formatted [02/Jan/2006:15:04:05 -0700] of the current second.
type clfTime struct {
	sec int64
	b   []byte
}

var clfCache atomic.Pointer[clfTime]

func appendCLFTime(b []byte, t time.Time) []byte {
	sec := t.Unix()
	if c := clfCache.Load(); c != nil && c.sec == sec {
		return append(b, c.b...)
	}
	c := &clfTime{sec: sec, b: t.AppendFormat(nil, "02/Jan/2006:15:04:05 -0700")}
	clfCache.Store(c)
	return append(b, c.b...)
}

// appendCombined formats nginx's combined format with the PROXY client
// address, then the request and upstream response times as nginx users
// append them:
//
//	$proxy_protocol_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time
//
// Times are seconds with millisecond resolution; $upstream_response_time is
// "-" when the app was not asked (health checks, redirects, refusals).
// Sessions (WebSocket, tcp) append: ws_bytes_in=N ws_bytes_out=N ws_duration=S.
func appendCombined(b []byte, e *entry) []byte {
	if e.client.IsValid() {
		b = e.client.AppendTo(b)
	} else {
		b = append(b, '-')
	}
	b = append(b, " - - ["...)
	b = appendCLFTime(b, e.start)
	b = append(b, "] \""...)
	b = appendEscaped(b, e.method)
	b = append(b, ' ')
	b = appendEscaped(b, e.uri)
	b = append(b, ' ')
	b = appendEscaped(b, e.proto)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, e.bytes, 10)
	b = append(b, " \""...)
	b = appendEscapedOrDash(b, e.referer)
	b = append(b, "\" \""...)
	b = appendEscapedOrDash(b, e.userAgent)
	b = append(b, "\" "...)
	b = appendSeconds(b, e.duration)
	b = append(b, ' ')
	if e.upstream > 0 {
		b = appendSeconds(b, e.upstream)
	} else {
		b = append(b, '-')
	}
	if e.tunnel {
		b = append(b, " ws_bytes_in="...)
		b = strconv.AppendInt(b, e.bytesIn, 10)
		b = append(b, " ws_bytes_out="...)
		b = strconv.AppendInt(b, e.bytes, 10)
		b = append(b, " ws_duration="...)
		b = strconv.AppendFloat(b, e.duration.Seconds(), 'f', 3, 64)
	}
	return append(b, '\n')
}

// appendSeconds appends d as nginx writes $request_time: seconds with
// millisecond resolution ("0.004", "12.345").
func appendSeconds(b []byte, d time.Duration) []byte {
	ms := (d + time.Millisecond/2) / time.Millisecond
	b = strconv.AppendInt(b, int64(ms/1000), 10)
	f := ms % 1000
	return append(b, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
}

func appendEscapedOrDash(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return appendEscaped(b, s)
}

const hexDigits = "0123456789ABCDEF"

// appendEscaped escapes like nginx: ", \ and bytes outside 0x20-0x7e as \xHH.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return b
}

// appendJSON formats one JSON object per line.
func appendJSON(b []byte, e *entry) []byte {
	b = append(b, `{"time":"`...)
	b = e.start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","listener":`...)
	b = appendJSONString(b, e.listener)
	b = append(b, `,"client":"`...)
	if e.client.IsValid() {
		b = e.client.AppendTo(b)
	}
	b = append(b, `","method":`...)
	b = appendJSONString(b, e.method)
	b = append(b, `,"uri":`...)
	b = appendJSONString(b, e.uri)
	b = append(b, `,"proto":`...)
	b = appendJSONString(b, e.proto)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, e.host)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"bytes_sent":`...)
	b = strconv.AppendInt(b, e.bytes, 10)
	if e.tunnel {
		b = append(b, `,"bytes_received":`...)
		b = strconv.AppendInt(b, e.bytesIn, 10)
		b = append(b, `,"session":true`...)
	}
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(e.duration.Microseconds())/1000, 'f', 3, 64)
	if e.upstream > 0 {
		b = append(b, `,"upstream_ms":`...)
		b = strconv.AppendFloat(b, float64(e.upstream.Microseconds())/1000, 'f', 3, 64)
	}
	b = append(b, `,"referer":`...)
	b = appendJSONString(b, e.referer)
	b = append(b, `,"user_agent":`...)
	b = appendJSONString(b, e.userAgent)
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string; invalid UTF-8 bytes and
// controls are \u-escaped so the line stays valid JSON.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c >= 0x7f:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
