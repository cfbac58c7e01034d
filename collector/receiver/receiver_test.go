package receiver

import (
	"context"
	"encoding/binary"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// recorder is a Handler that checks each sender's datagrams arrive in order.
type recorder struct {
	mu      *sync.Mutex
	got     map[string][]uint32
	count   *atomic.Int64
	block   chan struct{}
	closed  *atomic.Int32
	perSrc  map[string]uint32
	ordered *atomic.Bool
}

func (h *recorder) Handle(p *Packet) {
	if h.block != nil {
		<-h.block
	}
	d := p.Data()
	if len(d) < 4 {
		return
	}
	seq := binary.BigEndian.Uint32(d)
	src := p.Src.String()
	if last, ok := h.perSrc[src]; ok && seq != last+1 {
		h.ordered.Store(false)
	}
	h.perSrc[src] = seq
	h.count.Add(1)
}
func (h *recorder) Idle()  {}
func (h *recorder) Close() { h.closed.Add(1) }

type harness struct {
	r       *Receiver
	reg     *prometheus.Registry
	count   atomic.Int64
	closed  atomic.Int32
	ordered atomic.Bool
	cancel  context.CancelFunc
	done    chan error
	block   chan struct{}
	once    sync.Once
}

func (h *harness) unblock() {
	h.once.Do(func() {
		if h.block != nil {
			close(h.block)
		}
	})
}

func start(t *testing.T, cfg Config, block bool) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry(), done: make(chan error, 1)}
	h.ordered.Store(true)
	if block {
		h.block = make(chan struct{})
	}
	var mu sync.Mutex
	blockCh := h.block
	cfg.Listen = "127.0.0.1:0"
	r, err := New(cfg, Deps{Metrics: h.reg, NewHandler: func(int) Handler {
		return &recorder{mu: &mu, count: &h.count, closed: &h.closed, perSrc: map[string]uint32{}, ordered: &h.ordered, block: blockCh}
	}})
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		h.unblock()
		<-h.done
	})
	return h
}

func (h *harness) stop(t *testing.T) {
	t.Helper()
	h.cancel()
	if err := <-h.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	h.done <- nil
}

func send(t *testing.T, to net.Addr, senders, each int) {
	t.Helper()
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		c, err := net.Dial("udp", to.String())
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			b := make([]byte, 200)
			for i := 0; i < each; i++ {
				binary.BigEndian.PutUint32(b, uint32(i))
				if _, err := c.Write(b); err != nil {
					t.Error(err)
					return
				}
				if i%200 == 199 {
					time.Sleep(time.Millisecond) // stay within the socket buffer
				}
			}
		}()
	}
	wg.Wait()
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			sum += value(m)
		}
	}
	return sum
}

func value(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return 0
}

func TestReceiveAllInOrder(t *testing.T) {
	h := start(t, Config{Sockets: 3, Workers: 3, Queue: 4096}, false)
	addr := net.UDPAddrFromAddrPort(h.r.Addr())
	send(t, addr, 4, 5000)
	deadline := time.Now().Add(10 * time.Second)
	for h.count.Load() < 20000 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	h.stop(t)
	if got := h.count.Load(); got != 20000 {
		t.Errorf("handled %d datagrams, want 20000 (queue drops %v, kernel drops %v)", got,
			counter(t, h.reg, "elk_collector_queue_drops_total"), counter(t, h.reg, "elk_collector_kernel_drops_total"))
	}
	if !h.ordered.Load() {
		t.Error("a sender's datagrams were handled out of order")
	}
	if got := h.closed.Load(); got != 3 {
		t.Errorf("%d handlers closed, want 3", got)
	}
	if got := counter(t, h.reg, "elk_collector_received_datagrams_total"); got != 20000 {
		t.Errorf("received_datagrams_total = %v, want 20000", got)
	}
	if got := counter(t, h.reg, "elk_collector_received_bytes_total"); got != 20000*200 {
		t.Errorf("received_bytes_total = %v, want %d", got, 20000*200)
	}
	if got := counter(t, h.reg, "elk_collector_socket_receive_buffer_bytes"); got < 208*1024 {
		t.Errorf("receive buffer %v bytes, want at least the default", got)
	}
	mfs, _ := h.reg.Gather()
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestQueueFullDrops(t *testing.T) {
	h := start(t, Config{Sockets: 1, Workers: 1, Queue: 16, Batch: 4, DropWhenFull: true}, true)
	addr := net.UDPAddrFromAddrPort(h.r.Addr())
	send(t, addr, 1, 100)
	deadline := time.Now().Add(5 * time.Second)
	for counter(t, h.reg, "elk_collector_received_datagrams_total") < 100 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// The worker holds one datagram (blocked); the queue is full, or one
	// short if the burst was over before the worker took its first.
	for counter(t, h.reg, "elk_collector_queue_length") < 15 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	drops := counter(t, h.reg, "elk_collector_queue_drops_total")
	if drops < 100-16-4-2 {
		t.Errorf("queue drops %v, want about %d with a blocked worker", drops, 100-16)
	}
	if got := counter(t, h.reg, "elk_collector_queue_length"); got < 15 {
		t.Errorf("queue length %v, want 15-16 (full); drops %v received %v handled %d free %d", got, counter(t, h.reg, "elk_collector_queue_drops_total"), counter(t, h.reg, "elk_collector_received_datagrams_total"), h.count.Load(), len(h.r.free))
	}
	h.unblock()
	h.stop(t)
	if got := int64(drops) + h.count.Load(); got != 100 {
		t.Errorf("handled + dropped = %d, want 100", got)
	}
}

// TestStopDrainsSocketBuffers: datagrams the kernel already queued on the
// socket when the receiver is told to stop are read and handled, not
// discarded with the socket: a collector scaled down keeps what it was
// given. The worker is blocked, so they pile up in the kernel's buffer.
func TestStopDrainsSocketBuffers(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the drain on stop is Linux-only")
	}
	h := start(t, Config{Sockets: 1, Workers: 1, Queue: 1, Batch: 4}, true)
	addr := net.UDPAddrFromAddrPort(h.r.Addr())
	send(t, addr, 1, 300)
	h.cancel()
	time.Sleep(100 * time.Millisecond) // the stop has begun while 290+ wait in the kernel
	h.unblock()
	if err := <-h.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	h.done <- nil
	if got := h.count.Load(); got != 300 {
		t.Errorf("handled %d of the 300 datagrams sent before the stop", got)
	}
	if kd := counter(t, h.reg, "elk_collector_kernel_drops_total"); kd != 0 {
		t.Errorf("kernel drops %v", kd)
	}
}

