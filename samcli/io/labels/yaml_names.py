"""The top-level ``names:`` of a dataset YAML, read without a YAML library.

The forms ultralytics, YOLOv5 and Roboflow write (:func:`parse_yaml_names`); anything else
there is an error naming ``file:line``, so a name is never silently misread.
"""

from __future__ import annotations

import re

from samcli.errors import InputError
from samcli.io.labels.numbers import _CANONICAL_INT, MAX_CLASS_ID
from samcli.io.labels.text import _LINE_BREAK, _tok
from samcli.io.labels.jsonio import _valid_text

_YAML_NAMES_KEY = re.compile(r"""(?:names|'names'|"names")[ \t]*:(?=[ \t]|\Z)(.*)\Z""")
#: A quoted top-level key (``'path': x``, as PyYAML writes with ``default_style``)
_QUOTED_KEY = re.compile(r"""(?:'(?:[^']|'')*'|"(?:[^"\\]|\\.)*")[ \t]*:(?:[ \t]|\Z)""")
_YAML_DECORATED_NAMES = re.compile(r"""(?:[&!][^ \t]*[ \t]+)+(?:names|'names'|"names")[ \t]*:""")
_YAML_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v",
                 "f": "\f", "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\",
                 "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029"}
_YAML_HEX = {"x": 2, "u": 4, "U": 8}


def _scalar_starts(before: str, flow: bool = False) -> bool:
    """Whether a quote after ``before`` opens a quoted scalar (else it is part of a plain
    one, as in ``it's`` or ``a:'b``): at the start, or after ``:``/``-`` and a blank, or (in
    the line's text) right after ``[``, ``{`` or ``,``."""
    stripped = before.rstrip(" \t")
    if not stripped:
        return True
    if stripped != before and stripped[-1] in ":-":
        return True
    return not flow and stripped[-1] in "[{,"


def _strip_yaml_comment(line: str) -> str:
    """``line`` without a ``#`` comment (one at the start or after a blank, outside quotes)."""
    quote = None
    i = 0
    while i < len(line):
        ch = line[i]
        if quote == "'":
            if ch == "'":
                if line[i + 1: i + 2] == "'":
                    i += 2
                    continue
                quote = None
        elif quote == '"':
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                quote = None
        elif ch in "'\"" and _scalar_starts(line[:i]):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
        i += 1
    return line


