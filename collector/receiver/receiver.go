// Package receiver reads UDP datagrams fast and hands them to workers.
//
// It opens several sockets on one port (SO_REUSEPORT, so the kernel spreads
// senders over them), asks for a large receive buffer, reads in batches
// (recvmmsg on Linux) into pooled buffers and reads the kernel's drop count
// from SO_RXQ_OVFL control messages. Datagrams go to a bounded queue per
// worker, chosen by the sender's address, so one sender's datagrams are
// handled in order by one worker: its Handler can keep per-sender state
// without locks. When a queue is full the datagram is dropped and counted.
// Nothing is allocated per datagram in steady state.
package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Packet is one received datagram. Its buffer belongs to the receiver: a
// Handler must not keep it (or Data) after Handle returns.
type Packet struct {
	buf []byte
	// N is the datagram length.
	N int
	// Truncated says the datagram was larger than the buffer.
	Truncated bool
	// Src is the sender's address and port.
	Src netip.AddrPort
	// Received is when the batch holding the datagram was read.
	Received time.Time
	// Socket is the index of the socket that read it.
	Socket int
}

// Data returns the datagram's bytes.
func (p *Packet) Data() []byte { return p.buf[:p.N] }

// Handler processes datagrams for one worker. Handle is called for each
// datagram in the worker's queue; Idle when the queue has run empty (a good
// moment to flush batched output); Close once after the last datagram, when
// the receiver stops.
type Handler interface {
	Handle(p *Packet)
	Idle()
	Close()
}

// Config configures a Receiver.
type Config struct {
	// Listen is the UDP address, e.g. "127.0.0.1:6343".
	Listen string
	// Sockets is the number of SO_REUSEPORT sockets (and reader
	// goroutines); 0 means 2.
	Sockets int
	// Workers is the number of worker goroutines; 0 means DefaultWorkers.
	Workers int
	// Queue is the total queue capacity in datagrams, split evenly among
	// workers; 0 means 8192.
	Queue int
	// Batch is how many datagrams one read may return; 0 means 64.
	Batch int
	// BufferSize is the largest datagram kept whole; 0 means 9216 (jumbo
	// frames). Larger ones are truncated and counted.
	BufferSize int
	// ReadBuffer is the requested socket receive buffer; 0 means 32 MiB.
	ReadBuffer int
	// DropWhenFull drops a datagram (counting it) when its worker's queue
	// is full. By default the reader waits instead, so the socket's
	// receive buffer absorbs bursts and overflow shows as kernel drops.
	DropWhenFull bool
	// SharePort lets this receiver join a port that other receivers of the
	// same user already listen on (one SO_REUSEPORT group, the kernel
	// spreading datagrams by sender). Several collector instances behind
	// one sFlow port use it; by default a port in use is an error.
	SharePort bool
}

// Deps are the Receiver's collaborators.
type Deps struct {
	Logger  *slog.Logger
	Metrics *prometheus.Registry
	// NewHandler makes the handler of worker i.
	NewHandler func(worker int) Handler
	// LossKernel and LossQueue, when set, also count datagrams lost in the
	// kernel and to a full queue (the collector's loss-by-stage family).
	LossKernel, LossQueue prometheus.Counter
}

// Receiver owns the sockets, the queues and the workers.
type Receiver struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	conns   []*net.UDPConn
	addr    netip.AddrPort
	queues  []chan *Packet
	free    chan *Packet
	metrics metrics
	// stopping is set when Run's context ends: readers then drain what the
	// kernel already queued and close their sockets.
	stopping atomic.Bool
}

type metrics struct {
	datagrams   prometheus.Counter
	bytes       prometheus.Counter
	truncated   prometheus.Counter
	queueDrops  prometheus.Counter
	kernelDrops []prometheus.Counter
	rcvbuf      prometheus.Gauge
	lossKernel  prometheus.Counter
	lossQueue   prometheus.Counter
}

// DefaultWorkers is the number of workers when Config.Workers is 0.
const DefaultWorkers = 2