func TestKernelDropsCounted(t *testing.T) {
	// A tiny receive buffer and a blocked reader: the kernel must drop,
	// and SO_RXQ_OVFL must report it.
	h := start(t, Config{Sockets: 1, Workers: 1, Queue: 1, Batch: 1, ReadBuffer: 4096}, true)
	addr := net.UDPAddrFromAddrPort(h.r.Addr())
	c, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, 1000)
	for i := 0; i < 500; i++ {
		c.Write(b)
	}
	// Unblock and let the reader drain the socket, then send one more so
	// a message carries the final drop count.
	h.unblock()
	for last := -1.0; ; {
		time.Sleep(50 * time.Millisecond)
		n := counter(t, h.reg, "elk_collector_received_datagrams_total")
		if n == last {
			break
		}
		last = n
	}
	c.Write(b)
	deadline := time.Now().Add(5 * time.Second)
	for counter(t, h.reg, "elk_collector_kernel_drops_total")+counter(t, h.reg, "elk_collector_received_datagrams_total") < 501 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	kd := counter(t, h.reg, "elk_collector_kernel_drops_total")
	h.stop(t)
	recv := counter(t, h.reg, "elk_collector_received_datagrams_total")
	if kd == 0 {
		t.Fatalf("no kernel drops counted (received %v of 501)", recv)
	}
	if kd+recv != 501 {
		t.Errorf("kernel drops %v + received %v = %v, want 501", kd, recv, kd+recv)
	}
}

type nopHandler struct{ n *atomic.Int64 }

func (h nopHandler) Handle(p *Packet) { h.n.Add(1) }
func (h nopHandler) Idle()            {}
func (h nopHandler) Close()           {}

func TestSteadyStateAllocations(t *testing.T) {
	var n atomic.Int64
	r, err := New(Config{Listen: "127.0.0.1:0", Sockets: 2, Workers: 2}, Deps{NewHandler: func(int) Handler { return nopHandler{&n} }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	c, err := net.Dial("udp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 500)
	sendN := func(k int) {
		for i := 0; i < k; i++ {
			c.Write(b)
			if i%100 == 99 {
				time.Sleep(200 * time.Microsecond)
			}
		}
	}
	sendN(2000) // warm up
	for n.Load() < 2000 {
		time.Sleep(time.Millisecond)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sendN(20000)
	for deadline := time.Now().Add(10 * time.Second); n.Load() < 22000 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	runtime.ReadMemStats(&after)
	cancel()
	<-done
	got := n.Load() - 2000
	per := float64(after.Mallocs-before.Mallocs) / float64(got)
	t.Logf("%d datagrams, %.4f allocations per datagram (whole process, sender included)", got, per)
	if per > 0.05 {
		t.Errorf("%.3f allocations per datagram, want ~0", per)
	}
}

func TestIPv6Listener(t *testing.T) {
	var n atomic.Int64
	r, err := New(Config{Listen: "[::1]:0", Sockets: 2}, Deps{NewHandler: func(int) Handler { return nopHandler{&n} }})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	c, err := net.Dial("udp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		c.Write([]byte("hello"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < 10 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	if n.Load() != 10 {
		t.Errorf("received %d of 10 datagrams over IPv6", n.Load())
	}
}

func TestPortInUseIsAnError(t *testing.T) {
	other, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = New(Config{Listen: other.LocalAddr().String()}, Deps{NewHandler: func(int) Handler { return nopHandler{new(atomic.Int64)} }})
	if err == nil {
		t.Fatal("listening on a port in use succeeded")
	}
	// Nor may a second receiver join a running one's port.
	r, err := New(Config{Listen: "127.0.0.1:0", Sockets: 2}, Deps{NewHandler: func(int) Handler { return nopHandler{new(atomic.Int64)} }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Run(canceledCtx())
	if _, err := New(Config{Listen: r.Addr().String()}, Deps{NewHandler: func(int) Handler { return nopHandler{new(atomic.Int64)} }}); err == nil {
		t.Error("a second receiver joined a running receiver's port")
	}
}

func canceledCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
