package elasticsearch

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// ecsFieldsCSV is the ECS field table (Indexed,Field_Set,Field,Type,...) for
// the field sets elk writes.
//
//go:embed ecs-fields.csv
var ecsFieldsCSV string

// fieldMapping is one Elasticsearch field mapping.
type fieldMapping map[string]any

// portableType maps an ECS type to one every supported engine knows
// (Elasticsearch 7 without x-pack, OpenSearch 2): match_only_text and the
// x-pack-only types fall back to their nearest core type.
func portableType(ecsType string) fieldMapping {
	switch ecsType {
	case "match_only_text":
		return fieldMapping{"type": "text", "norms": false}
	case "constant_keyword", "wildcard":
		return fieldMapping{"type": "keyword", "ignore_above": 1024}
	case "keyword":
		return fieldMapping{"type": "keyword", "ignore_above": 1024}
	case "flattened":
		return fieldMapping{"type": "object", "enabled": false}
	case "unsigned_long":
		return fieldMapping{"type": "long"}
	case "object":
		return fieldMapping{"type": "object"}
	default:
		return fieldMapping{"type": ecsType}
	}
}

// sflowFields are elk's vendor fields, outside ECS.
var sflowFields = map[string]string{
	"sflow.agent.sub_id":              "long",
	"sflow.agent.uptime_ms":           "long",
	"sflow.datagram.sequence":         "long",
	"sflow.sample.type":               "keyword",
	"sflow.sample.sequence":           "long",
	"sflow.sample.source_id_type":     "long",
	"sflow.sample.source_id_index":    "long",
	"sflow.sampling_rate":             "long",
	"sflow.sample_pool":               "long",
	"sflow.drops":                     "long",
	"sflow.output.format":             "long",
	"sflow.output.discard_reason":     "long",
	"sflow.output.count":              "long",
	"sflow.header.protocol":           "keyword",
	"sflow.header.frame_length":       "long",
	"sflow.header.stripped":           "long",
	"sflow.header.size":               "long",
	"sflow.ip.tos":                    "long",
	"sflow.ip.dscp":                   "long",
	"sflow.ip.ecn":                    "long",
	"sflow.ip.ttl":                    "long",
	"sflow.router.next_hop":           "ip",
	"sflow.router.src_mask":           "long",
	"sflow.router.dst_mask":           "long",
	"sflow.gateway.next_hop":          "ip",
	"sflow.gateway.as":                "long",
	"sflow.gateway.src_peer_as":       "long",
	"sflow.gateway.as_path":           "long",
	"sflow.gateway.communities":       "keyword",
	"sflow.gateway.local_pref":        "long",
	"sflow.records":                   "keyword",
	"sflow.counters.delta_seconds":    "double",
	"sflow.counters.discontinuity":    "boolean",
	"sflow.counters.if.index":         "long",
	"sflow.counters.if.type":          "long",
	"sflow.counters.if.speed":         "long",
	"sflow.counters.if.direction":     "long",
	"sflow.counters.if.admin_up":      "boolean",
	"sflow.counters.if.oper_up":       "boolean",
	"sflow.counters.if.promiscuous":   "boolean",
	"sflow.counters.if.in_bps":        "double",
	"sflow.counters.if.out_bps":       "double",
	"sflow.counters.if.in_octets":     "long",
	"sflow.counters.if.out_octets":    "long",
	"sflow.counters.if.in_ucast_pkts": "long",
}

