package engine

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/elk-project/elk/orchestrator/api"
	"github.com/elk-project/elk/orchestrator/auth"
	"github.com/elk-project/elk/policies"
)

// AuthorHeader was how clients named the author of a change. The server
// ignores it: the author is the identity of the request's token
// (orchestrator/auth), or "api" on a server without authentication.
const AuthorHeader = "X-Elk-Author"

// SetRequest is the body of POST /v1/policies/{app}/{entity}/set.
type SetRequest struct {
	Assignments []string `json:"assignments"`
}

// PinRequest is the body of POST /v1/policies/{app}/{entity}/pin.
type PinRequest struct {
	Count int    `json:"count"`
	For   string `json:"for"` // duration, e.g. "2h"
}

// ValidateResponse answers POST /v1/policies/validate.
type ValidateResponse struct {
	Valid  bool     `json:"valid"`
	Errors []string `json:"errors,omitempty"`
}

// Handler serves the policy API:
//
//	GET    /v1/policies                               list
//	POST   /v1/policies/validate                      validate a YAML body
//	GET    /v1/policies/{app}/{entity}                show (with YAML)
//	PUT    /v1/policies/{app}/{entity}                replace with a YAML body
//	DELETE /v1/policies/{app}/{entity}                stop evaluating
//	POST   /v1/policies/{app}/{entity}/set            {"assignments":["max=10"]}
//	POST   /v1/policies/{app}/{entity}/pause|resume
//	POST   /v1/policies/{app}/{entity}/pin            {"count":5,"for":"2h"}
//	DELETE /v1/policies/{app}/{entity}/pin
//	GET    /v1/policies/{app}/{entity}/history
//	GET    /v1/policies/{app}/{entity}/explain?last=N
//
// Errors are {"error": "..."} with 400 for an invalid policy or request and
// 404 for an unknown policy.
func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/policies", func(w http.ResponseWriter, r *http.Request) {
		list := e.List()
		if list == nil {
			list = []Status{}
		}
		api.WriteJSON(w, http.StatusOK, list)
	})
	mux.HandleFunc("POST /v1/policies/validate", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			writeErr(w, err)
			return
		}
		name := r.URL.Query().Get("filename")
		if name == "" {
			name = "policy"
		}
		_, err = policies.ParseBytes(name, body, r.URL.Query().Get("embedded") == "")
		resp := ValidateResponse{Valid: err == nil}
		if err != nil {
			resp.Errors = strings.Split(err.Error(), "\n")
		}
		api.WriteJSON(w, http.StatusOK, resp)
	})
	one := func(h func(w http.ResponseWriter, r *http.Request, app, entity, author string) (any, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			author := "api"
			if id, ok := auth.IdentityFrom(r.Context()); ok {
				author = id.Name
			}
			v, err := h(w, r, r.PathValue("app"), r.PathValue("entity"), author)
			if err != nil {
				writeErr(w, err)
				return
			}
			api.WriteJSON(w, http.StatusOK, v)
		}
	}
	mux.HandleFunc("GET /v1/policies/{app}/{entity}", one(func(w http.ResponseWriter, r *http.Request, app, entity, _ string) (any, error) {
		return e.Status(app, entity)
	}))
	mux.HandleFunc("PUT /v1/policies/{app}/{entity}", one(func(w http.ResponseWriter, r *http.Request, app, entity, author string) (any, error) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			return nil, err
		}
		return e.Replace(app, entity, author, body)
	}))
	mux.HandleFunc("DELETE /v1/policies/{app}/{entity}", one(func(w http.ResponseWriter, r *http.Request, app, entity, _ string) (any, error) {
		if _, err := e.get(app + "/" + entity); err != nil {
			return nil, err
		}
		e.Remove(app, entity)
		return map[string]string{"removed": app + "/" + entity}, nil
	}))
	mux.HandleFunc("POST /v1/policies/{app}/{entity}/set", one(func(w http.ResponseWriter, r *http.Request, app, entity, author string) (any, error) {
		var req SetRequest
		if err := decode(w, r, &req); err != nil {
			return nil, err
		}
		return e.Set(app, entity, author, req.Assignments...)
	}))
	for _, op := range []string{"pause", "resume"} {
		mux.HandleFunc("POST /v1/policies/{app}/{entity}/"+op, one(func(w http.ResponseWriter, r *http.Request, app, entity, author string) (any, error) {
			var err error
			if op == "pause" {
				err = e.Pause(app, entity, author)
			} else {
				err = e.Resume(app, entity, author)
			}
			if err != nil {
				return nil, err
			}
			return e.Status(app, entity)
		}))
	}
	mux.HandleFunc("POST /v1/policies/{app}/{entity}/pin", one(func(w http.ResponseWriter, r *http.Request, app, entity, author string) (any, error) {
		var req PinRequest
		if err := decode(w, r, &req); err != nil {
			return nil, err
		}
		d, err := time.ParseDuration(req.For)
		if err != nil || d <= 0 {
			return nil, errors.Join(ErrInvalid, errors.New("pin needs a positive duration, e.g. 2h"))
		}
		if _, err := e.PinCount(app, entity, req.Count, d, author); err != nil {
			return nil, err
		}
		return e.Status(app, entity)
	}))
	mux.HandleFunc("DELETE /v1/policies/{app}/{entity}/pin", one(func(w http.ResponseWriter, r *http.Request, app, entity, author string) (any, error) {
		if _, err := e.PinCount(app, entity, 0, 0, author); err != nil {
			return nil, err
		}
		return e.Status(app, entity)
	}))
	mux.HandleFunc("GET /v1/policies/{app}/{entity}/history", one(func(w http.ResponseWriter, r *http.Request, app, entity, _ string) (any, error) {
		return e.History(app, entity)
	}))
	mux.HandleFunc("GET /v1/policies/{app}/{entity}/explain", one(func(w http.ResponseWriter, r *http.Request, app, entity, _ string) (any, error) {
		n := 10
		if s := r.URL.Query().Get("last"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil {
				return nil, errors.Join(ErrInvalid, errors.New("last must be a number"))
			}
			n = v
		}
		return e.Explain(app, entity, n)
	}))
	return mux
}

// maxBodyBytes bounds a request body; a larger one is a 413, never read in
// part. A policy document's own bound (policies.MaxDocumentBytes) is lower.
const maxBodyBytes = 1 << 20

func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.Join(ErrInvalid, err)
	}
	return nil
}

func writeErr(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		code = http.StatusBadRequest
	}
	api.WriteError(w, err, code)
}
