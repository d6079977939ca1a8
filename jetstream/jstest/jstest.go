// Package jstest runs embedded NATS servers with JetStream for tests and
// benchmarks of package jetstream: a single server or a cluster of n on
// loopback ports only, with file storage in temporary directories, that
// can shut down and restart single servers. Everything is stopped by
// tb.Cleanup.
//
// Known traps it handles: a stream created right after a server starts can
// fail until JetStream is ready and (in a cluster) a meta leader is
// elected, so the helpers wait for both; DontListen would also disable the
// cluster routes, so servers listen on 127.0.0.1 with ports chosen by the
// kernel (a cluster's route ports are picked before start, since every
// server must name all of them).
package jstest

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// TB is the part of testing.TB the helpers use; a benchmark program can
// implement it too.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

var _ TB = testing.TB(nil)

// Cluster is a set of embedded servers (one, for a single server).
type Cluster struct {
	tb   TB
	mu   sync.Mutex
	opts []*server.Options
	srvs []*server.Server // nil while shut down
}

// StartServer starts one JetStream server (not clustered).
func StartServer(tb TB) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb}
	o := baseOptions(tb, 0)
	c.opts = []*server.Options{o}
	c.srvs = []*server.Server{nil}
	c.start(0)
	tb.Cleanup(c.shutdownAll)
	c.WaitReady()
	return c
}

// StartCluster starts n clustered JetStream servers with routes among them
// on loopback and waits for the JetStream meta leader.
func StartCluster(tb TB, n int) *Cluster {
	tb.Helper()
	ports := freePorts(tb, n)
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	c := &Cluster{tb: tb, srvs: make([]*server.Server, n)}
	for i := range n {
		o := baseOptions(tb, i)
		o.Cluster = server.ClusterOpts{Name: "exledger-test", Host: "127.0.0.1", Port: ports[i]}
		o.Routes = routes
		c.opts = append(c.opts, o)
	}
	tb.Cleanup(c.shutdownAll)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { c.start(i) })
	}
	wg.Wait()
	c.WaitReady()
	return c
}

func baseOptions(tb TB, i int) *server.Options {
	return &server.Options{
		ServerName: fmt.Sprintf("S%d", i+1),
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   filepath.Join(tb.TempDir(), "js"),
		NoLog:      true,
		NoSigs:     true,
		// Bounded so that parallel test binaries do not each reserve
		// most of the machine.
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  8 << 30,
	}
}

// freePorts asks the kernel for n free loopback ports.
func freePorts(tb TB, n int) []int {
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("jstest: picking a port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// start (re)starts server i; after its first start it keeps its client
// port, so clients reconnect to it.
func (c *Cluster) start(i int) {
	c.mu.Lock()
	o := c.opts[i]
	c.mu.Unlock()
	s, err := server.NewServer(o)
	if err != nil {
		c.tb.Fatalf("jstest: server %d: %v", i, err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		c.tb.Fatalf("jstest: server %d not ready", i)
	}
	c.mu.Lock()
	o.Port = s.Addr().(*net.TCPAddr).Port
	c.srvs[i] = s
	c.mu.Unlock()
}

// N is the number of servers.
func (c *Cluster) N() int { return len(c.opts) }

// Server returns server i (nil while it is shut down).
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.srvs[i]
}

// URL is server i's client URL.
func (c *Cluster) URL(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("nats://127.0.0.1:%d", c.opts[i].Port)
}

// URLs lists every server's client URL, server i first (a client then
// prefers it and fails over to the others).
func (c *Cluster) URLs(i int) string {
	urls := []string{c.URL(i)}
	for j := range c.N() {
		if j != i {
			urls = append(urls, c.URL(j))
		}
	}
	return strings.Join(urls, ",")
}

// Connect opens a client connection to server i that fails over to the
// others and reconnects forever; it is closed by tb.Cleanup.
func (c *Cluster) Connect(i int, opts ...nats.Option) *nats.Conn {
	c.tb.Helper()
	base := []nats.Option{
		nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond),
		nats.ReconnectJitter(10*time.Millisecond, 10*time.Millisecond),
		nats.DontRandomize(),
	}
	nc, err := nats.Connect(c.URLs(i), append(base, opts...)...)
	if err != nil {
		c.tb.Fatalf("jstest: connect to server %d: %v", i, err)
	}
	c.tb.Cleanup(nc.Close)
	return nc
}

// Shutdown stops server i (its storage stays for Restart).
func (c *Cluster) Shutdown(i int) {
	c.mu.Lock()
	s := c.srvs[i]
	c.srvs[i] = nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Restart starts server i again from its storage and waits until
// JetStream has a meta leader again.
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	c.start(i)
	c.WaitReady()
}

func (c *Cluster) shutdownAll() {
	for i := range c.srvs {
		c.Shutdown(i)
	}
}

// WaitReady waits until every running server has JetStream enabled and,
// in a cluster, one of them is the meta leader and all are current.
func (c *Cluster) WaitReady() {
	c.tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c.ready() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	c.tb.Fatalf("jstest: JetStream not ready after 60s")
}

func (c *Cluster) ready() bool {
	c.mu.Lock()
	srvs := append([]*server.Server(nil), c.srvs...)
	c.mu.Unlock()
	leaders := 0
	for _, s := range srvs {
		if s == nil {
			continue
		}
		if !s.JetStreamEnabled() {
			return false
		}
		if len(srvs) == 1 {
			return true
		}
		if !s.JetStreamIsCurrent() {
			return false
		}
		if s.JetStreamIsLeader() {
			leaders++
		}
	}
	return leaders == 1
}

// StreamLeader returns the index of the server leading stream (in the
// default account), or -1.
func (c *Cluster) StreamLeader(stream string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.srvs {
		if s != nil && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// WaitStreamLeader waits until some server leads stream and returns it.
func (c *Cluster) WaitStreamLeader(stream string) int {
	c.tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if i := c.StreamLeader(stream); i >= 0 {
			return i
		}
		time.Sleep(25 * time.Millisecond)
	}
	c.tb.Fatalf("jstest: stream %s has no leader after 60s", stream)
	return -1
}
