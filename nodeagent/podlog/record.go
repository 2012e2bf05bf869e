package podlog

import (
	"bytes"
	"time"
)

// logRecord is one line of a CRI log file.
type logRecord struct {
	time    time.Time
	stream  string
	partial bool
	content []byte
}

// AppendRecord appends one CRI log record to b, as the runtime writes it
// (for tests and tools that write logs).
func AppendRecord(b []byte, t time.Time, stream string, partial bool, content []byte) []byte {
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, stream...)
	if partial {
		b = append(b, " P "...)
	} else {
		b = append(b, " F "...)
	}
	b = append(b, content...)
	return append(b, '\n')
}

// parseRecord parses one line without its newline. A line that is not a
// record is returned whole as a stdout line, so nothing is lost.
func parseRecord(line []byte) logRecord {
	f := bytes.SplitN(line, []byte{' '}, 4)
	if len(f) == 4 && len(f[2]) == 1 && (f[2][0] == 'F' || f[2][0] == 'P') {
		if t, err := time.Parse(time.RFC3339Nano, string(f[0])); err == nil {
			return logRecord{time: t, stream: string(f[1]), partial: f[2][0] == 'P', content: f[3]}
		}
	}
	return logRecord{stream: "stdout", content: line}
}
