package nomad

import (
	"fmt"

	"github.com/hashicorp/nomad/api"
)

// diffLines flattens a job plan diff into "+/-/~ path: old => new" lines.
func diffLines(d *api.JobDiff) []string {
	var out []string
	if d.Type == "None" {
		return nil
	}
	prefix := "job " + d.ID
	fields(&out, prefix, d.Fields)
	objects(&out, prefix, d.Objects)
	for _, tg := range d.TaskGroups {
		if tg.Type == "None" {
			continue
		}
		p := prefix + " group " + tg.Name
		if tg.Type == "Added" || tg.Type == "Deleted" {
			out = append(out, mark(tg.Type)+" "+p)
		}
		fields(&out, p, tg.Fields)
		objects(&out, p, tg.Objects)
		for _, t := range tg.Tasks {
			if t.Type == "None" {
				continue
			}
			tp := p + " task " + t.Name
			if t.Type == "Added" || t.Type == "Deleted" {
				out = append(out, mark(t.Type)+" "+tp)
			}
			fields(&out, tp, t.Fields)
			objects(&out, tp, t.Objects)
		}
	}
	if len(out) == 0 && d.Type == "Added" {
		out = append(out, "+ "+prefix)
	}
	return out
}

func mark(typ string) string {
	switch typ {
	case "Added":
		return "+"
	case "Deleted":
		return "-"
	}
	return "~"
}

func fields(out *[]string, prefix string, fs []*api.FieldDiff) {
	for _, f := range fs {
		if f.Type == "None" {
			continue
		}
		*out = append(*out, fmt.Sprintf("%s %s.%s: %q => %q", mark(f.Type), prefix, f.Name, f.Old, f.New))
	}
}

func objects(out *[]string, prefix string, os []*api.ObjectDiff) {
	for _, o := range os {
		if o.Type == "None" {
			continue
		}
		p := prefix + "." + o.Name
		fields(out, p, o.Fields)
		objects(out, p, o.Objects)
	}
}
