package ledger

import (
	"strconv"
	"unicode/utf8"
)

// This file holds a small strict JSON parser that behaves like serde_json
// 1.0.87's from_slice: RFC 8259 syntax only, UTF-8 validated, lone
// surrogate escapes and raw control characters rejected, nesting limited to
// 128 levels, nothing but whitespace after the value. It produces a tree
// (jval) that keeps object members in input order (duplicates included) and
// numbers as their raw text, so the typed decoders can apply serde's exact
// rules (u64 range, integer-vs-float, duplicate struct fields, ...).

type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

// jval is one parsed JSON value.
type jval struct {
	kind  jkind
	b     bool   // jBool
	s     string // jString: decoded text; jNumber: raw text
	off   int    // byte offset of the value's first byte
	end   int    // byte offset just past the value
	elems []jval // jArray
	mems  []jmem // jObject, in input order
}

type jmem struct {
	key    string
	keyOff int
	val    jval
}

const maxDepth = 128

type parser struct {
	src   []byte
	pos   int
	depth int
	buf   []byte // scratch for escaped strings
	// Scratch stacks: members/elements of the containers being parsed
	// are collected here and copied out once, at their exact size.
	memStack  []jmem
	elemStack []jval
}

// parseJSON parses exactly one JSON value surrounded by optional whitespace.
func parseJSON(src []byte) (jval, error) {
	p := parser{src: src}
	p.skipWS()
	v, err := p.value()
	if err != nil {
		return jval{}, err
	}
	p.skipWS()
	if p.pos < len(p.src) {
		return jval{}, p.syntax(p.pos, "trailing characters")
	}
	return v, nil
}

func (p *parser) syntax(off int, msg string) error {
	return newJSONError(p.src, off, JSONSyntax, msg)
}

func (p *parser) eof(what string) error {
	return newJSONError(p.src, len(p.src), JSONEOF, "EOF while parsing "+what)
}

func (p *parser) skipWS() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value() (jval, error) {
	if p.pos >= len(p.src) {
		return jval{}, p.eof("a value")
	}
	start := p.pos
	switch c := p.src[p.pos]; {
	case c == 'n':
		if err := p.ident("null"); err != nil {
			return jval{}, err
		}
		return jval{kind: jNull, off: start, end: p.pos}, nil
	case c == 't':
		if err := p.ident("true"); err != nil {
			return jval{}, err
		}
		return jval{kind: jBool, b: true, off: start, end: p.pos}, nil
	case c == 'f':
		if err := p.ident("false"); err != nil {
			return jval{}, err
		}
		return jval{kind: jBool, off: start, end: p.pos}, nil
	case c == '"':
		s, err := p.str()
		if err != nil {
			return jval{}, err
		}
		return jval{kind: jString, s: s, off: start, end: p.pos}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		if err := p.number(); err != nil {
			return jval{}, err
		}
		return jval{kind: jNumber, s: string(p.src[start:p.pos]), off: start, end: p.pos}, nil
	case c == '[':
		return p.array()
	case c == '{':
		return p.object()
	}
	return jval{}, p.syntax(start, "expected value")
}