func init() {
	// Host sFlow: ECS host metrics and the raw records. Fractions and rates
	// are doubles, so the first document's value (say 25) cannot make a
	// field long and truncate later ones.
	for name, typ := range map[string]string{
		"host.uptime": "long", "host.cpu.usage": "double",
		"host.network.ingress.bytes": "long", "host.network.ingress.packets": "long",
		"host.network.egress.bytes": "long", "host.network.egress.packets": "long",
		"host.disk.read.bytes": "long", "host.disk.write.bytes": "long",
		"sflow.counters.host.cpu.load_1": "double", "sflow.counters.host.cpu.load_5": "double",
		"sflow.counters.host.cpu.load_15": "double", "sflow.counters.host.cpu.usage_pct": "double",
		"sflow.counters.host.disk.part_max_used_pct": "double",
	} {
		sflowFields[name] = typ
	}
	for _, n := range []string{"user", "nice", "system", "idle", "wait_io", "intr", "soft_intr", "steal"} {
		sflowFields["sflow.counters.host.cpu.ms_per_s."+n] = "double"
	}
	for _, n := range []string{"read_bytes_ps", "write_bytes_ps", "reads_ps", "writes_ps"} {
		sflowFields["sflow.counters.host.disk."+n] = "double"
	}
	for _, n := range []string{"in_bps", "out_bps", "in_pps", "out_pps", "in_errors_ps", "out_errors_ps", "in_drops_ps", "out_drops_ps"} {
		sflowFields["sflow.counters.host.net."+n] = "double"
	}

	// sflow.tunnel.{egress,ingress}: the tunnel records.
	for _, side := range []string{"egress", "ingress"} {
		p := "sflow.tunnel." + side + "."
		for name, typ := range map[string]string{
			"vni": "long", "decap_offset": "long",
			"ip.src": "ip", "ip.dst": "ip", "ip.protocol": "long", "ip.src_port": "long", "ip.dst_port": "long", "ip.length": "long",
			"ethernet.src_mac": "keyword", "ethernet.dst_mac": "keyword", "ethernet.type": "long",
		} {
			sflowFields[p+name] = typ
		}
	}
}

// buildMappings returns the "mappings" object of the index template: ECS
// fields from the embedded table, elk's sflow.* fields, and dynamic templates
// that keep unknown strings as keywords.
func buildMappings() (map[string]any, error) {
	rows, err := csv.NewReader(strings.NewReader(ecsFieldsCSV)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("reading ECS field table: %w", err)
	}
	root := map[string]any{}
	for i, row := range rows {
		if i == 0 || len(row) < 4 {
			continue
		}
		indexed, name, typ := row[0] == "true", row[2], row[3]
		m := portableType(typ)
		if !indexed && typ != "object" {
			m["index"] = false
			m["doc_values"] = false
		}
		if err := addField(root, name, m); err != nil {
			return nil, err
		}
	}
	for name, typ := range sflowFields {
		if err := addField(root, name, portableType(typ)); err != nil {
			return nil, err
		}
	}
	return map[string]any{
		"date_detection": false,
		"dynamic_templates": []any{
			map[string]any{"labels_as_keywords": map[string]any{
				"path_match": "labels.*", "match_mapping_type": "string",
				"mapping": map[string]any{"type": "keyword", "ignore_above": 1024},
			}},
			map[string]any{"strings_as_keywords": map[string]any{
				"match_mapping_type": "string",
				"mapping":            map[string]any{"type": "keyword", "ignore_above": 1024},
			}},
		},
		"properties": root,
	}, nil
}

// addField places a dotted field name into nested properties. A name whose
// parent is a leaf field (x.text under keyword x) becomes a multi-field.
func addField(root map[string]any, name string, m fieldMapping) error {
	parts := strings.Split(name, ".")
	props := root
	for i, p := range parts[:len(parts)-1] {
		node, ok := props[p].(fieldMapping)
		if !ok {
			node = fieldMapping{"type": "object"}
			props[p] = node
		}
		if t, _ := node["type"].(string); t != "object" {
			// Leaf parent: the rest of the name is a multi-field.
			if i != len(parts)-2 {
				return fmt.Errorf("field %q: cannot nest under leaf %q", name, strings.Join(parts[:i+1], "."))
			}
			fields, _ := node["fields"].(map[string]any)
			if fields == nil {
				fields = map[string]any{}
				node["fields"] = fields
			}
			fields[parts[len(parts)-1]] = m
			return nil
		}
		sub, _ := node["properties"].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
			node["properties"] = sub
		}
		props = sub
	}
	leaf := parts[len(parts)-1]
	if existing, ok := props[leaf].(fieldMapping); ok && existing["type"] == "object" && m["type"] == "object" {
		return nil
	}
	if existing, ok := props[leaf].(fieldMapping); ok && existing["type"] == "object" {
		return fmt.Errorf("field %q: already an object", name)
	}
	props[leaf] = m
	return nil
}

