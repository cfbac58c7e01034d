package output

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	two := 2
	for _, tc := range []struct {
		in   string
		want Spec
		str  string // String(), when it differs from in
	}{
		{in: "file:/tmp/x.ndjson", want: Spec{Kind: File, Path: "/tmp/x.ndjson"}},
		{in: "file:rel/x", want: Spec{Kind: File, Path: "rel/x"}},
		{in: "stdout", want: Spec{Kind: Stdout}},
		{in: "-", want: Spec{Kind: Stdout}, str: "stdout"},
		{in: "kafka:127.0.0.1:9092/flows", want: Spec{Kind: Kafka, Brokers: []string{"127.0.0.1:9092"}, Topic: "flows"}},
		{in: "kafka:a:1, b:2/t", want: Spec{Kind: Kafka, Brokers: []string{"a:1", "b:2"}, Topic: "t"}, str: "kafka:a:1,b:2/t"},
		{in: "elasticsearch:http://127.0.0.1:9200", want: Spec{Kind: Elasticsearch, URL: "http://127.0.0.1:9200"}},
		{in: "es:https://es:9200", want: Spec{Kind: Elasticsearch, URL: "https://es:9200"}, str: "elasticsearch:https://es:9200"},
		{
			in: "elasticsearch:https://elastic:s3cret@es:9200?spool=/var/lib/elk/spool&index_prefix=sflow&workers=4&flush_interval=250ms&replicas=2&close_grace=3s&spool_max_bytes=10&ca_file=/ca.pem&flush_bytes=5&max_in_flight=7",
			want: Spec{Kind: Elasticsearch, URL: "https://elastic:s3cret@es:9200", ES: ESOptions{Spool: "/var/lib/elk/spool", IndexPrefix: "sflow",
				Workers: 4, FlushInterval: 250 * time.Millisecond, Replicas: &two, CloseGrace: 3 * time.Second, SpoolMaxBytes: 10,
				CAFile: "/ca.pem", FlushBytes: 5, MaxInFlight: 7}},
			str: "elasticsearch:https://elastic:s3cret@es:9200?ca_file=%2Fca.pem&close_grace=3s&flush_bytes=5&flush_interval=250ms&index_prefix=sflow&max_in_flight=7&replicas=2&spool=%2Fvar%2Flib%2Felk%2Fspool&spool_max_bytes=10&workers=4",
		},
		{in: "elasticsearch:http://es:9200?spool=off", want: Spec{Kind: Elasticsearch, URL: "http://es:9200", ES: ESOptions{Spool: SpoolOff}}},
	} {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got.String() != tc.want.String() || got.Kind != tc.want.Kind || got.URL != tc.want.URL || got.Path != tc.want.Path {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		if (got.ES.Replicas == nil) != (tc.want.ES.Replicas == nil) || got.ES.Replicas != nil && *got.ES.Replicas != *tc.want.ES.Replicas {
			t.Errorf("Parse(%q): replicas %v, want %v", tc.in, got.ES.Replicas, tc.want.ES.Replicas)
		}
		str := tc.str
		if str == "" {
			str = tc.in
		}
		if got.String() != str {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got.String(), str)
		}
		back, err := Parse(got.String())
		if err != nil || back.String() != got.String() {
			t.Errorf("round trip of %q: %q, %v", tc.in, back.String(), err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for in, want := range map[string]string{
		"file:":                                  "want file:PATH",
		"stdout:x":                               "stdout takes no argument",
		"kafak:x/y":                              `unknown kind "kafak"`,
		"kafka:broker":                           "want BROKER[,BROKER]/TOPIC",
		"kafka:/t":                               "want BROKER",
		"kafka:a:9092/":                          "want BROKER",
		"kafka: , /t":                            "no broker",
		"elasticsearch:es:9200":                  "want http(s)://HOST:PORT",
		"elasticsearch:http://es:9200?spol=/x":   `unknown option "spol"`,
		"elasticsearch:http://es:9200?workers=x": `workers="x": not a number`,
		"elasticsearch:http://es?close_grace=soon&workers=-1": "close_grace", // every problem at once
		"elasticsearch:http://u:s3cret@es:9200?bogus=1":       "REDACTED",
		"elasticsearch:http://u:s3cret@es:9200?spool=":        "want a directory or off",
		"elasticsearch:http://u:s3cret@%zz":                   "REDACTED",
	} {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", in, err, want)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Parse(%q): the error shows the password: %v", in, err)
		}
	}
	_, err := Parse("elasticsearch:http://es?close_grace=soon&workers=-1")
	if err == nil || !strings.Contains(err.Error(), "workers") {
		t.Errorf("not every problem reported: %v", err)
	}
}

func TestCredentials(t *testing.T) {
	s, err := Parse("elasticsearch:https://elk:pw@es:9200?index_prefix=x")
	if err != nil {
		t.Fatal(err)
	}
	if u, p, ok := s.Credentials(); !ok || u != "elk" || p != "pw" {
		t.Errorf("Credentials = %q %q %v", u, p, ok)
	}
	if r := s.Redacted(); strings.Contains(r, "pw@") || !strings.Contains(r, "REDACTED@es:9200") {
		t.Errorf("Redacted = %q", r)
	}
	if w := s.WithoutCredentials().String(); w != "elasticsearch:https://es:9200?index_prefix=x" {
		t.Errorf("WithoutCredentials = %q", w)
	}
	if _, _, ok := (Spec{Kind: Kafka}).Credentials(); ok {
		t.Error("a kafka output has credentials")
	}
}

func TestRef(t *testing.T) {
	for in, want := range map[string][3]string{
		"kafka:broker":             {"kafka", "broker", ""},
		"kafka:broker/raw":         {"kafka", "broker", "raw"},
		"elasticsearch:es":         {"elasticsearch", "es", ""},
		"es:search":                {"elasticsearch", "search", ""},
		"kafka:10.0.0.1:9092/t":    {},
		"kafka:a,b/t":              {},
		"elasticsearch:http://es":  {},
		"elasticsearch:es.example": {},
		"file:x":                   {},
		"stdout":                   {},
	} {
		k, e, topic, ok := Ref(in)
		if ok != (want[0] != "") || string(k) != want[0] || e != want[1] || topic != want[2] {
			t.Errorf("Ref(%q) = %q %q %q %v, want %v", in, k, e, topic, ok, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"file:x", "stdout", "kafka:a:1/t", "elasticsearch:http://u:p@h:9200?workers=2&spool=off"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(in)
		if err != nil {
			return
		}
		back, err := Parse(s.String())
		if err != nil || back.String() != s.String() {
			t.Fatalf("%q: String %q does not parse back the same: %q, %v", in, s.String(), back.String(), err)
		}
	})
}
