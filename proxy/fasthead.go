package proxy

import (
	"bufio"
	"bytes"
	"errors"
)

// errNotFast means a request is outside the fast path's strict subset;
// net/http's parser reads it (nethttp.go), nothing being consumed yet.
var errNotFast = errors.New("proxy: request needs net/http's parser")

// maxFastHeaders bounds the header lines the fast path accepts.
const maxFastHeaders = 64

// span is a [start, end) byte range in a request head.
type span struct{ start, end int }

// fastHead is a parsed request head: only GET/HEAD, origin-form target,
// HTTP/1.1, one valid Host, no body, no upgrade, no obs-fold, no control
// bytes. Everything else is errNotFast.
type fastHead struct {
	method, target span
	host           span
	referer, ua    span
	close          bool
	upgrade        span                 // Upgrade header value of a WebSocket upgrade (webSocketUpgrade), else empty
	upgradeTok     bool                 // Connection contains the "upgrade" token
	fwd            [maxFastHeaders]span // header lines to forward, with their CRLF
	nfwd           int
	order          [maxFastHeaders]uint8 // scratch: fwd sorted by name (appendSpanFields)
	size           int                   // bytes of the head including the final CRLF CRLF
}

// tchar reports RFC 9110 token characters.
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// parseFastHead parses b, which holds exactly one request head ending in
// CRLF CRLF. Header lines dropRequestHeader drops are not kept.
func parseFastHead(b []byte, h *fastHead, rules headerRules) error {
	*h = fastHead{size: len(b)}
	eol := bytes.Index(b, crlf)
	if eol < 0 {
		return errNotFast
	}
	line := b[:eol]
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 < 0 {
		return errNotFast
	}
	switch string(line[:sp1]) {
	case "GET", "HEAD":
	default:
		return errNotFast
	}
	h.method = span{0, sp1}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 || rest[0] != '/' || string(rest[sp2+1:]) != "HTTP/1.1" {
		return errNotFast
	}
	inPath := true
	for i, c := range rest[:sp2] {
		if c <= ' ' || c >= 0x7f || c == '#' {
			return errNotFast
		}
		// net/http rejects a bad percent-escape in the path (not the query).
		if c == '?' {
			inPath = false
		}
		if c == '%' && inPath && (i+2 >= sp2 || !isHex(rest[i+1]) || !isHex(rest[i+2])) {
			return errNotFast
		}
	}
	h.target = span{sp1 + 1, sp1 + 1 + sp2}
	pos := eol + 2
	hosts := 0
	for {
		eol := bytes.Index(b[pos:], crlf)
		if eol < 0 {
			return errNotFast
		}
		if eol == 0 {
			break // end of head
		}
		line := b[pos : pos+eol]
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return errNotFast // also obs-fold (a line starting with SP/HT has no token before ':')
		}
		for _, c := range line[:colon] {
			if !tchar[c] {
				return errNotFast
			}
		}
		vs, ve := colon+1, len(line)
		for vs < ve && (line[vs] == ' ' || line[vs] == '\t') {
			vs++
		}
		for ve > vs && (line[ve-1] == ' ' || line[ve-1] == '\t') {
			ve--
		}
		for _, c := range line[vs:ve] {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return errNotFast
			}
		}
		name, value := line[:colon], line[vs:ve]
		val := span{pos + vs, pos + ve}
		switch len(name) {
		case 4:
			if equalFold(string(name), "host") {
				hosts++
				h.host = val
			}
		case 6:
			if equalFold(string(name), "expect") {
				return errNotFast
			}
		case 7:
			switch {
			case equalFold(string(name), "referer"):
				h.referer = val
			case equalFold(string(name), "upgrade"):
				if h.upgrade.end != 0 {
					return errNotFast // several Upgrade headers
				}
				h.upgrade = val
			case equalFold(string(name), "trailer"):
				return errNotFast
			}
		case 10:
			switch {
			case equalFold(string(name), "user-agent"):
				h.ua = val
			case equalFold(string(name), "connection"):
				for _, tok := range bytes.Split(value, []byte(",")) {
					tok = bytes.Trim(tok, " \t")
					switch {
					case equalFold(string(tok), "close"):
						h.close = true
					case equalFold(string(tok), "upgrade"):
						h.upgradeTok = true
					case equalFold(string(tok), "keep-alive"), len(tok) == 0:
					default:
						return errNotFast // other hop-by-hop headers named in Connection
					}
				}
			}
		case 14:
			if equalFold(string(name), "content-length") {
				return errNotFast
			}
		case 17:
			if equalFold(string(name), "transfer-encoding") {
				return errNotFast
			}
		}
		forward := !dropRequestHeader(name, rules)
		if forward {
			if h.nfwd == maxFastHeaders {
				return errNotFast
			}
			h.fwd[h.nfwd] = span{pos, pos + eol + 2}
			h.nfwd++
		}
		pos += eol + 2
	}
	if !webSocketUpgrade(methodString(b[h.method.start:h.method.end]), true, h.upgradeTok, b[h.upgrade.start:h.upgrade.end]) {
		h.upgrade = span{} // not a WebSocket upgrade: Connection and Upgrade were hop-by-hop, and dropped
	}
	if hosts != 1 || h.host.end == h.host.start {
		return errNotFast
	}
	if _, ok := hostOnly(b[h.host.start:h.host.end]); !ok {
		return errNotFast
	}
	return nil
}

var crlf = []byte("\r\n")

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// bufferedHead returns the request head if it is already complete in br's
// buffer (unconsumed).
func bufferedHead(br *bufio.Reader) ([]byte, bool) {
	buf, _ := br.Peek(br.Buffered())
	if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
		return buf[:i+4], true
	}
	return nil, false
}

// readFastHead returns the buffered head (unconsumed), reading more as
// needed; errNotFast when it does not fit in the 4 KiB buffer or uses a
// bare LF as a line end (net/http reads those; the fast path would wait
// for a CRLF CRLF that never comes).
func readFastHead(br *bufio.Reader) ([]byte, error) {
	for {
		n := br.Buffered()
		buf, _ := br.Peek(n)
		if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
			return buf[:i+4], nil
		}
		if n >= br.Size() || hasBareLF(buf) {
			return nil, errNotFast
		}
		if _, err := br.Peek(n + 1); err != nil {
			return nil, err
		}
	}
}

// hasBareLF reports an LF not preceded by CR.
func hasBareLF(b []byte) bool {
	for i := bytes.IndexByte(b, '\n'); i >= 0; {
		if i == 0 || b[i-1] != '\r' {
			return true
		}
		j := bytes.IndexByte(b[i+1:], '\n')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}
