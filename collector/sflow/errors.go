package sflow

import "strconv"

// Reasons a datagram fails to decode. They are stable snake_case strings,
// suitable as metric label values.
const (
	// ReasonTruncated: the data ends before a structure it declares.
	ReasonTruncated = "truncated"
	// ReasonBadVersion: the datagram version is not 5.
	ReasonBadVersion = "bad_version"
	// ReasonBadAddressType: an address type is not 0, 1 or 2.
	ReasonBadAddressType = "bad_address_type"
	// ReasonCountLimit: a count (samples, records, AS path, communities)
	// is larger than the remaining bytes could hold.
	ReasonCountLimit = "count_limit"
	// ReasonBadLength: a declared length is inconsistent: a record longer
	// than its sample, a header longer than its record, or a structure too
	// short for the fixed part of its known type.
	ReasonBadLength = "bad_length"
	// ReasonTrailingData: bytes remain after the last declared sample.
	// Reported only in Strict mode.
	ReasonTrailingData = "trailing_data"
)

// Reasons returns every Reason a DecodeError can carry, for pre-creating
// metric series.
func Reasons() []string {
	return []string{
		ReasonTruncated, ReasonBadVersion, ReasonBadAddressType,
		ReasonCountLimit, ReasonBadLength, ReasonTrailingData,
	}
}

// DecodeError reports malformed input. Reason is one of the Reason*
// constants; Offset is the byte offset in the datagram where the problem
// was found; Context names the structure being read (e.g. "flow_sample").
type DecodeError struct {
	Reason  string
	Offset  int
	Context string
}

// Error implements error.
func (e *DecodeError) Error() string {
	s := "sflow: " + e.Reason
	if e.Context != "" {
		s += " in " + e.Context
	}
	return s + " at offset " + strconv.Itoa(e.Offset)
}
