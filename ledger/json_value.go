package ledger

import "strconv"

// appendValue writes v as serde_json::Value (preserve_order) would
// re-serialize it: compact, object keys in first-insertion order with the
// last duplicate's value, strings re-escaped, numbers normalised the way
// serde_json parses them (u64 / negative i64 kept as integers, everything
// else as f64 in ryu format: "1E2" -> 100.0, "-0" -> -0.0).
func appendValue(b []byte, v *jval, src []byte) ([]byte, error) {
	var err error
	switch v.kind {
	case jNull:
		return append(b, "null"...), nil
	case jBool:
		if v.b {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case jString:
		return appendJSONString(b, v.s), nil
	case jNumber:
		cls, u, i := numClass(v.s)
		switch cls {
		case 'u':
			return strconv.AppendUint(b, u, 10), nil
		case 'i':
			return strconv.AppendInt(b, i, 10), nil
		}
		f, ok := numFloat(v.s)
		if !ok {
			return b, newJSONError(src, v.off, JSONInvalidValue, "number out of range")
		}
		return appendF64(b, f), nil
	case jArray:
		b = append(b, '[')
		for i := range v.elems {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendValue(b, &v.elems[i], src); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case jObject:
		b = append(b, '{')
		// last[i] is the index of the member whose value is written at
		// position i (the last duplicate), or -1 when member i repeats an
		// earlier key and is skipped.
		var small [16]int
		last := small[:0]
		if len(v.mems) > len(small) {
			last = make([]int, 0, len(v.mems))
		}
		if len(v.mems) <= 16 {
			for i := range v.mems {
				last = append(last, i)
				for j := 0; j < i; j++ {
					if last[j] >= 0 && v.mems[j].key == v.mems[i].key {
						last[j], last[i] = i, -1
						break
					}
				}
			}
		} else {
			firstPos := make(map[string]int, len(v.mems))
			for i := range v.mems {
				last = append(last, i)
				if p, ok := firstPos[v.mems[i].key]; ok {
					last[p], last[i] = i, -1
				} else {
					firstPos[v.mems[i].key] = i
				}
			}
		}
		first := true
		for i := range v.mems {
			if last[i] < 0 {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendJSONString(b, v.mems[i].key)
			b = append(b, ':')
			if b, err = appendValue(b, &v.mems[last[i]].val, src); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	}
	return b, nil
}
