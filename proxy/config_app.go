package proxy

import (
	"fmt"
	"strings"
	"time"
)

// Defaults of the keys that protect the app from its clients and bound the
// wait for its answers (ListenerConfig documents each).
const (
	DefaultClientBodyBufferSize = 16 << 10
	DefaultClientMaxBodySize    = 1 << 20
	DefaultUpstreamReadTimeout  = 60 * time.Second
)

// request_buffering values.
const (
	BufferingOn  = "on"
	BufferingOff = "off"
)

// normalizeAppSide applies the defaults of request_buffering,
// client_body_buffer_size, client_max_body_size, upstream_read_timeout and
// drop_request_headers, and validates them.
func (l ListenerConfig) normalizeAppSide() (ListenerConfig, error) {
	switch l.RequestBuffering {
	case "":
		l.RequestBuffering = BufferingOn
	case BufferingOn, BufferingOff:
	default:
		return l, fmt.Errorf("request_buffering %q: allowed values are on, off", l.RequestBuffering)
	}
	if l.ClientBodyBufferSize < 0 {
		return l, fmt.Errorf("client_body_buffer_size %d: must not be negative", l.ClientBodyBufferSize)
	}
	if l.ClientBodyBufferSize == 0 {
		l.ClientBodyBufferSize = DefaultClientBodyBufferSize
	}
	if l.ClientMaxBodySize < 0 {
		return l, fmt.Errorf("client_max_body_size %d: must not be negative", l.ClientMaxBodySize)
	}
	if l.ClientMaxBodySize == 0 {
		l.ClientMaxBodySize = DefaultClientMaxBodySize
	}
	switch {
	case l.UpstreamReadTimeout == nil:
		d := DefaultUpstreamReadTimeout
		l.UpstreamReadTimeout = &d
	case *l.UpstreamReadTimeout < 0:
		return l, fmt.Errorf("upstream_read_timeout %s: must not be negative (0: none)", *l.UpstreamReadTimeout)
	default:
		d := *l.UpstreamReadTimeout // the caller's pointer is not shared with the running config
		l.UpstreamReadTimeout = &d
	}
	if len(l.DropRequestHeaders) > 0 {
		names := make([]string, len(l.DropRequestHeaders))
		for i, n := range l.DropRequestHeaders {
			if n == "" || len(n) > 256 || !isToken(n) {
				return l, fmt.Errorf("drop_request_headers %q: want a header name (letters, digits, '-', '_')", n)
			}
			names[i] = strings.ReplaceAll(strings.ToLower(n), "_", "-")
		}
		l.DropRequestHeaders = names
	}
	return l, nil
}

// upstreamReadTimeout is the normalized upstream_read_timeout (0: none).
func (l *ListenerConfig) upstreamReadTimeout() time.Duration {
	if l.UpstreamReadTimeout == nil {
		return DefaultUpstreamReadTimeout
	}
	return *l.UpstreamReadTimeout
}

func isToken(s string) bool {
	for i := range len(s) {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}
