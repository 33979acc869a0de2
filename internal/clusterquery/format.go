package clusterquery

import "strings"

// format renders the canonical form of a tree.
func format(n *node) string {
	var b strings.Builder
	writeNode(&b, n)
	return b.String()
}

func writeNode(b *strings.Builder, n *node) {
	switch n.kind {
	case nodeCond:
		writeCond(b, n.cond)
	case nodeNot:
		b.WriteString("not (")
		writeNode(b, n.kids[0])
		b.WriteString(")")
	case nodeAnd, nodeOr:
		sep := " and "
		if n.kind == nodeOr {
			sep = " or "
		}
		for i, k := range n.kids {
			if i > 0 {
				b.WriteString(sep)
			}
			// Operands are never of their parent's kind (they are
			// flattened), so only an "or" under an "and" needs parentheses.
			if k.kind == nodeOr {
				b.WriteString("(")
				writeNode(b, k)
				b.WriteString(")")
			} else {
				writeNode(b, k)
			}
		}
	}
}

func writeCond(b *strings.Builder, c *cond) {
	b.WriteString(subjectNames[c.subject])
	b.WriteString(c.attr)
	b.WriteString(" ")
	b.WriteString(opNames[c.op])
	switch c.op {
	case opExists, opNotExists:
	case opIn, opNotIn:
		b.WriteString(" [")
		for i, v := range c.vals {
			if i > 0 {
				b.WriteString(", ")
			}
			writeValue(b, v)
		}
		b.WriteString("]")
	default:
		b.WriteString(" ")
		writeValue(b, c.vals[0])
	}
}

// writeValue writes v bare when it lexes back as the same single word and
// cannot be read as a keyword, and quoted otherwise. Quoted values have no
// escapes, but no value can hold both kinds of quote.
func writeValue(b *strings.Builder, v string) {
	bare := v != "" && !isKeyword(v)
	for _, r := range v {
		if !isWordRune(r) {
			bare = false
			break
		}
	}
	switch {
	case bare:
		b.WriteString(v)
	case strings.Contains(v, "'"):
		b.WriteString(`"` + v + `"`)
	default:
		b.WriteString("'" + v + "'")
	}
}
