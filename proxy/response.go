package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
)

// The rules for an answer relayed from the app, for both parsers
// (relayResponse applies them while copying the app's header lines):
//   - the app's hop-by-hop headers (hopHeaders) are dropped, except
//     Transfer-Encoding and Trailer, relayed with the chunked body copied
//     as is (to an HTTP/1.0 client the body goes de-chunked, without them,
//     and the connection closes);
//   - with hsts set, Strict-Transport-Security is the listener's, replacing
//     the app's;
//   - nothing is added: no Content-Type the app did not send, no Date.

// respHead is a parsed upstream response head.
type respHead struct {
	status     int
	statusLine span                 // "200 OK"
	relay      [maxFastHeaders]span // header lines relayed to the client
	nrelay     int
	upgrade    span    // Upgrade header value (101 responses)
	hsts       [4]span // the app's Strict-Transport-Security lines
	nhsts      int
	length     int64 // -1 unknown
	chunked    bool
	close      bool
	size       int
}

// errBadResponse reports an upstream response the proxy cannot relay
// safely (answered 502).
var errBadResponse = errors.New("proxy: malformed upstream response")

// parseRespHead parses an upstream response head ending in CRLF CRLF.
func parseRespHead(b []byte, rh *respHead, allow101 bool) error {
	*rh = respHead{length: -1, size: len(b)}
	eol := bytes.Index(b, crlf)
	if eol < 12 || (string(b[:9]) != "HTTP/1.1 " && string(b[:9]) != "HTTP/1.0 ") {
		return errBadResponse
	}
	if b[5] == '1' && b[7] == '0' {
		rh.close = true // HTTP/1.0: keep-alive only if announced
	}
	for _, c := range b[:eol] {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return errBadResponse
		}
	}
	if eol > 12 && b[12] != ' ' {
		return errBadResponse // the code is exactly three digits
	}
	code := b[9:12]
	for _, c := range code {
		if c < '0' || c > '9' {
			return errBadResponse
		}
	}
	rh.status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	if rh.status < 100 || (rh.status == http.StatusSwitchingProtocols && !allow101) {
		return errBadResponse
	}
	rh.statusLine = span{9, eol}
	pos := eol + 2
	lengths := 0
	for {
		eol := bytes.Index(b[pos:], crlf)
		if eol < 0 {
			return errBadResponse
		}
		if eol == 0 {
			break
		}
		line := b[pos : pos+eol]
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return errBadResponse
		}
		for _, c := range line[:colon] {
			if !tchar[c] {
				return errBadResponse
			}
		}
		for _, c := range line[colon+1:] {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return errBadResponse
			}
		}
		name := string(line[:colon]) // compared only
		value := bytes.Trim(line[colon+1:], " \t")
		forward := true
		switch {
		case equalFold(name, "content-length"):
			n, ok := parseUnsigned(value, 10)
			if !ok {
				return errBadResponse
			}
			if lengths > 0 && n != rh.length {
				return errBadResponse
			}
			lengths++
			rh.length = n
		case equalFold(name, "transfer-encoding"):
			// HTTP/1.0 has no Transfer-Encoding: a recipient must treat
			// such a message's framing as faulty (RFC 9112 §6.1), and
			// net/http ignores the field there. Refused, never guessed.
			if !equalFold(string(value), "chunked") || rh.chunked || b[7] == '0' {
				return errBadResponse
			}
			rh.chunked = true
		case equalFold(name, "connection"):
			forward = false
			if hasToken(string(value), "close") {
				rh.close = true
			} else if hasToken(string(value), "keep-alive") && b[7] == '0' {
				rh.close = false
			}
		case equalFold(name, "upgrade"):
			forward = false
			rh.upgrade = span{pos + colon + 1, pos + eol}
		case equalFold(name, "strict-transport-security"):
			// Relayed unless the listener sets its own (relayResponse).
			forward = false
			if rh.nhsts < len(rh.hsts) {
				rh.hsts[rh.nhsts] = span{pos, pos + eol + 2}
				rh.nhsts++
			}
		case equalFold(name, "trailer"):
			// relayed with the chunked body, as is
		default:
			forward = !isHopHeader(name) // the relay rules above
		}
		if forward {
			if rh.nrelay == maxFastHeaders {
				return errBadResponse
			}
			rh.relay[rh.nrelay] = span{pos, pos + eol + 2}
			rh.nrelay++
		}
		pos += eol + 2
	}
	if rh.chunked && lengths > 0 {
		return errBadResponse // both framings: refuse rather than guess
	}
	return nil
}