func (p *parser) ident(word string) error {
	for i := 0; i < len(word); i++ {
		if p.pos >= len(p.src) {
			return p.eof("a value")
		}
		if p.src[p.pos] != word[i] {
			if i == 0 {
				return p.syntax(p.pos, "expected value")
			}
			return p.syntax(p.pos, "expected ident")
		}
		p.pos++
	}
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (p *parser) number() error {
	if p.src[p.pos] == '-' {
		p.pos++
	}
	if p.pos >= len(p.src) {
		return p.eof("a value")
	}
	switch c := p.src[p.pos]; {
	case c == '0':
		p.pos++
		if p.pos < len(p.src) && isDigit(p.src[p.pos]) {
			return p.syntax(p.pos, "invalid number")
		}
	case isDigit(c):
		for p.pos < len(p.src) && isDigit(p.src[p.pos]) {
			p.pos++
		}
	default:
		return p.syntax(p.pos, "invalid number")
	}
	if p.pos < len(p.src) && p.src[p.pos] == '.' {
		p.pos++
		n := 0
		for p.pos < len(p.src) && isDigit(p.src[p.pos]) {
			p.pos++
			n++
		}
		if n == 0 {
			if p.pos >= len(p.src) {
				return p.eof("a value")
			}
			return p.syntax(p.pos, "invalid number")
		}
	}
	if p.pos < len(p.src) && (p.src[p.pos] == 'e' || p.src[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.src) && (p.src[p.pos] == '+' || p.src[p.pos] == '-') {
			p.pos++
		}
		n := 0
		for p.pos < len(p.src) && isDigit(p.src[p.pos]) {
			p.pos++
			n++
		}
		if n == 0 {
			if p.pos >= len(p.src) {
				return p.eof("a value")
			}
			return p.syntax(p.pos, "invalid number")
		}
	}
	return nil
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func (p *parser) hex4() (rune, error) {
	if p.pos+4 > len(p.src) {
		p.pos = len(p.src)
		return 0, p.eof("a string")
	}
	var r rune
	for i := 0; i < 4; i++ {
		h := hexVal(p.src[p.pos+i])
		if h < 0 {
			return 0, p.syntax(p.pos+i, "invalid escape")
		}
		r = r<<4 | rune(h)
	}
	p.pos += 4
	return r, nil
}

// str parses a string starting at the opening quote.
func (p *parser) str() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	// Fast path: no escapes.
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '"' {
			raw := p.src[start:p.pos]
			if !utf8.Valid(raw) {
				return "", p.syntax(start, "invalid unicode code point")
			}
			p.pos++
			return string(raw), nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.syntax(p.pos, `control character (\u0000-\u001F) found while parsing a string`)
		}
		p.pos++
	}
	if p.pos >= len(p.src) {
		return "", p.eof("a string")
	}
	buf := append(p.buf[:0], p.src[start:p.pos]...)
	chunk := p.pos
	for {
		if p.pos >= len(p.src) {
			return "", p.eof("a string")
		}
		c := p.src[p.pos]
		switch {
		case c == '"':
			if !utf8.Valid(p.src[chunk:p.pos]) {
				return "", p.syntax(chunk, "invalid unicode code point")
			}
			buf = append(buf, p.src[chunk:p.pos]...)
			p.pos++
			p.buf = buf
			return string(buf), nil
		case c < 0x20:
			return "", p.syntax(p.pos, `control character (\u0000-\u001F) found while parsing a string`)
		case c != '\\':
			p.pos++
			continue
		}
		// escape
		if !utf8.Valid(p.src[chunk:p.pos]) {
			return "", p.syntax(chunk, "invalid unicode code point")
		}
		buf = append(buf, p.src[chunk:p.pos]...)
		p.pos++
		if p.pos >= len(p.src) {
			return "", p.eof("a string")
		}
		e := p.src[p.pos]
		p.pos++
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, err := p.hex4()
			if err != nil {
				return "", err
			}
			switch {
			case r >= 0xDC00 && r <= 0xDFFF:
				return "", p.syntax(p.pos, "lone leading surrogate in hex escape")
			case r >= 0xD800 && r <= 0xDBFF:
				if p.pos+1 >= len(p.src) {
					if p.pos >= len(p.src) || p.src[p.pos] == '\\' {
						p.pos = len(p.src)
						return "", p.eof("a string")
					}
				}
				if p.src[p.pos] != '\\' || p.src[p.pos+1] != 'u' {
					return "", p.syntax(p.pos, "unexpected end of hex escape")
				}
				p.pos += 2
				r2, err := p.hex4()
				if err != nil {
					return "", err
				}
				if r2 < 0xDC00 || r2 > 0xDFFF {
					return "", p.syntax(p.pos, "lone leading surrogate in hex escape")
				}
				r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", p.syntax(p.pos-1, "invalid escape")
		}
		chunk = p.pos
	}
}

