// Package api holds the orchestrator HTTP API's wire types: what elk
// server answers and the client sends. It imports no client SDK, so the
// CLI's client does not pull in the server's Nomad and Consul adapters.
package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/elk-project/elk/orchestrator"
)

// Error is an error answer: its JSON body ({"error": "..."}) and, on the
// client side, the HTTP status it came with.
type Error struct {
	Status  int    `json:"-"`
	Message string `json:"error"`
}

func (e *Error) Error() string { return e.Message }

// ErrNotFound is matched (errors.Is) by 404 answers.
var ErrNotFound = errors.New("not found")

// Is makes 404 answers match ErrNotFound.
func (e *Error) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// DeployLine is one line of a streamed deploy (application/x-ndjson): a
// progress event, the final result, or the error that ended it.
type DeployLine struct {
	Event  *orchestrator.Event  `json:"event,omitempty"`
	Result *orchestrator.Result `json:"result,omitempty"`
	Error  string               `json:"error,omitempty"`
	// Status is the HTTP status the error would have had unstreamed.
	Status int `json:"status,omitempty"`
}

// FilenameHeader names the blueprint file for error positions.
const FilenameHeader = "X-Elk-Filename"

// ScaleRequest asks for an entity's count.
type ScaleRequest struct {
	Count  int    `json:"count"`
	Reason string `json:"reason,omitempty"`
}

// ScaleResponse answers a scale request.
type ScaleResponse struct {
	App    string `json:"app"`
	Entity string `json:"entity"`
	Count  int    `json:"count"`
}

// UndeployResponse answers an undeploy.
type UndeployResponse struct {
	App     string   `json:"app"`
	Removed []string `json:"removed"`
}

// WriteJSON answers v as JSON with code. v is encoded before the header is
// written, so a value that cannot be encoded is a 500 with a body, never
// an empty 200.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code = http.StatusInternalServerError
		body, _ = json.Marshal(Error{Message: "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

// WriteError answers err as an Error with code, or with 413 when err is a
// request body over its limit (http.MaxBytesReader).
func WriteError(w http.ResponseWriter, err error, code int) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		code = http.StatusRequestEntityTooLarge
	}
	WriteJSON(w, code, Error{Message: err.Error()})
}
