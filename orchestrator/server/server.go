// Package server is elk's orchestrator server: the HTTP JSON API the CLI
// speaks (deploy, status, scale, undeploy), the embedded registry's
// endpoints, the policy engine's endpoints, /metrics and /healthz. Stack
// wires a whole server for the local or the nomad target.
//
// Routes:
//
//	POST   /v1/apps                                  deploy a blueprint (body: YAML; X-Elk-Filename names it
//	                                                 for error positions; ?dry_run=true only plans; with
//	                                                 Accept: application/x-ndjson the progress is streamed
//	                                                 as api.DeployLine objects)
//	GET    /v1/apps                                  status of every application
//	GET    /v1/apps/{app}                            status of one application
//	POST   /v1/apps/{app}/entities/{entity}/scale    set a desired count (body: api.ScaleRequest)
//	DELETE /v1/apps/{app}                            undeploy
//	*      /v1/registry/...                          embedded service registry (local target)
//	*      /v1/policies, /v1/policies/...            policy engine
//	GET    /metrics, /healthz
//
// Errors are {"error": "..."} with 400 (invalid blueprint or request), 404
// (unknown app or entity), 409 (another operation on the app is running),
// 422 (the deploy failed and was rolled back) or 500.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/elk-project/elk/orchestrator"
	"github.com/elk-project/elk/orchestrator/api"
	"github.com/elk-project/elk/policies"
)

// Compiler turns a blueprint document, once, into an application for the
// engine and the scaling policies of its entities.
type Compiler interface {
	Compile(filename string, data []byte) (Compiled, error)
}

// Compiled is a compiled blueprint.
type Compiled struct {
	App orchestrator.App
	// Policies are the entities' scaling policies, by entity id.
	Policies map[string][]*policies.Policy
}

// PolicySink receives the scaling policies of deployed applications (the
// policy engine). Deployed is called after a successful deploy with the
// application's policies; Undeployed after an undeploy.
type PolicySink interface {
	Deployed(app string, policies map[string][]*policies.Policy) error
	Undeployed(app string)
}

// Deps are the server's collaborators. Engine and Compiler are required.
type Deps struct {
	Engine   *orchestrator.Engine
	Compiler Compiler
	// Registry serves /v1/registry/ (the embedded registry), if set.
	DiscoveryAPI http.Handler
	// Policies serves /v1/policies (the policy engine), if set.
	Policies http.Handler
	// Tenants serves /v1/tenants (the tenant records), if set.
	Tenants http.Handler
	// PolicySink is told about deployed and undeployed applications.
	PolicySink PolicySink
	Metrics    *prometheus.Registry
	Logger     *slog.Logger
	Security   Security
}

// Security protects the API: Middleware wraps every route (authentication,
// browser defenses: orchestrator/auth), TLS, if set, makes Serve speak
// HTTPS.
type Security struct {
	Middleware func(http.Handler) http.Handler
	TLS        *tls.Config
}

// Server is the HTTP API.
type Server struct {
	deps Deps
	log  *slog.Logger
	mux  *http.ServeMux

	// ctx is the server's lifetime: deploys outlive the request that
	// started them but not the server.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	rates  *rates
}

// New builds the server; Serve runs it.
func New(deps Deps) (*Server, error) {
	if deps.Engine == nil || deps.Compiler == nil {
		return nil, errors.New("server: engine and compiler are required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{deps: deps, log: deps.Logger, mux: http.NewServeMux(), ctx: ctx, cancel: cancel, rates: newRates(deps.Engine)}
	s.routes()
	return s, nil
}

// Handler returns the API's handler, wrapped by Security.Middleware.
func (s *Server) Handler() http.Handler {
	if s.deps.Security.Middleware != nil {
		return s.deps.Security.Middleware(s.mux)
	}
	return s.mux
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	if s.deps.Metrics != nil {
		m.Handle("GET /metrics", promhttp.HandlerFor(s.deps.Metrics, promhttp.HandlerOpts{}))
	}
	m.HandleFunc("POST /v1/apps", s.deploy)
	m.HandleFunc("GET /v1/apps", s.list)
	m.HandleFunc("GET /v1/apps/{app}", s.status)
	m.HandleFunc("DELETE /v1/apps/{app}", s.undeploy)
	m.HandleFunc("POST /v1/apps/{app}/entities/{entity}/scale", s.scale)
	if s.deps.DiscoveryAPI != nil {
		m.Handle("/v1/registry/", s.deps.DiscoveryAPI)
	}
	if s.deps.Policies != nil {
		m.Handle("/v1/policies", s.deps.Policies)
		m.Handle("/v1/policies/", s.deps.Policies)
	}
	if s.deps.Tenants != nil {
		m.Handle("/v1/tenants", s.deps.Tenants)
		m.Handle("/v1/tenants/", s.deps.Tenants)
	}
}

// Serve serves the API on l until ctx ends, then stops accepting requests,
// interrupts deploys in flight (their journals let the next server resume
// them) and returns.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	// A slow or stalled client cannot hold a connection: headers within
	// 10 s, the body within a minute, the answer written within five
	// (deploys, which wait for health, lift the write deadline), idle
	// keep-alive connections closed after two.
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}
	if s.deps.Security.TLS != nil {
		l = tls.NewListener(l, s.deps.Security.TLS)
	}
	s.wg.Go(func() { s.rates.run(s.ctx) })
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		s.cancel()
		s.wg.Wait()
		return fmt.Errorf("serve %s: %w", l.Addr(), err)
	case <-ctx.Done():
	}
	s.cancel()
	sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
	defer c()
	_ = hs.Shutdown(sctx)
	s.wg.Wait()
	return nil
}