// New binds the sockets (so the address is in use when New returns) and
// prepares the queues; Run starts reading.
func New(cfg Config, deps Deps) (*Receiver, error) {
	if cfg.Sockets <= 0 {
		cfg.Sockets = 2
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 8192
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = 9216
	}
	if cfg.ReadBuffer <= 0 {
		cfg.ReadBuffer = 32 << 20
	}
	if deps.NewHandler == nil {
		return nil, errors.New("receiver: no handler")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Receiver{cfg: cfg, deps: deps, log: deps.Logger}
	if err := r.initMetrics(); err != nil {
		return nil, err
	}
	if err := r.listen(); err != nil {
		return nil, err
	}
	perWorker := max(cfg.Queue/cfg.Workers, 1)
	r.queues = make([]chan *Packet, cfg.Workers)
	for i := range r.queues {
		r.queues[i] = make(chan *Packet, perWorker)
	}
	// Enough buffers for every queue slot plus every reader's batch.
	n := perWorker*cfg.Workers + cfg.Batch*cfg.Sockets + cfg.Workers
	r.free = make(chan *Packet, n)
	for i := 0; i < n; i++ {
		r.free <- &Packet{buf: make([]byte, cfg.BufferSize)}
	}
	return r, nil
}

func (r *Receiver) initMetrics() error {
	listener := prometheus.Labels{"listener": r.cfg.Listen}
	m := &r.metrics
	m.datagrams = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "elk_collector_received_datagrams_total", Help: "UDP datagrams received.", ConstLabels: listener})
	m.bytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "elk_collector_received_bytes_total", Help: "Bytes of UDP payload received.", ConstLabels: listener})
	m.truncated = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "elk_collector_truncated_datagrams_total", Help: "Datagrams larger than the receive buffer (cut short, then fail to decode).", ConstLabels: listener})
	m.queueDrops = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "elk_collector_queue_drops_total", Help: "Datagrams dropped because the decode queue was full.", ConstLabels: listener})
	m.rcvbuf = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "elk_collector_socket_receive_buffer_bytes", Help: "Receive buffer size the kernel granted each socket.", ConstLabels: listener})
	kd := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elk_collector_kernel_drops_total", Help: "Datagrams the kernel dropped because a socket's receive buffer was full (SO_RXQ_OVFL).", ConstLabels: listener},
		[]string{"socket"})
	for i := 0; i < r.cfg.Sockets; i++ {
		m.kernelDrops = append(m.kernelDrops, kd.WithLabelValues(strconv.Itoa(i)))
	}
	qlen := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "elk_collector_queue_length", Help: "Datagrams waiting in the decode queues.", ConstLabels: listener},
		func() float64 {
			n := 0
			for _, q := range r.queues {
				n += len(q)
			}
			return float64(n)
		})
	qcap := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "elk_collector_queue_capacity", Help: "Capacity of the decode queues, in datagrams.", ConstLabels: listener},
		func() float64 {
			n := 0
			for _, q := range r.queues {
				n += cap(q)
			}
			return float64(n)
		})
	m.lossKernel, m.lossQueue = r.deps.LossKernel, r.deps.LossQueue
	if r.deps.Metrics != nil {
		for _, c := range []prometheus.Collector{m.datagrams, m.bytes, m.truncated, m.queueDrops, m.rcvbuf, kd, qlen, qcap} {
			if err := r.deps.Metrics.Register(c); err != nil {
				return fmt.Errorf("register receiver metrics: %w", err)
			}
		}
	}
	return nil
}

// Addr is the bound address (useful with port 0).
func (r *Receiver) Addr() netip.AddrPort { return r.addr }

// Run reads until ctx ends, then reads what the kernel already queued on
// each socket (Linux; elsewhere the sockets close at once) and closes them,
// lets the workers drain their queues and calls every Handler's Close. It
// returns after all of that; a read error other than the shutdown is
// returned. Once a socket of a shared port closes, the kernel hands the
// port's datagrams to the other sockets of its SO_REUSEPORT group, so a
// collector scaled down loses only what arrives in the instant between its
// last read and the close.
func (r *Receiver) Run(ctx context.Context) error {
	var workers sync.WaitGroup
	for i, q := range r.queues {
		h := r.deps.NewHandler(i)
		workers.Add(1)
		go func() {
			defer workers.Done()
			r.work(h, q)
		}()
	}
	var readers sync.WaitGroup
	errs := make([]error, len(r.conns))
	for i, c := range r.conns {
		readers.Add(1)
		go func() {
			defer readers.Done()
			errs[i] = r.read(i, c)
		}()
	}
	stop := context.AfterFunc(ctx, func() {
		r.stopping.Store(true)
		for _, c := range r.conns {
			stopReading(c)
		}
	})
	readers.Wait()
	stop()
	for _, c := range r.conns {
		c.Close()
	}
	for _, q := range r.queues {
		close(q)
	}
	workers.Wait()
	return errors.Join(errs...)
}

func (r *Receiver) work(h Handler, q chan *Packet) {
	defer h.Close()
	for p := range q {
		h.Handle(p)
		r.free <- p
		if len(q) == 0 {
			h.Idle()
		}
	}
}

// dispatch hands a filled packet to its worker's queue and returns the
// packet the reader should reuse: a fresh one from the pool, or p itself
// when the datagram had to be dropped.
func (r *Receiver) dispatch(p *Packet) *Packet {
	m := &r.metrics
	m.datagrams.Inc()
	m.bytes.Add(float64(p.N))
	if p.Truncated {
		m.truncated.Inc()
	}
	q := r.queues[workerFor(p.Src.Addr(), len(r.queues))]
	if !r.cfg.DropWhenFull {
		q <- p
		return <-r.free
	}
	var fresh *Packet
	select {
	case fresh = <-r.free:
	default:
		r.dropQueue()
		return p
	}
	select {
	case q <- p:
		return fresh
	default:
		r.free <- fresh
		r.dropQueue()
		return p
	}
}

func (r *Receiver) dropQueue() {
	r.metrics.queueDrops.Inc()
	if r.metrics.lossQueue != nil {
		r.metrics.lossQueue.Inc()
	}
}

func (r *Receiver) kernelDrops(socket int, n uint32) {
	r.metrics.kernelDrops[socket].Add(float64(n))
	if r.metrics.lossKernel != nil {
		r.metrics.lossKernel.Add(float64(n))
	}
}

// workerFor picks the worker of a sender (FNV-1a over its address).
func workerFor(a netip.Addr, n int) int {
	if n == 1 {
		return 0
	}
	b := a.Unmap().As16()
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return int(h % uint32(n))
}

// isClosed reports whether err comes from reading a closed socket.
func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }

// NewPacket wraps data as a received datagram, for replay tools and tests
// that drive a Handler directly.
func NewPacket(data []byte, src netip.AddrPort, received time.Time) *Packet {
	return &Packet{buf: data, N: len(data), Src: src, Received: received}
}
