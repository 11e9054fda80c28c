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
#: A document marker, at the start of a line only: inside a quoted name or a flow collection
#: it ends the document there (PyYAML refuses the file), so it is never read as text
_DOC_MARKER = re.compile(r"(?:---|\.\.\.)(?:[ \t]|\Z)")


def _scalar_starts(before: str, flow: bool = False) -> bool:
    """Whether a quote after ``before`` opens a quoted scalar (else it is part of a plain
    one, as in ``it's`` or ``a:'b``): at the start, or after ``:``/``-`` and a blank, or (in
    the line's text) right after ``[``, ``{`` or ``,``. In a flow item's text (``flow``) a
    ``-`` is text: flow collections have no ``- `` entries, so ``[a - 'b, c']`` is two names."""
    stripped = before.rstrip(" \t")
    if not stripped:
        return True
    if stripped != before and stripped[-1] in (":" if flow else ":-"):
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


def _next_text_line(lines: list[str], line: int, unclosed: str, at_end: str = ""
                    ) -> tuple[int, int, int]:
    """After a line break inside a quoted name or a flow collection: the next line with text,
    the index where its text starts (past YAML's blanks, space and tab) and how many empty
    lines came between. The end of the file first is the error ``unclosed`` + ``at_end``; so
    is a document marker (``---``, ``...`` at the start of a line), which ends the document."""
    empty = 0
    for j in range(line + 1, len(lines)):
        s = lines[j]
        if _DOC_MARKER.match(s):
            raise InputError(f"{unclosed} (line {j + 1} starts a new document)")
        start = len(s) - len(s.lstrip(" \t"))
        if start < len(s):
            return j, start, empty
        empty += 1
    raise InputError(unclosed + at_end)


def _quoted_line(s: str, k: int, quote: str) -> tuple[int, int, bool]:
    """Line ``s`` from index ``k``, inside a ``quote`` scalar: ``(close, keep, escaped)``, the
    index of the closing quote (-1 if the line ends first) and, if the line ends first, the
    end of the text it keeps and whether its line break is escaped (``\\`` at the end of a
    line in double quotes). The blanks before a line break go, but not one that is escaped
    (``"\\ "``, ``"\\<tab>"``), so escapes are read two characters at a time here."""
    keep = k
    while k < len(s):
        ch = s[k]
        if ch == quote and quote == "'" and s[k + 1: k + 2] == "'":
            k = keep = k + 2  # '' is a quote inside single quotes
        elif ch == quote:
            return k, k, False
        elif ch == "\\" and quote == '"':
            if k + 1 == len(s):
                return -1, k, True
            k = keep = k + 2
        else:
            k += 1
            if ch not in " \t":
                keep = k
    return -1, keep, False


def _quoted_span(lines: list[str], line: int, pos: int, source: str, at_end: str = ""
                 ) -> tuple[str, int, int]:
    """The quoted scalar that opens at ``lines[line][pos]`` and may span lines: its text as
    one line of YAML for :func:`_yaml_scalar` (quotes and escapes as written), the index of
    the line it ends on and the index just after its closing quote there.

    YAML line folding, as PyYAML reads it: the blanks around a line break go; the break
    becomes a space, or, with empty lines after it, one newline per empty line; an escaped
    break (``\\`` at the end of a line in double quotes) becomes only those newlines. The
    indentation of the lines after is not checked (PyYAML doesn't). Never closed (``at_end``
    says more), or closed after a document marker, is an error naming the line where the
    quote opened.
    """
    s, k = lines[line], pos + 1
    quote = s[pos]
    opened = s[pos:].rstrip(" \t")
    unclosed = f"{source}:{line + 1}: names: unterminated or malformed quote in {_tok(opened)}"
    parts = [quote]
    while True:
        close, keep, escaped = _quoted_line(s, k, quote)
        if close >= 0:
            parts.append(s[k:close + 1])
            return "".join(parts), line, close + 1
        parts.append(s[k:keep])
        line, k, empty = _next_text_line(lines, line, unclosed, at_end)
        s = lines[line]
        # a literal newline or space in the one-line text reads as itself in either quote
        parts.append("\n" * empty if empty or escaped else " ")


