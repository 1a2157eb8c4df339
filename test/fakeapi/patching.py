"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and a
strategic merge patch that knows the merge keys of the lists a node
controller touches (conditions, addresses, ownerReferences)."""

import copy

import k8s_status as st

# patchMergeKey of the list fields the fake cares about (from k8s.io/api).
_MERGE_KEYS = {"conditions": "type", "addresses": "type",
               "ownerReferences": "uid", "imagesUsed": None}


def merge_patch(target, patch):
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            out[k] = merge_patch(out.get(k), v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def strategic_merge_patch(target, patch):
    """Merge patch plus merge-by-key for known lists and `$patch: delete`."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items()
                if k != "$patch"}
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$"):  # $retainKeys, $setElementOrder/...: ordering only
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            if v.get("$patch") == "delete":
                out.pop(k, None)
            else:
                out[k] = strategic_merge_patch(out.get(k), v)
        elif (isinstance(v, list) and _MERGE_KEYS.get(k)
              and isinstance(out.get(k), list)):
            out[k] = _merge_list(out[k], v, _MERGE_KEYS[k])
        else:
            out[k] = copy.deepcopy(v)
    return out


def _merge_list(cur, patch, key):
    result = [dict(e) if isinstance(e, dict) else e for e in cur]
    for p in patch:
        if not isinstance(p, dict) or key not in p:
            result.append(copy.deepcopy(p))
            continue
        idx = next((i for i, e in enumerate(result)
                    if isinstance(e, dict) and e.get(key) == p[key]), None)
        if p.get("$patch") == "delete":
            if idx is not None:
                result.pop(idx)
        elif idx is None:
            result.append(copy.deepcopy(p))
        else:
            result[idx] = strategic_merge_patch(result[idx], p)
    return result


def _unescape(tok):
    return tok.replace("~1", "/").replace("~0", "~")


def _walk(doc, path):
    """-> (parent container, last token) for a JSON pointer."""
    if not path.startswith("/"):
        raise st.ApiError(422, "Invalid", f"invalid JSON pointer: {path!r}")
    toks = [_unescape(t) for t in path[1:].split("/")]
    cur = doc
    for t in toks[:-1]:
        try:
            cur = cur[int(t)] if isinstance(cur, list) else cur[t]
        except (KeyError, IndexError, ValueError, TypeError):
            raise st.ApiError(422, "Invalid",
                              f"doc is missing path: {path!r}") from None
    return cur, toks[-1]


def _get(doc, path):
    if path == "":
        return doc
    parent, t = _walk(doc, path)
    try:
        return parent[int(t)] if isinstance(parent, list) else parent[t]
    except (KeyError, IndexError, ValueError, TypeError):
        raise st.ApiError(422, "Invalid",
                          f"doc is missing key: {path!r}") from None


def _remove(doc, path):
    parent, t = _walk(doc, path)
    try:
        return parent.pop(int(t)) if isinstance(parent, list) else parent.pop(t)
    except (KeyError, IndexError, ValueError, TypeError):
        raise st.ApiError(422, "Invalid",
                          f"unable to remove nonexistent key: {t}: missing "
                          f"value") from None


def _add(doc, path, value):
    parent, t = _walk(doc, path)
    if isinstance(parent, list):
        if t == "-":
            parent.append(value)
            return
        try:
            i = int(t)
        except ValueError:
            raise st.ApiError(422, "Invalid", f"bad index {t!r}") from None
        if i < 0 or i > len(parent):
            raise st.ApiError(422, "Invalid",
                              f"add operation does not apply: doc is missing "
                              f"path: {path!r}: missing value")
        parent.insert(i, value)
    elif isinstance(parent, dict):
        parent[t] = value
    else:
        raise st.ApiError(422, "Invalid", f"doc is missing path: {path!r}")


def json_patch(target, ops):
    """RFC 6902 on a deep copy of target."""
    if not isinstance(ops, list):
        raise st.bad_request("json: cannot unmarshal object into Go value of "
                             "type jsonpatch.Patch")
    doc = copy.deepcopy(target)
    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        if kind == "add":
            _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)  # must exist
            if path == "":
                doc = copy.deepcopy(op.get("value"))
            else:
                parent, t = _walk(doc, path)
                if isinstance(parent, list):
                    parent[int(t)] = copy.deepcopy(op.get("value"))
                else:
                    parent[t] = copy.deepcopy(op.get("value"))
        elif kind == "move":
            v = _remove(doc, op.get("from", ""))
            _add(doc, path, v)
        elif kind == "copy":
            _add(doc, path, copy.deepcopy(_get(doc, op.get("from", ""))))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise st.ApiError(422, "Invalid",
                                  f"testing value {path} failed: test failed")
        else:
            raise st.ApiError(422, "Invalid", f"Unexpected kind: {kind}")
    return doc
