"""``--cfg-options key=value ...`` that keeps the value as typed.

MMEngine's :class:`~mmengine.config.DictAction` removes every space from a
value (``data_root=/data/my videos`` arrives as ``/data/myvideos``, and the
toy dataset is then generated in the wrong place).  :class:`CfgOptionsAction`
parses values the same way (ints, floats, booleans, ``None``, lists
``a,b`` / ``[a, b]`` and tuples ``(a, b)``, nested) but only strips the
whitespace around a value or a list item, never inside it; an item without
``=`` is a usage error naming it.  Every tool that takes ``--cfg-options``
uses it.
"""
import copy
from typing import Any, Union

from mmengine.config import DictAction


def _top_level_comma(text: str) -> int:
    """Index of the first comma outside brackets (``len(text)`` if none)."""
    depth = 0
    for idx, char in enumerate(text):
        if char in '([':
            depth += 1
        elif char in ')]':
            depth -= 1
        elif char == ',' and depth == 0:
            return idx
    return len(text)


class CfgOptionsAction(DictAction):
    """:class:`~mmengine.config.DictAction` that keeps spaces in values.

    ``--cfg-options "data_root=/data/my videos" "model.x=[1, 2]"`` gives
    ``{'data_root': '/data/my videos', 'model.x': [1, 2]}``; non-ASCII
    characters are kept as well.
    """

    @staticmethod
    def _parse_iterable(val: str) -> Union[list, tuple, Any]:
        """Like :meth:`DictAction._parse_iterable`, without removing the
        spaces inside a value."""
        val = val.strip().strip('\'"').strip()
        if val.count('(') != val.count(')') or \
                val.count('[') != val.count(']'):
            # not a list: a path or text with an unbalanced bracket
            return DictAction._parse_int_float_bool(val)
        is_tuple = False
        if val.startswith('(') and val.endswith(')'):
            is_tuple, val = True, val[1:-1]
        elif val.startswith('[') and val.endswith(']'):
            val = val[1:-1]
        elif ',' not in val:
            return DictAction._parse_int_float_bool(val)
        values = []
        while val.strip():
            comma = _top_level_comma(val)
            values.append(CfgOptionsAction._parse_iterable(val[:comma]))
            val = val[comma + 1:]
        return tuple(values) if is_tuple else values

    def __call__(self, parser, namespace, values, option_string=None):
        items = values if isinstance(values, (list, tuple)) else [values]
        options = copy.copy(getattr(namespace, self.dest, None) or {})
        for item in items:
            if not isinstance(item, str) or '=' not in item:
                parser.error(f'{option_string}: {item!r} is not key=value '
                             '(e.g. model.inheritance.hidden_dim=256 or '
                             'data_root=/data/tvr)')
            key, value = item.split('=', maxsplit=1)
            options[key.strip()] = self._parse_iterable(value)
        setattr(namespace, self.dest, options)