def _yaml_flow(lines: list[str], i: int, col: int, source: str) -> list[tuple[str, int]]:
    """Items of the flow collection ``[...]``/``{...}`` that opens at ``lines[i][col]`` and may
    span lines: ``[(item text, index of the line it starts on)]``.

    A quoted item may span lines (:func:`_quoted_span`); so may a plain one: the line break
    becomes a space, or one newline per empty line after it, if the item's text goes on (not
    before a ``,`` or the end; after ``key:`` it is a blank). A comment ends a name: only ``,``
    or the end may follow it (PyYAML refuses ``[a # c`` then ``b]``). Everything after the end
    on its line must be a comment.
    """
    opener = lines[i][col]
    closer = "]" if opener == "[" else "}"
    unclosed = f"{source}:{i + 1}: names: {opener!r} is never closed"
    items: list[tuple[str, int]] = []
    cur: list[str] = []
    started = False  # the item has text (more than blanks)
    fold = ""        # the line break last read, until the item's text goes on
    ended = False    # a comment came after the item's text: it cannot go on
    line, s, pos, item_line = i, lines[i], col + 1, i
    while True:
        if pos >= len(s):
            text = "".join(cur).rstrip(" \t")
            cur = [text]
            line, pos, empty = _next_text_line(lines, line, unclosed)
            s = lines[line]
            if started and not ended:
                # after 'key:' a line break only separates the value, as a blank would
                fold = "\n" * empty if empty and not text.endswith(":") else " "
            continue
        ch = s[pos]
        if ch == "#" and (pos == 0 or s[pos - 1] in " \t" or not started):
            # a comment (at an item's start too: '[a,#c' is how PyYAML reads it); it ends a
            # name, but a value may still follow 'key:'
            ended = started and not "".join(cur).rstrip(" \t").endswith(":")
            fold, pos = "", len(s)
            continue
        if ch == "," or ch == closer:
            items.append(("".join(cur), item_line))
            cur, started, fold, ended, item_line = [], False, "", False, line
            if ch == closer:
                break
            pos += 1
            continue
        if ch not in " \t":
            if ended:
                raise InputError(f"{source}:{line + 1}: names: expected ',' or {closer!r} "
                                 f"before {_tok(s[pos:].rstrip(' '))} (after a comment)")
            if not started:
                started, item_line = True, line  # errors name the line the item starts on
            cur.append(fold)
            fold = ""
        if ch in "'\"" and _scalar_starts("".join(cur), flow=True):
            note = f" ({opener!r} on line {i + 1} is never closed)"
            quoted, line, pos = _quoted_span(lines, line, pos, source, note)
            s = lines[line]
            cur.append(quoted)
            continue
        if ch in "[{":
            raise InputError(f"{source}:{line + 1}: names: nested collections are not supported")
        if ch in "]}":
            raise InputError(f"{source}:{line + 1}: names: unexpected {ch!r}")
        cur.append(ch)
        pos += 1
    rest = _strip_yaml_comment(s[pos + 1:])
    if rest.strip():
        raise InputError(f"{source}:{line + 1}: names: unexpected {_tok(rest.strip())} "
                         f"after {closer!r}")
    if items and not items[-1][0].strip(" \t"):  # '[a, b,]' and '[]'; YAML's blanks only
        items.pop()
    return items


def _block_value(lines: list[str], j: int, body: str, value: str, source: str
                 ) -> tuple[str, int]:
    """The text of a block item's value ``value`` (the end of ``body``, line ``j`` less its
    comment) and the index of the line it ends on. A quoted name may go on over the lines
    after (:func:`_quoted_span`); what follows its closing quote on the line it ends on, less
    a comment (after a blank, as on one line), stays in the text, for :func:`_yaml_scalar` to
    refuse as it refuses ``- 'a' b``."""
    col = len(body) - len(value.lstrip(" \t"))
    if body[col:col + 1] not in ("'", '"'):
        return value, j
    text, end, after = _quoted_span(lines, j, col, source)
    if end == j:
        return value, j  # on one line: read as before, with the rest of the line
    rest = lines[end][after:]
    return text + (rest if rest.startswith("#") else _strip_yaml_comment(rest)), end


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
    (``{0: a, 1: b}``); plain, 'single' and "double" quoted names; ``#`` comments. A quoted
    name may span lines in any of these forms, read with YAML's line folding
    (:func:`_quoted_span`). A list gives ids 0, 1, ...; a null entry (``~``, empty) has no
    name. Other YAML there (anchors, tags, nested collections) and malformed input are an
    :class:`InputError` ``"<source>:<line>: names: ..."``; everything else in the file is
    ignored.
    """
    lines = _LINE_BREAK.split(text)
    base = 0  # the top-level mapping's indentation: that of the first content line
    for line in lines:
        body = _strip_yaml_comment(line).rstrip(" \t")
        if body.strip(" \t") and not body.startswith(("---", "...", "%")):
            base = len(body) - len(body.lstrip(" "))
            break
    found: int | None = None
    after_key = ""  # the text after 'names:' on its line
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
        found, after_key = i, m.group(1)
    if found is None:
        return None
    i = found
    rest = _strip_yaml_comment(after_key).strip(" \t")
    out: dict[int, str] = {}
    if rest.startswith(("[", "{")):
        col = len(lines[i]) - len(after_key.lstrip(" \t"))
        items = _yaml_flow(lines, i, col, source)
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
    next_item = i + 1
    for j in range(i + 1, len(lines)):
        if j < next_item:
            continue  # the rest of a quoted name that spans lines
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
            value, end = _block_value(lines, j, body, item[1:], source)
            next_item = end + 1
            name = _yaml_scalar(value, where)
            if name is not None:
                out[count] = name
            count += 1
        else:
            if is_dash:
                raise InputError(f"{where}: names: expected 'id: name', got {_tok(item)}")
            key_text, value = _split_pair(item, where)
            key = _yaml_key(key_text, where, seen_keys)
            value, end = _block_value(lines, j, body, value, source)
            next_item = end + 1
            seen_keys[key] = value
            name = _yaml_scalar(value, where)
            if name is not None:
                out[key] = name
    return out
