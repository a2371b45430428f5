package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Restarts and upgrades that drop nothing rest on one idea: a listening
// socket outlives the process serving it. Connections the kernel has queued
// on a socket stay queued as long as any process (or systemd) holds it, and
// whoever accepts next serves them. Two ways keep a socket alive:
//
//   - systemd socket activation (deploy/systemd/elbguard-proxy.socket): systemd
//     binds the ports and passes them in LISTEN_FDS. It holds them across
//     `systemctl restart` (stop, then start): nothing is refused while no
//     process runs, the new process accepts what queued.
//   - hand-over (SIGUSR2, the unit's ExecReload, a package upgrade): the
//     running process starts the binary on disk with its listening sockets
//     (ELBGUARD_HANDOVER_FDS), waits until the new process has started every
//     listener, then stops accepting and drains. Both accept from the same
//     queue for a moment; nothing is refused and no second bind happens.
//

// Sockets is the registry of one process's listening sockets, by configured
// address. It keeps its own descriptor of each for the life of the process,
// so a reload that re-binds a listener reuses the queue instead of closing
// it, and a hand-over can pass every socket on.
type Sockets struct {
	mu        sync.Mutex
	files     map[string]*os.File // by configured listen address
	spare     []inheritedSocket   // inherited, not yet claimed by a listener
	readyPipe *os.File            // hand-over: the parent's readiness pipe
	systemd   bool                // the sockets came from systemd (or a parent that got them there)
	exe       string              // the binary a hand-over starts
}

type inheritedSocket struct {
	name string // LISTEN_FDNAMES entry, or the parent's listen address
	file *os.File
	addr *net.TCPAddr
}

// Environment of a hand-over child (the variables systemd uses are LISTEN_*).
const (
	envHandoverFDs   = "ELBGUARD_HANDOVER_FDS"   // comma-separated listen addresses of fds 3, 4, ...
	envHandoverReady = "ELBGUARD_HANDOVER_READY" // fd of the readiness pipe
	envSystemdHeld   = "ELBGUARD_SOCKETS_SYSTEMD"
	listenFDsStart   = 3
)

// handoverTimeout bounds how long a new process may take to start its
// listeners before the old one gives up the upgrade and keeps serving.
const handoverTimeout = 30 * time.Second

// InheritSockets collects the listening sockets passed to this process by
// systemd (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES) or by the process it
// takes over from, and removes those variables from the environment so that
// no later child mistakes them for its own. With neither, it returns an
// empty registry: every listener binds its own socket.
func InheritSockets() (*Sockets, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	sk := &Sockets{files: make(map[string]*os.File), exe: exe}
	sk.systemd = os.Getenv(envSystemdHeld) == "1"
	defer func() {
		for _, k := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", envHandoverFDs, envHandoverReady} {
			_ = os.Unsetenv(k)
		}
	}()
	var names []string
	switch {
	case os.Getenv(envHandoverFDs) != "":
		names = strings.Split(os.Getenv(envHandoverFDs), ",")
		fd, err := strconv.Atoi(os.Getenv(envHandoverReady))
		if err != nil || fd < listenFDsStart {
			return nil, fmt.Errorf("%s %q: want a file descriptor number", envHandoverReady, os.Getenv(envHandoverReady))
		}
		syscall.CloseOnExec(fd)
		sk.readyPipe = os.NewFile(uintptr(fd), "handover-ready")
	case os.Getenv("LISTEN_FDS") != "":
		if pid, err := strconv.Atoi(os.Getenv("LISTEN_PID")); err != nil || pid != os.Getpid() {
			return sk, nil // meant for another process
		}
		n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
		if err != nil || n < 0 || n > 1024 {
			return nil, fmt.Errorf("LISTEN_FDS %q: want a count of file descriptors", os.Getenv("LISTEN_FDS"))
		}
		names = make([]string, n)
		if fn := os.Getenv("LISTEN_FDNAMES"); fn != "" {
			copy(names, strings.Split(fn, ":"))
		}
		sk.systemd = true
		if err := os.Setenv(envSystemdHeld, "1"); err != nil {
			return nil, fmt.Errorf("remember socket activation: %w", err)
		}
	default:
		return sk, nil
	}
	for i, name := range names {
		fd := listenFDsStart + i
		syscall.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "listener-"+name)
		ln, err := net.FileListener(f)
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("inherited fd %d (%s): not a listening socket: %w", fd, name, err)
		}
		addr, ok := ln.Addr().(*net.TCPAddr)
		_ = ln.Close() // a duplicate; f keeps the socket
		if !ok {
			_ = f.Close()
			return nil, fmt.Errorf("inherited fd %d (%s): %s is not TCP", fd, name, ln.Addr())
		}
		sk.spare = append(sk.spare, inheritedSocket{name: name, file: f, addr: addr})
	}
	return sk, nil
}

