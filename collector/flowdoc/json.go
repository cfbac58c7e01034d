package flowdoc

import (
	"math"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/elk-project/elk/collector/sflow"
)

// The helpers below append JSON values (keys are literal strings at the
// call sites); callers place the commas.

// appendString appends s as a JSON string, escaping as needed.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\t':
				b = append(b, '\\', 't')
			case '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendUint(b []byte, v uint64) []byte { return strconv.AppendUint(b, v, 10) }

// appendQuotedUint appends v as a JSON string (ECS keyword fields such as
// interface and VLAN ids).
func appendQuotedUint(b []byte, v uint64) []byte {
	b = append(b, '"')
	b = strconv.AppendUint(b, v, 10)
	return append(b, '"')
}

// appendCounter32 appends a 32-bit counter, null when unknown (all ones).
func appendCounter32(b []byte, v uint32) []byte {
	if v == sflow.Unknown32 {
		return append(b, "null"...)
	}
	return strconv.AppendUint(b, uint64(v), 10)
}

// appendCounter64 appends a 64-bit counter, null when unknown (all ones).
func appendCounter64(b []byte, v uint64) []byte {
	if v == sflow.Unknown64 {
		return append(b, "null"...)
	}
	return strconv.AppendUint(b, v, 10)
}

// appendFloat appends a finite float with up to 3 decimals.
// appendFloat appends f, or null when it is NaN or infinite (JSON has no
// such numbers; a host's load average comes off the wire as a float).
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

func appendIP(b []byte, a netip.Addr) []byte {
	b = append(b, '"')
	b = a.Unmap().AppendTo(b)
	return append(b, '"')
}

// appendMAC appends a MAC in ECS form: uppercase, hyphen-separated.
func appendMAC(b []byte, m sflow.MAC) []byte {
	const hex = "0123456789ABCDEF"
	b = append(b, '"')
	for i, v := range m {
		if i > 0 {
			b = append(b, '-')
		}
		b = append(b, hex[v>>4], hex[v&0xf])
	}
	return append(b, '"')
}

// appendTime appends t in UTC with millisecond precision.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	return append(b, '"')
}

func appendFormat(b []byte, f sflow.DataFormat) []byte {
	b = append(b, '"')
	b = strconv.AppendUint(b, uint64(f.Enterprise()), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(f.Format()), 10)
	return append(b, '"')
}
