package blueprints

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Pos is a position in a blueprint file.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Error is one problem found in a blueprint, at a position.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Errors returns the positioned errors contained in err (a single *Error or
// an errors.Join of them), in the order they were found.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		var e *Error
		if errors.As(err, &e) && e == err {
			out = append(out, e)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if errors.As(err, &e) {
			out = append(out, e)
		}
	}
	walk(err)
	return out
}

// errs collects positioned errors while a file is walked.
type errs struct {
	file string
	list []error
}

func (w *errs) pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: w.file, Line: 1, Col: 1}
	}
	return Pos{File: w.file, Line: n.Line, Col: n.Column}
}

func (w *errs) at(n *yaml.Node, format string, args ...any) {
	w.list = append(w.list, &Error{Pos: w.pos(n), Msg: fmt.Sprintf(format, args...)})
}

// err joins the collected errors, positioned ones first in file order.
func (w *errs) err() error {
	sort.SliceStable(w.list, func(i, j int) bool {
		a, aok := w.list[i].(*Error)
		b, bok := w.list[j].(*Error)
		switch {
		case aok && bok:
			return a.Pos.Line < b.Pos.Line || (a.Pos.Line == b.Pos.Line && a.Pos.Col < b.Pos.Col)
		default:
			return aok && !bok
		}
	})
	return errors.Join(w.list...)
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError positions an error from the YAML parser. The parser reports
// only a line, often the line where the enclosing construct began; the
// first line at or after it where the document stops parsing is the line
// at fault, and its first non-blank character the column.
func yamlError(file string, data []byte, err error) error {
	msg := err.Error()
	line := 1
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	col := 1
	lines := strings.SplitAfter(string(data), "\n")
	if len(data) <= maxRefineBytes && line >= 1 {
		for n := line; n <= len(lines) && n < line+maxRefineLines; n++ {
			var v yaml.Node
			if yaml.Unmarshal([]byte(strings.Join(lines[:n], "")), &v) != nil {
				line = n
				col = 1 + len(lines[n-1]) - len(strings.TrimLeft(lines[n-1], " \t"))
				break
			}
		}
	}
	return &Error{Pos: Pos{File: file, Line: line, Col: col}, Msg: "invalid YAML: " + msg}
}

// Locating a YAML error re-parses prefixes of the file: at most
// maxRefineLines of them, in files of at most maxRefineBytes.
const (
	maxRefineLines = 100
	maxRefineBytes = 64 << 10
)