def _yaml_unescape(body: str, where: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == '"':
            raise InputError(f"{where}: names: malformed quote in {_tok(body)}")
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        esc = body[i + 1: i + 2]
        if esc in _YAML_ESCAPES:
            out.append(_YAML_ESCAPES[esc])
            i += 2
        elif esc in _YAML_HEX:
            digits = body[i + 2: i + 2 + _YAML_HEX[esc]]
            if len(digits) != _YAML_HEX[esc] or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                raise InputError(f"{where}: names: bad escape {_tok(body[i:i + 10])}")
            code = int(digits, 16)
            if code > 0x10FFFF:
                raise InputError(f"{where}: names: bad escape {_tok(body[i:i + 10])}")
            out.append(chr(code))
            i += 2 + len(digits)
        else:
            raise InputError(f"{where}: names: unknown escape {_tok(body[i:i + 2])}")
    return "".join(out)


def _yaml_scalar(text: str, where: str) -> str | None:
    """A YAML scalar (plain, 'single' or "double" quoted) as text; None for null/empty."""
    t = text.strip(" \t")
    if not t:
        return None
    if t[0] == "'":
        inner = t[1:-1]
        if len(t) < 2 or t[-1] != "'" or "'" in inner.replace("''", ""):
            raise InputError(f"{where}: names: unterminated or malformed quote in {_tok(t)}")
        value = inner.replace("''", "'")
    elif t[0] == '"':
        if len(t) < 2 or t[-1] != '"':
            raise InputError(f"{where}: names: unterminated or malformed quote in {_tok(t)}")
        value = _yaml_unescape(t[1:-1], where)  # a stray '"' or a final lone '\\' raises
    else:
        if t[0] in "&*!|>%@`[]{},?" or t.startswith("- ") or t == "-":
            raise InputError(f"{where}: names: unsupported YAML {_tok(t)} (write the names as "
                             "a list or an 'id: name' mapping of plain or quoted strings)")
        if ": " in t or t.endswith(":") or ":\t" in t:
            raise InputError(f"{where}: names: nested mapping {_tok(t)} is not a name")
        if t in ("~", "null", "Null", "NULL"):
            return None
        value = t
    if not _valid_text(value):
        raise InputError(f"{where}: names: {_tok(value)} is not valid text")
    return value or None  # '' has no name, like a blank classes.txt line


def _yaml_flow(lines: list[str], i: int, start: str, source: str
               ) -> tuple[list[tuple[str, int]], int]:
    """Items of a flow collection ``[...]``/``{...}`` that begins ``start`` (the rest of line
    ``i``) and may span lines: ``[(item text, line index)]`` and the index after its end."""
    closer = "]" if start[0] == "[" else "}"
    items: list[tuple[str, int]] = []
    cur: list[str] = []
    quote = None
    line, s, pos, item_line = i, start, 1, i
    while True:
        if pos >= len(s):
            # YAML line folding: blanks around a line break go; the break becomes a space,
            # or one newline per empty line after it; an escaped break ("...\) joins lines
            text = "".join(cur)
            stripped = text.rstrip(" \t")
            escaped = (quote == '"' and (len(stripped) - len(stripped.rstrip("\\"))) % 2 == 1
                       and stripped == text)
            cur = [stripped[:-1] if escaped else stripped]
            empty = 0
            while True:
                line += 1
                if line >= len(lines):
                    raise InputError(f"{source}:{i + 1}: names: {start[0]!r} is never closed")
                s = lines[line]
                if s.strip(" \t"):
                    break
                empty += 1
            pos = len(s) - len(s.lstrip(" \t"))
            if not escaped and (quote is not None or stripped.strip(" \t")):  # in a scalar
                cur.append("\n" * empty if empty else " ")
            continue
        ch = s[pos]
        if quote is not None:
            cur.append(ch)
            if ch == "\\" and quote == '"' and pos + 1 < len(s):
                cur.append(s[pos + 1])
                pos += 2
                continue
            if ch == quote:
                if quote == "'" and s[pos + 1: pos + 2] == "'":
                    cur.append("'")
                    pos += 2
                    continue
                quote = None
            pos += 1
            continue
        if ch in "'\"":
            if _scalar_starts("".join(cur), flow=True):
                quote = ch
        elif ch == "#" and (pos == 0 or s[pos - 1] in " \t" or not "".join(cur).strip(" \t")):
            pos = len(s)  # a comment (at an item's start too: '[a,#c' is how PyYAML reads it)
            continue
        elif ch in "[{":
            raise InputError(f"{source}:{line + 1}: names: nested collections are not supported")
        elif ch == ",":
            items.append(("".join(cur), item_line))
            cur, item_line = [], line
            pos += 1
            continue
        elif ch == closer:
            items.append(("".join(cur), item_line))
            rest = _strip_yaml_comment(s[pos + 1:])
            if rest.strip():
                raise InputError(f"{source}:{line + 1}: names: unexpected {_tok(rest.strip())} "
                                 f"after {closer!r}")
            break
        elif ch in "]}":
            raise InputError(f"{source}:{line + 1}: names: unexpected {ch!r}")
        cur.append(ch)
        pos += 1
    if items and not items[-1][0].strip(" \t"):  # '[a, b,]' and '[]'; YAML's blanks only
        items.pop()
    return items, line + 1


def _yaml_key(text: str, where: str, seen: dict[int, str]) -> int:
    key = _yaml_scalar(text, where)
    if key is None or not _CANONICAL_INT.match(key) or len(key) > 10 or int(key) > MAX_CLASS_ID:
        raise InputError(f"{where}: names: key {_tok(text.strip())} is not a class id "
                         f"(an integer from 0 to {MAX_CLASS_ID})")
    if int(key) in seen:
        raise InputError(f"{where}: names: class {key} appears twice")
    return int(key)


def _split_pair(text: str, where: str) -> tuple[str, str]:
    """``"0: person"`` -> ``("0", "person")`` (a plain or quoted key, ``:``, a blank)."""
    t = text.strip(" \t")
    end = t.find(t[0], 1) + 1 if t[:1] in ("'", '"') else 0
    colon = t.find(":", end) if end or t[:1] not in ("'", '"') else -1
    if not t or colon <= 0 or (colon + 1 < len(t) and t[colon + 1] not in " \t"):
        raise InputError(f"{where}: names: expected 'id: name', got {_tok(t)}")
    return t[:colon], t[colon + 1:]


def parse_yaml_names(text: str, source: str = "<yaml>") -> dict[int, str] | None:
    """``{id: name}`` from the top-level ``names:`` of a dataset YAML, or None without one.

    The forms ultralytics, YOLOv5 and Roboflow write: a flow list ``names: ['a', "b", c]``
    (may span lines), a block list of ``- name`` lines, a block or flow mapping ``0: name``
    (``{0: a, 1: b}``); plain, 'single' and "double" quoted names; ``#`` comments. A list
    gives ids 0, 1, ...; a null entry (``~``, empty) has no name. Other YAML there (anchors,
    tags, nested collections) and malformed input are an :class:`InputError`
    ``"<source>:<line>: names: ..."``; everything else in the file is ignored.
    """
    lines = _LINE_BREAK.split(text)
    base = 0  # the top-level mapping's indentation: that of the first content line
    for line in lines:
        body = _strip_yaml_comment(line).rstrip(" \t")
        if body.strip(" \t") and not body.startswith(("---", "...", "%")):
            base = len(body) - len(body.lstrip(" "))
            break
    found: int | None = None
    for i, line in enumerate(lines):
        if line[:base].strip(" ") or line[base: base + 1] in (" ", "\t"):
            continue
        m = _YAML_NAMES_KEY.match(line, base)
        if m is None:
            if _YAML_DECORATED_NAMES.match(line, base):
                raise InputError(f"{source}:{i + 1}: names: unsupported YAML (an anchor or tag "
                                 "on the key)")
            continue
        if found is not None:
            raise InputError(f"{source}:{i + 1}: 'names' appears twice (first on line {found + 1})")
        found = i
    if found is None:
        return None
    i = found
    rest = _strip_yaml_comment(_YAML_NAMES_KEY.match(lines[i], base).group(1)).strip(" \t")  # type: ignore[union-attr]
    out: dict[int, str] = {}
    if rest.startswith(("[", "{")):
        items, _ = _yaml_flow(lines, i, rest, source)
        for n, (item, line) in enumerate(items):
            where = f"{source}:{line + 1}"
            if rest[0] == "[":
                name = _yaml_scalar(item, where)
                if name is None and not item.strip(" \t"):
                    raise InputError(f"{where}: names: empty entry in the list")
            else:
                key_text, value = _split_pair(item, where)
                n = _yaml_key(key_text, where, out)
                name = _yaml_scalar(value, where)
            if name is not None:
                out[n] = name
        return out
    if rest:
        _yaml_scalar(rest, f"{source}:{i + 1}")  # unsupported forms raise here
        raise InputError(f"{source}:{i + 1}: names: expected a list or a mapping of class names, "
                         f"got {_tok(rest)}")
    form: str | None = None
    indent = base
    count = 0
    seen_keys: dict[int, str] = {}
    for j in range(i + 1, len(lines)):
        body = _strip_yaml_comment(lines[j]).rstrip(" \t")
        if not body.strip(" \t"):
            continue
        where = f"{source}:{j + 1}"
        ind = len(body) - len(body.lstrip(" "))
        if body[ind] == "\t":
            raise InputError(f"{where}: names: tabs are not allowed for indentation in YAML")
        item = body[ind:]
        is_dash = item == "-" or item.startswith(("- ", "-\t"))
        if ind < indent or (ind == base and not (is_dash and form in (None, "list"))):
            # the end of the block: the next top-level key (anything else would be
            # misread by stopping here, so it is an error)
            if ind != base or (item[0] in "|>[]{}&!*'\"?:%@`-,#" and item not in ("---", "...")
                               and not _QUOTED_KEY.match(item)):
                raise InputError(f"{where}: names: unsupported YAML {_tok(item)} after the names")
            break
        if form is None:
            form, indent = ("list" if is_dash else "map"), ind
        elif ind > indent:
            raise InputError(f"{where}: names: nested values are not supported")
        if form == "list":
            if not is_dash:
                raise InputError(f"{where}: names: expected '- name', got {_tok(item)}")
            name = _yaml_scalar(item[1:], where)
            if name is not None:
                out[count] = name
            count += 1
        else:
            if is_dash:
                raise InputError(f"{where}: names: expected 'id: name', got {_tok(item)}")
            key_text, value = _split_pair(item, where)
            key = _yaml_key(key_text, where, seen_keys)
            seen_keys[key] = value
            name = _yaml_scalar(value, where)
            if name is not None:
                out[key] = name
    return out