// Body limits. A body over its limit is refused with 413 as a whole: a
// blueprint cut short could still parse and deploy a smaller application.
const (
	MaxBlueprintBytes = 4 << 20
	maxRequestBytes   = 64 << 10
)

func statusOf(err error) int {
	switch {
	case errors.Is(err, orchestrator.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, orchestrator.ErrBusy):
		return http.StatusConflict
	case errors.Is(err, orchestrator.ErrDeployFailed):
		return http.StatusUnprocessableEntity
	case errors.Is(err, orchestrator.ErrInvalid), errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

var errBadRequest = errors.New("bad request")

func writeErr(w http.ResponseWriter, err error) { api.WriteError(w, err, statusOf(err)) }

func (s *Server) deploy(w http.ResponseWriter, r *http.Request) {
	// A deploy answers when its entities are healthy, or streams progress
	// until then: no write deadline.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBlueprintBytes))
	if err != nil {
		writeErr(w, fmt.Errorf("read blueprint: %w: %w", errBadRequest, err))
		return
	}
	name := r.Header.Get(api.FilenameHeader)
	if name == "" {
		name = "blueprint.yaml"
	}
	compiled, err := s.deps.Compiler.Compile(name, data)
	if err != nil {
		writeErr(w, fmt.Errorf("%w: %w", orchestrator.ErrInvalid, err))
		return
	}
	app := compiled.App
	dry, _ := strconv.ParseBool(r.URL.Query().Get("dry_run"))
	stream := r.Header.Get("Accept") == "application/x-ndjson"

	events := make(chan orchestrator.Event, 64)
	type outcome struct {
		res *orchestrator.Result
		err error
	}
	done := make(chan outcome, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		res, err := s.deps.Engine.Deploy(s.ctx, app, orchestrator.DeployOptions{DryRun: dry, Progress: func(ev orchestrator.Event) {
			select {
			case events <- ev:
			default: // a slow or gone client does not block the deploy
			}
		}})
		if err == nil && !dry && s.deps.PolicySink != nil {
			if perr := s.deps.PolicySink.Deployed(app.Name, compiled.Policies); perr != nil {
				s.log.Warn("load the application's policies", "app", app.Name, "error", perr)
			}
		}
		done <- outcome{res, err}
	}()
	if !stream {
		o := <-done
		if o.err != nil {
			writeErr(w, o.err)
			return
		}
		api.WriteJSON(w, http.StatusOK, o.res)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	flush()
	for {
		select {
		case ev := <-events:
			_ = enc.Encode(api.DeployLine{Event: &ev})
			flush()
		case o := <-done:
			for len(events) > 0 {
				ev := <-events
				_ = enc.Encode(api.DeployLine{Event: &ev})
			}
			if o.err != nil {
				_ = enc.Encode(api.DeployLine{Error: o.err.Error(), Status: statusOf(o.err)})
			} else {
				_ = enc.Encode(api.DeployLine{Result: o.res})
			}
			flush()
			return
		case <-r.Context().Done():
			return // the deploy goes on
		}
	}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	names, err := s.deps.Engine.Apps(r.Context())
	if err != nil {
		writeErr(w, err)
		return
	}
	out := []*orchestrator.AppStatus{}
	for _, n := range names {
		st, err := s.deps.Engine.Status(r.Context(), n)
		if errors.Is(err, orchestrator.ErrNotFound) {
			continue
		}
		if err != nil {
			writeErr(w, err)
			return
		}
		s.rates.annotate(st)
		out = append(out, st)
	}
	api.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.deps.Engine.Status(r.Context(), r.PathValue("app"))
	if err != nil {
		writeErr(w, err)
		return
	}
	s.rates.annotate(st)
	api.WriteJSON(w, http.StatusOK, st)
}

func (s *Server) scale(w http.ResponseWriter, r *http.Request) {
	var req api.ScaleRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes)).Decode(&req); err != nil {
		writeErr(w, fmt.Errorf("decode scale request: %w: %w", errBadRequest, err))
		return
	}
	app, entity := r.PathValue("app"), r.PathValue("entity")
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Minute)
	defer cancel()
	if err := s.deps.Engine.Scale(ctx, app, entity, req.Count, orchestrator.ScaleOptions{Source: orchestrator.SourceOperator, Reason: req.Reason}); err != nil {
		writeErr(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, api.ScaleResponse{App: app, Entity: entity, Count: req.Count})
}

func (s *Server) undeploy(w http.ResponseWriter, r *http.Request) {
	app := r.PathValue("app")
	var removed []string
	err := s.deps.Engine.Undeploy(s.ctx, app, func(ev orchestrator.Event) {
		if ev.Action == "remove" {
			removed = append(removed, ev.Entity)
		}
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	if s.deps.PolicySink != nil {
		s.deps.PolicySink.Undeployed(app)
	}
	api.WriteJSON(w, http.StatusOK, api.UndeployResponse{App: app, Removed: removed})
}
