package clusterquery

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

const (
	tokEOF    tokKind = iota
	tokWord           // unquoted run of word characters
	tokString         // quoted value; text is the content without quotes
	tokLParen         // (
	tokRParen         // )
	tokLBrack         // [
	tokRBrack         // ]
	tokComma          // ,
	tokOp             // ==, !=, >, >=, <, <=, =~, !~, !in, !exists
	tokAnd            // &&
	tokOr             // ||
	tokNot            // !
)

type token struct {
	kind tokKind
	text string // source text, or the content of a quoted value
	pos  int    // 0-based character offset
}

// describe names a token for error messages.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokString:
		return "quoted value " + quote(t.text)
	}
	return quote(t.text)
}

// isWordRune reports whether r can be part of an unquoted word.
func isWordRune(r rune) bool {
	switch r {
	case '(', ')', '[', ']', ',', '\'', '"', '=', '!', '<', '>', '&', '|':
		return false
	}
	return !unicode.IsSpace(r) && !unicode.IsControl(r)
}

// lex splits s into tokens, ending with a tokEOF. s must be valid UTF-8.
func lex(s string) ([]token, error) {
	var toks []token
	pos := 0 // character offset of s[i]
	i := 0
	emit := func(kind tokKind, n int) {
		toks = append(toks, token{kind: kind, text: s[i : i+n], pos: pos})
		i += n
		pos += n // punctuation is ASCII
	}
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		next := byte(0)
		if i+1 < len(s) {
			next = s[i+1]
		}
		switch {
		case unicode.IsSpace(r):
			i += size
			pos++
		case unicode.IsControl(r):
			return nil, errorf(pos, "unexpected control character %U at position %d", r, pos)
		case r == '(':
			emit(tokLParen, 1)
		case r == ')':
			emit(tokRParen, 1)
		case r == '[':
			emit(tokLBrack, 1)
		case r == ']':
			emit(tokRBrack, 1)
		case r == ',':
			emit(tokComma, 1)
		case r == '=':
			if next != '=' && next != '~' {
				return nil, errorf(pos, `unexpected "=" at position %d; did you mean "=="?`, pos)
			}
			emit(tokOp, 2)
		case r == '<' || r == '>':
			if next == '=' {
				emit(tokOp, 2)
			} else {
				emit(tokOp, 1)
			}
		case r == '&' || r == '|':
			if next != s[i] {
				return nil, errorf(pos, "unexpected %q at position %d; did you mean %q?", string(r), pos, string(r)+string(r))
			}
			if r == '&' {
				emit(tokAnd, 2)
			} else {
				emit(tokOr, 2)
			}
		case r == '!':
			switch {
			case next == '=' || next == '~':
				emit(tokOp, 2)
			case negatedKeyword(s[i+1:], "in"):
				emit(tokOp, 3)
			case negatedKeyword(s[i+1:], "exists"):
				emit(tokOp, 7)
			default:
				emit(tokNot, 1)
			}
		case r == '\'' || r == '"':
			end := strings.IndexByte(s[i+1:], s[i])
			if end < 0 {
				return nil, errorf(pos, "unterminated quoted value starting at position %d", pos)
			}
			content := s[i+1 : i+1+end]
			start := pos
			for j, cr := range content {
				if unicode.IsControl(cr) {
					at := start + 1 + utf8.RuneCountInString(content[:j])
					return nil, errorf(at, "unexpected control character %U at position %d", cr, at)
				}
			}
			toks = append(toks, token{kind: tokString, text: content, pos: start})
			i += end + 2
			pos += utf8.RuneCountInString(content) + 2
		default:
			start, startPos := i, pos
			for i < len(s) {
				r, size := utf8.DecodeRuneInString(s[i:])
				if !isWordRune(r) {
					break
				}
				i += size
				pos++
			}
			toks = append(toks, token{kind: tokWord, text: s[start:i], pos: startPos})
		}
	}
	toks = append(toks, token{kind: tokEOF, pos: pos})
	return toks, nil
}

// negatedKeyword reports whether rest (the text after a "!") starts with the
// keyword kw as a whole word, case-insensitively.
func negatedKeyword(rest, kw string) bool {
	if len(rest) < len(kw) || !asciiEqualFold(rest[:len(kw)], kw) {
		return false
	}
	if len(rest) == len(kw) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(rest[len(kw):])
	return !isWordRune(r)
}

// asciiEqualFold reports whether s equals the lower-case ASCII keyword kw,
// ignoring ASCII case only (so that no exotic Unicode folding can spell a
// keyword).
func asciiEqualFold(s, kw string) bool {
	if len(s) != len(kw) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != kw[i] {
			return false
		}
	}
	return true
}
