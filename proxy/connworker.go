package proxy

// maxIdleConnWorkers bounds the goroutines a listener keeps waiting for the
// next accepted connection (each holds its stack, a few KiB).
const maxIdleConnWorkers = 64

// connWorkers are the goroutines that serve a redirect or http listener's
// connections of the keep-alive loop (httpconn.go). A goroutine that has served one waits for
// the next instead of exiting: under connection churn, starting a
// goroutine per connection cost its creation, a stack growth on its first
// read (serveConn's chain is deeper than a new goroutine's 2 KiB) and its
// exit, each time.
type connWorkers struct {
	work chan *httpConn // unbuffered: a send succeeds only into a waiting worker
	idle chan struct{}  // a token per idle worker, at most maxIdleConnWorkers
}

func newConnWorkers() connWorkers {
	return connWorkers{work: make(chan *httpConn), idle: make(chan struct{}, maxIdleConnWorkers)}
}

// dispatch serves f on an idle worker, or on a new one when none waits.
func (l *listener) dispatch(f *httpConn) {
	select {
	case l.workers.work <- f:
	default:
		go l.connWorker(f)
	}
}

// connWorker serves f, then further connections until it would be one idle
// worker too many or the accept loop has returned (l.done).
func (l *listener) connWorker(f *httpConn) {
	for {
		l.serveConn(f)
		select {
		case l.workers.idle <- struct{}{}:
		default:
			return // enough idle workers
		}
		select {
		case f = <-l.workers.work:
			<-l.workers.idle
		case <-l.done:
			<-l.workers.idle
			return
		}
	}
}