// Inherited reports whether any socket was passed to this process.
func (sk *Sockets) Inherited() bool {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	return len(sk.spare) > 0 || len(sk.files) > 0 || sk.readyPipe != nil
}

// listen returns a listener on addr: the registry's socket for it, an
// inherited one bound to the same address, or a new one.
func (sk *Sockets) listen(ctx context.Context, addr string) (net.Listener, bool, error) {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	inherited := false
	f := sk.files[addr]
	if f == nil {
		for i, in := range sk.spare {
			if in.name == addr || sameAddress(addr, in.addr) {
				f = in.file
				sk.spare = append(sk.spare[:i], sk.spare[i+1:]...)
				sk.files[addr] = f
				inherited = true
				break
			}
		}
	}
	if f != nil {
		ln, err := net.FileListener(f)
		if err != nil {
			return nil, false, fmt.Errorf("listen %s on the inherited socket: %w", addr, err)
		}
		return ln, inherited, nil
	}
	// No TCP keep-alive probes on client sockets: the load balancer's idle
	// timeout governs, and it saves four setsockopt calls per connection.
	lcfg := net.ListenConfig{KeepAlive: -1}
	ln, err := lcfg.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err //nolint:wrapcheck // the caller names the listener
	}
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return ln, false, nil
	}
	f, err = tl.File()
	if err != nil {
		_ = ln.Close()
		return nil, false, fmt.Errorf("keep socket %s: %w", addr, err)
	}
	sk.files[addr] = f
	return ln, false, nil
}

// release forgets the socket of a listener a reload removed, so the port is
// free again (unless systemd holds it).
func (sk *Sockets) release(addr string) {
	sk.mu.Lock()
	f := sk.files[addr]
	delete(sk.files, addr)
	sk.mu.Unlock()
	if f != nil {
		_ = f.Close()
	}
}

// closeSpare closes inherited sockets no listener claimed. A socket systemd
// holds stays open there, so its port keeps queueing connections nothing
// accepts: that is a mismatch between the .socket unit and the config,
// logged as an error.
func (sk *Sockets) closeSpare(log *slog.Logger) {
	sk.mu.Lock()
	spare := sk.spare
	sk.spare = nil
	sk.mu.Unlock()
	for _, in := range spare {
		log.Error("inherited socket matches no listener in the config; closing it",
			slog.String("address", in.addr.String()), slog.String("name", in.name),
			slog.Bool("systemd", sk.systemd))
		_ = in.file.Close()
	}
}

// ready tells whoever started this process that every listener runs: the
// parent of a hand-over through its pipe, and systemd (Type=notify) with
// this process as the service's main process.
func (sk *Sockets) ready(log *slog.Logger) {
	sk.mu.Lock()
	r := sk.readyPipe
	sk.readyPipe = nil
	sk.mu.Unlock()
	if r != nil {
		if _, err := r.Write([]byte{'1'}); err != nil {
			log.Warn("tell the previous process it may drain", slog.String("error", err.Error()))
		}
		_ = r.Close()
	}
	if err := sdNotify(fmt.Sprintf("READY=1\nMAINPID=%d", os.Getpid())); err != nil {
		log.Warn("sd_notify READY", slog.String("error", err.Error()))
	}
}

// ErrHandover is wrapped by every failed hand-over: the new process did not
// start; this one keeps serving.
var ErrHandover = errors.New("proxy: hand-over to a new process failed")

