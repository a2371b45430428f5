package proxy

import (
	"errors"
	"net/http"
)

// ErrBadHost is returned by RedirectTarget when the Host is missing or invalid.
var ErrBadHost = errors.New("proxy: missing or invalid Host")

// RedirectTarget builds the https URL of a redirect: the host without its
// port (or redirectHost when set) and the request URI byte for byte, so the
// path and query are never decoded or re-encoded. An absolute-form request
// target keeps only its path and query; "*" becomes "/".
func RedirectTarget(host, requestURI, redirectHost string) (string, error) {
	b, err := appendRedirectTarget(make([]byte, 0, len("https://")+len(host)+len(requestURI)), host, requestURI, redirectHost)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// appendRedirectTarget is RedirectTarget appending to dst: the one rule
// both parsers' requests use (on the connection's buffers, without allocating).
func appendRedirectTarget[T string | []byte](dst []byte, host, requestURI T, redirectHost string) ([]byte, error) {
	uri := requestURI
	if len(uri) == 0 || uri[0] != '/' {
		uri = T(originForm(string(uri)))
	}
	for i := 0; i < len(uri); i++ {
		if c := uri[i]; c <= ' ' || c == 0x7f {
			return dst, ErrBadHost
		}
	}
	dst = append(dst, "https://"...)
	if redirectHost != "" {
		dst = append(dst, redirectHost...)
	} else {
		n, ok := hostOnly(host)
		if !ok {
			return dst, ErrBadHost
		}
		dst = append(dst, host[:n]...)
	}
	return append(dst, uri...), nil
}

// originForm turns an absolute-form request target into its path and query.
func originForm(uri string) string {
	// scheme://authority/path?query
	for i := 0; i+2 < len(uri); i++ {
		if uri[i] == ':' && uri[i+1] == '/' && uri[i+2] == '/' {
			rest := uri[i+3:]
			for j := 0; j < len(rest); j++ {
				if rest[j] == '/' || rest[j] == '?' {
					if rest[j] == '?' {
						return "/" + rest[j:]
					}
					return rest[j:]
				}
			}
			return "/"
		}
	}
	return "/"
}

// hostOnly is the one Host rule of both paths: the length of the host in
// a Host value (without its port), and whether the value is exactly a
// valid host (validHost) and an optional ":digits" port. "[::1]evil.com"
// and raw bytes are refused, never cut into something that looks valid.
func hostOnly[T string | []byte](hostport T) (int, bool) {
	n := stripPort(hostport)
	return n, validHost(hostport[:n]) && validPort(hostport[n:])
}

// validPort accepts "" or ":" followed by up to five digits.
func validPort[T string | []byte](p T) bool {
	if len(p) == 0 {
		return true
	}
	if p[0] != ':' || len(p) > 6 {
		return false
	}
	for i := 1; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// stripPort returns the length of host without a trailing :port, keeping
// IPv6 literals in brackets.
func stripPort[T string | []byte](host T) int {
	if len(host) > 0 && host[0] == '[' {
		for i := 1; i < len(host); i++ {
			if host[i] == ']' {
				return i + 1
			}
		}
		return len(host) // unterminated: validHost rejects it
	}
	for i := len(host) - 1; i >= 0; i-- {
		if host[i] == ':' {
			return i
		}
		if host[i] < '0' || host[i] > '9' {
			break
		}
	}
	return len(host)
}

// validHost accepts DNS names (letters, digits, '-', '_', '.'), IPv4
// addresses and bracketed IPv6 literals, up to 253 bytes, no port.
func validHost[T string | []byte](h T) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	if h[0] == '[' {
		if len(h) < 4 || h[len(h)-1] != ']' {
			return false
		}
		for i := 1; i < len(h)-1; i++ {
			c := h[i]
			if !(c == ':' || c == '.' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')) {
				return false
			}
		}
		return true
	}
	if h[0] == '.' || h[0] == '-' {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c == '.' || c == '-' || c == '_' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')) {
			return false
		}
	}
	return true
}

// answerRedirect answers 301 to the redirect target (appendRedirectTarget),
// with the listener's HSTS; 400 and a closed connection when the Host
// cannot make one.
func answerRedirect[T string | []byte](l *listener, f *httpConn, host, target T, st *listenerState, keepAlive bool) (int, int64) {
	bw := f.bw
	loc, err := appendRedirectTarget(f.out[:0], host, target, st.cfg.RedirectHost)
	f.out = loc[:0]
	if err != nil {
		return l.refuse(f, "bad_host", http.StatusBadRequest, "missing or invalid Host header")
	}
	_, _ = bw.WriteString("HTTP/1.1 301 Moved Permanently\r\nLocation: ")
	_, _ = bw.Write(loc)
	_, _ = bw.WriteString("\r\nContent-Length: 0\r\n")
	if st.hstsVal != nil {
		_, _ = bw.WriteString("Strict-Transport-Security: ")
		_, _ = bw.WriteString(st.hstsVal[0])
		_, _ = bw.WriteString("\r\n")
	}
	if !keepAlive {
		_, _ = bw.WriteString("Connection: close\r\n")
	}
	_, _ = bw.WriteString("\r\n")
	_ = bw.Flush()
	return http.StatusMovedPermanently, 0
}