// templateBody is the legacy (_template) index template for every index the
// sink writes; Elasticsearch 7+ and OpenSearch accept it.
func templateBody(prefix string, replicas *int) ([]byte, error) {
	mappings, settings, err := templateParts(replicas)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"index_patterns": templatePatterns(prefix),
		"order":          10,
		"settings":       settings,
		"mappings":       mappings,
		"version":        templateVersion,
	})
}

// composableTemplateBody is the same template for the _index_template API
// (Elasticsearch 7.8+, OpenSearch), which takes precedence over legacy ones.
func composableTemplateBody(prefix string, replicas *int) ([]byte, error) {
	mappings, settings, err := templateParts(replicas)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"index_patterns": templatePatterns(prefix),
		"priority":       100,
		"template":       map[string]any{"settings": settings, "mappings": mappings},
		"version":        templateVersion,
		"_meta":          map[string]any{"managed_by": "elk"},
	})
}

func templatePatterns(prefix string) []string {
	return []string{prefix + "-flow-*", prefix + "-counters-*", prefix + "-discards-*", prefix + "-other-*"}
}

func templateParts(replicas *int) (mappings, settings map[string]any, err error) {
	mappings, err = buildMappings()
	if err != nil {
		return nil, nil, err
	}
	settings = map[string]any{
		"index.refresh_interval":           "1s",
		"index.mapping.total_fields.limit": 2000,
	}
	if replicas != nil {
		settings["index.number_of_replicas"] = *replicas
	} else {
		// One replica where there is a second node, none on a single node
		// (which would otherwise stay yellow).
		settings["index.auto_expand_replicas"] = "0-1"
	}
	return mappings, settings, nil
}

// templateVersion changes whenever the mappings change, so an older
// template is replaced.
const templateVersion = 1

// installTemplates puts the index template covering every index the sink
// writes: a composable one (_index_template, Elasticsearch 7.8+ and
// OpenSearch) or, where that API is missing, a legacy one. It is idempotent.
func (s *Sink) installTemplates(ctx context.Context) error {
	body, err := composableTemplateBody(s.cfg.IndexPrefix, s.cfg.Replicas)
	if err != nil {
		return err
	}
	res, err := esapi.IndicesPutIndexTemplateRequest{
		Name: s.cfg.IndexPrefix,
		Body: bytes.NewReader(body),
	}.Do(ctx, s.client)
	if err != nil {
		return fmt.Errorf("installing index template: %w", err)
	}
	res.Body.Close()
	if !res.IsError() {
		s.m.templateInits.Inc()
		return nil
	}
	if res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
		return fmt.Errorf("installing index template: %s", res.Status())
	}
	// No composable templates (before 7.8): the legacy API.
	body, err = templateBody(s.cfg.IndexPrefix, s.cfg.Replicas)
	if err != nil {
		return err
	}
	res, err = esapi.IndicesPutTemplateRequest{
		Name: s.cfg.IndexPrefix,
		Body: bytes.NewReader(body),
	}.Do(ctx, s.client)
	if err != nil {
		return fmt.Errorf("installing index template: %w", err)
	}
	defer res.Body.Close()
	if res.IsError() {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
		return fmt.Errorf("installing index template: %s: %s", res.Status(), msg)
	}
	s.m.templateInits.Inc()
	return nil
}