// parseUnsigned parses digits only: strconv also takes a sign, which
// net/http (and so the client) rejects in Content-Length and chunk sizes.
func parseUnsigned(b []byte, base int) (int64, bool) {
	if len(b) == 0 || b[0] == '+' || b[0] == '-' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), base, 64)
	return n, err == nil
}

// chunkSize reads a chunk-size line (without its CRLF) exactly as net/http's
// chunked reader, the client's, does: trailing whitespace off, the extension
// cut at ';', then 1 to 16 hex digits and nothing else (so "5 ;x" and a
// 17-digit "00000000000000000" are refused, as the client would refuse them).
func chunkSize(line []byte) (int64, bool) {
	if len(line) >= 4096 { // net/http's maxLineLength
		return 0, false
	}
	line = bytes.TrimRight(line, " \t\r\n")
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	if len(line) == 0 || len(line) > 16 {
		return 0, false
	}
	var n uint64
	for _, c := range line {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | uint64(d)
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// copyChunked relays a chunked body as is (chunk sizes, extensions and
// trailers included) and returns the payload bytes and every byte written
// to w. Whenever the app has sent no more yet, what was relayed is flushed:
// a chunked answer is often a stream (the streaming rule, copyStream).
//
// Every line ends in CRLF (a bare LF is refused, as net/http refuses it),
// and the data of a chunk is followed by exactly CRLF. The trailer section
// is parsed strictly (trailerLine): each line a field
// ending in CRLF, the section ending in a bare CRLF. A line ending in a bare
// LF, or in CR CR LF, is a broken answer (errBadResponse): read leniently,
// "X\n" would end the message for one reader and not for the next, and the
// connection would carry the rest to the next client.
func copyChunked(w *bufio.Writer, r *bufio.Reader) (payload, written int64, err error) {
	write := func(b []byte) error {
		n, err := w.Write(b)
		written += int64(n)
		return err
	}
	for {
		if r.Buffered() == 0 && w.Buffered() > 0 {
			if err := w.Flush(); err != nil {
				return payload, written, err
			}
		}
		line, err := r.ReadSlice('\n')
		if err != nil {
			return payload, written, err
		}
		if len(line) < 2 || line[len(line)-2] != '\r' || bytes.IndexByte(line[:len(line)-2], '\r') >= 0 {
			return payload, written, errBadResponse // a bare LF, or a CR inside: net/http (the client) refuses them
		}
		n, ok := chunkSize(line[:len(line)-2])
		if !ok {
			return payload, written, errBadResponse
		}
		if err := write(line); err != nil {
			return payload, written, err
		}
		if n == 0 {
			for { // trailers, then the final CRLF
				line, err := r.ReadSlice('\n')
				if err != nil {
					return payload, written, err
				}
				end, ok := trailerLine(line)
				if !ok {
					return payload, written, errBadResponse
				}
				if err := write(line); err != nil {
					return payload, written, err
				}
				if end {
					return payload, written, nil
				}
			}
		}
		var m int64
		m, err = io.CopyN(w, r, n)
		payload += m
		written += m
		if err != nil {
			return payload, written, err
		}
		crlf, err := r.ReadSlice('\n')
		if err != nil || string(crlf) != "\r\n" {
			return payload, written, errBadResponse
		}
		if err := write(crlf); err != nil {
			return payload, written, err
		}
	}
}

// trailerLine checks one line of a chunked body's trailer section, LF
// included: the blank line that ends it (end), or a field line "name:
// value" with a token name and no control bytes, ending in CRLF and in
// nothing else (no bare LF, no CR CR LF).
func trailerLine(line []byte) (end, ok bool) {
	n := len(line)
	if n < 2 || line[n-2] != '\r' {
		return false, false
	}
	body := line[:n-2]
	if len(body) == 0 {
		return true, true
	}
	colon := bytes.IndexByte(body, ':')
	if colon <= 0 {
		return false, false
	}
	for _, c := range body[:colon] {
		if !tchar[c] {
			return false, false
		}
	}
	for _, c := range body[colon+1:] {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false, false
		}
	}
	return false, true
}