// key parses an object key, returning a shared string for the field names
// this package knows (no allocation for them).
func (p *parser) key() (string, error) {
	start := p.pos + 1
	for i := start; i < len(p.src) && i-start <= maxInternLen; i++ {
		c := p.src[i]
		if c == '"' {
			if k, ok := internedKeys[string(p.src[start:i])]; ok {
				p.pos = i + 1
				return k, nil
			}
			break
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			break
		}
	}
	return p.str()
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.syntax(p.pos, "recursion limit exceeded")
	}
	return nil
}

func (p *parser) array() (jval, error) {
	v := jval{kind: jArray, off: p.pos}
	if err := p.enter(); err != nil {
		return jval{}, err
	}
	p.pos++
	p.skipWS()
	if p.pos >= len(p.src) {
		return jval{}, p.eof("a list")
	}
	if p.src[p.pos] == ']' {
		p.pos++
		p.depth--
		v.end = p.pos
		return v, nil
	}
	base := len(p.elemStack)
	defer func() { p.elemStack = p.elemStack[:base] }()
	for {
		e, err := p.value()
		if err != nil {
			return jval{}, err
		}
		p.elemStack = append(p.elemStack, e)
		p.skipWS()
		if p.pos >= len(p.src) {
			return jval{}, p.eof("a list")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
			p.skipWS()
			if p.pos < len(p.src) && p.src[p.pos] == ']' {
				return jval{}, p.syntax(p.pos, "trailing comma")
			}
		case ']':
			p.pos++
			p.depth--
			v.end = p.pos
			v.elems = append([]jval(nil), p.elemStack[base:]...)
			return v, nil
		default:
			return jval{}, p.syntax(p.pos, "expected `,` or `]`")
		}
	}
}

func (p *parser) object() (jval, error) {
	v := jval{kind: jObject, off: p.pos}
	if err := p.enter(); err != nil {
		return jval{}, err
	}
	p.pos++
	p.skipWS()
	if p.pos >= len(p.src) {
		return jval{}, p.eof("an object")
	}
	if p.src[p.pos] == '}' {
		p.pos++
		p.depth--
		v.end = p.pos
		return v, nil
	}
	base := len(p.memStack)
	defer func() { p.memStack = p.memStack[:base] }()
	for {
		if p.pos >= len(p.src) {
			return jval{}, p.eof("an object")
		}
		if p.src[p.pos] != '"' {
			return jval{}, p.syntax(p.pos, "key must be a string")
		}
		keyOff := p.pos
		key, err := p.key()
		if err != nil {
			return jval{}, err
		}
		p.skipWS()
		if p.pos >= len(p.src) {
			return jval{}, p.eof("an object")
		}
		if p.src[p.pos] != ':' {
			return jval{}, p.syntax(p.pos, "expected `:`")
		}
		p.pos++
		p.skipWS()
		val, err := p.value()
		if err != nil {
			return jval{}, err
		}
		p.memStack = append(p.memStack, jmem{key: key, keyOff: keyOff, val: val})
		p.skipWS()
		if p.pos >= len(p.src) {
			return jval{}, p.eof("an object")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
			p.skipWS()
		case '}':
			p.pos++
			p.depth--
			v.end = p.pos
			v.mems = append([]jmem(nil), p.memStack[base:]...)
			return v, nil
		default:
			return jval{}, p.syntax(p.pos, "expected `,` or `}`")
		}
	}
}

// ---- numbers ----

// numIsInteger reports whether raw number text has no fraction or exponent.
func numIsInteger(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '.', 'e', 'E':
			return false
		}
	}
	return true
}

// numClass classifies a JSON number the way serde_json's parser does:
// 'u' (fits u64), 'i' (negative, fits i64), 'f' (everything else,
// including "-0" and integers that overflow).
func numClass(s string) (cls byte, u uint64, i int64) {
	if numIsInteger(s) {
		if s[0] == '-' {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil && n != 0 {
				return 'i', 0, n
			}
		} else if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			return 'u', n, 0
		}
	}
	return 'f', 0, 0
}

// numFloat parses s as f64 (correctly rounded). ok is false when the
// magnitude overflows f64 ("number out of range" in serde_json).
func numFloat(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		// ErrRange with ±Inf is overflow; underflow returns 0/denormal
		// without error in Go, which matches serde_json (it yields 0.0).
		return 0, false
	}
	return f, true
}