// handover starts the binary on disk with args and every socket in the
// registry, and waits until it has started its listeners (it then owns the
// service: it tells systemd MAINPID itself). On error the child is killed
// and this process keeps serving.
func (sk *Sockets) handover(ctx context.Context, args []string, log *slog.Logger) (int, error) {
	sk.mu.Lock()
	names := make([]string, 0, len(sk.files))
	files := make([]*os.File, 0, len(sk.files)+1)
	for name, f := range sk.files {
		names = append(names, name)
		files = append(files, f)
	}
	sk.mu.Unlock()
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("%w: readiness pipe: %w", ErrHandover, err)
	}
	defer func() { _ = pr.Close() }()
	files = append(files, pw)
	env := make([]string, 0, len(os.Environ())+2)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envHandoverFDs+"=") && !strings.HasPrefix(kv, envHandoverReady+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, envHandoverFDs+"="+strings.Join(names, ","),
		envHandoverReady+"="+strconv.Itoa(listenFDsStart+len(names)))
	// The new process outlives this one and the hand-over's deadline: no
	// context may kill it once started (a failed hand-over kills it below).
	cmd := exec.CommandContext(context.WithoutCancel(ctx), sk.exe, args...) //nolint:gosec // our own binary, with our own arguments
	cmd.Env, cmd.ExtraFiles = env, files
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		_ = pw.Close()
		return 0, fmt.Errorf("%w: start %s: %w", ErrHandover, sk.exe, err)
	}
	_ = pw.Close()
	pid := cmd.Process.Pid
	log.Info("handing over to a new process", slog.Int("pid", pid), slog.String("binary", sk.exe),
		slog.Int("sockets", len(names)))
	readyC := make(chan bool, 1)
	go func() {
		var b [1]byte
		n, _ := pr.Read(b[:])
		readyC <- n == 1
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(ctx, handoverTimeout)
	defer cancel()
	select {
	case ok := <-readyC:
		if ok {
			// The child outlives this process; its exit status is collected
			// by whoever adopts it (systemd, or init).
			return pid, nil
		}
		err = <-exited
		if err == nil {
			err = errors.New("exited before it was ready")
		}
		return 0, fmt.Errorf("%w: new process %d: %w", ErrHandover, pid, err)
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		werr := <-exited
		return 0, fmt.Errorf("%w: new process %d not ready: %w (killed: %w)", ErrHandover, pid, ctx.Err(), werr)
	}
}

// sameAddress reports whether a configured listen address ("host:port",
// ":port") names the bound address a.
func sameAddress(listen string, a *net.TCPAddr) bool {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	p, err := net.DefaultResolver.LookupPort(context.Background(), "tcp", port) // a number, or /etc/services
	if err != nil || p != a.Port {
		return false
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		return a.IP == nil || a.IP.IsUnspecified()
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.Equal(a.IP)
}

// sdNotify sends a state to systemd's notification socket (Type=notify),
// when there is one.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("dial %s: %w", os.Getenv("NOTIFY_SOCKET"), err)
	}
	defer func() { _ = c.Close() }()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("write %s: %w", os.Getenv("NOTIFY_SOCKET"), err)
	}
	return nil
}

// UseSockets makes the server take its listening sockets from sk (before
// Start).
func (s *Server) UseSockets(sk *Sockets) {
	s.mu.Lock()
	s.sockets = sk
	s.mu.Unlock()
}

// listen opens the socket of a front or admin listener (under s.mu).
func (s *Server) listen(ctx context.Context, addr string) (net.Listener, error) {
	if s.sockets == nil {
		// No TCP keep-alive probes on client sockets: the load balancer's idle
		// timeout governs, and it saves four setsockopt calls per connection.
		lcfg := net.ListenConfig{KeepAlive: -1}
		return lcfg.Listen(ctx, "tcp", addr) //nolint:wrapcheck // the caller names the listener
	}
	ln, inherited, err := s.sockets.listen(ctx, addr)
	if err == nil && inherited {
		s.log.Info("listening on an inherited socket", slog.String("listen", addr),
			slog.String("address", ln.Addr().String()), slog.Bool("systemd", s.sockets.systemd))
	}
	return ln, err
}

// releaseSocket frees the socket of a listener a reload removed (under s.mu).
func (s *Server) releaseSocket(addr string) {
	if s.sockets != nil {
		s.sockets.release(addr)
	}
}

func (c Config) hasListener(addr string) bool {
	for _, lc := range c.Listeners {
		if lc.Listen == addr {
			return true
		}
	}
	return false
}

// stopAdmin closes the admin listener ahead of a drain after a hand-over:
// the new process shares the admin socket and answers its health checks;
// the old one would answer 503 (draining) to some of them.
func (s *Server) stopAdmin() {
	s.mu.Lock()
	adm := s.admin
	s.admin = nil
	s.mu.Unlock()
	if adm != nil {
		adm.close()
	}
}
