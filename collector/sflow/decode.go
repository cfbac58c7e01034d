package sflow

// Decoder decodes sFlow v5 datagrams. The zero value is ready to use. A
// Decoder holds no per-datagram state, but it is not meant to be shared
// between goroutines that change its options; give each worker its own.
type Decoder struct {
	// SkipHeaderParsing leaves the parsed fields of raw header records
	// (RawHeader.Parsed and after) empty; the header bytes are still copied.
	SkipHeaderParsing bool
	// Strict makes trailing bytes after the last sample an error
	// (ReasonTrailingData). By default they are ignored.
	Strict bool
}

// Decode decodes the datagram b into dg, which it resets first and whose
// slices it reuses: in steady state Decode allocates nothing. dg does not
// alias b (header bytes are copied). On malformed input it returns a
// *DecodeError; dg then holds what was decoded before the error.
func (d *Decoder) Decode(b []byte, dg *Datagram) error {
	dg.Reset()
	return &DecodeError{Reason: ReasonTruncated, Context: "not implemented"}
}
