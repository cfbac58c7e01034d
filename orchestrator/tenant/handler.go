package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/elk-project/elk/orchestrator/api"
	"github.com/elk-project/elk/orchestrator/auth"
)

// MaxBodyBytes bounds a tenant definition in a request.
const MaxBodyBytes = 1 << 20

// Handler serves the tenant records:
//
//	GET    /v1/tenants               every tenant, by name
//	POST   /v1/tenants               create (body: a Tenant); 201
//	GET    /v1/tenants/{name}        one, with its history
//	PUT    /v1/tenants/{name}        replace (?version=N: only if still at N)
//	DELETE /v1/tenants/{name}        remove the record
//
// The author of a change is the request's token identity. changed, if set,
// is called after every change that was stored.
func Handler(s *Store, changed func(context.Context)) http.Handler {
	mux := http.NewServeMux()
	notify := func(r *http.Request, err error) {
		if err == nil && changed != nil {
			changed(r.Context())
		}
	}
	reply := func(w http.ResponseWriter, code int, v any, err error) {
		if err != nil {
			api.WriteError(w, err, statusOf(err))
			return
		}
		api.WriteJSON(w, code, v)
	}
	author := func(r *http.Request) string {
		if id, ok := auth.IdentityFrom(r.Context()); ok {
			return id.Name
		}
		return "api"
	}
	decode := func(w http.ResponseWriter, r *http.Request) (Tenant, error) {
		var t Tenant
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&t); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return t, err
			}
			return t, fmt.Errorf("%w: decode tenant: %w", ErrInvalid, err)
		}
		return t, nil
	}
	mux.HandleFunc("GET /v1/tenants", func(w http.ResponseWriter, r *http.Request) {
		list, err := s.List(r.Context())
		reply(w, http.StatusOK, list, err)
	})
	mux.HandleFunc("POST /v1/tenants", func(w http.ResponseWriter, r *http.Request) {
		t, err := decode(w, r)
		var rec *Record
		if err == nil {
			rec, err = s.Create(r.Context(), t, author(r))
		}
		notify(r, err)
		reply(w, http.StatusCreated, rec, err)
	})
	mux.HandleFunc("GET /v1/tenants/{name}", func(w http.ResponseWriter, r *http.Request) {
		rec, err := s.Get(r.Context(), r.PathValue("name"))
		reply(w, http.StatusOK, rec, err)
	})
	mux.HandleFunc("PUT /v1/tenants/{name}", func(w http.ResponseWriter, r *http.Request) {
		t, err := decode(w, r)
		version := 0
		if v := r.URL.Query().Get("version"); v != "" && err == nil {
			if version, err = strconv.Atoi(v); err != nil {
				err = fmt.Errorf("%w: version %q is not a number", ErrInvalid, v)
			}
		}
		if err == nil && t.Name != r.PathValue("name") {
			err = fmt.Errorf("%w: the body names tenant %q, the path %q", ErrInvalid, t.Name, r.PathValue("name"))
		}
		var rec *Record
		if err == nil {
			rec, err = s.Update(r.Context(), t, version, author(r))
		}
		notify(r, err)
		reply(w, http.StatusOK, rec, err)
	})
	mux.HandleFunc("DELETE /v1/tenants/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		err := s.Delete(r.Context(), name)
		notify(r, err)
		reply(w, http.StatusOK, map[string]string{"removed": name}, err)
	})
	return mux
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrExists), errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}
