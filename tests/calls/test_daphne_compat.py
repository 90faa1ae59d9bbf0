"""``voxsaas.daphne_compat``: autobahn's per-frame debug-log arguments are formatted only when a
log line is really rendered, and then exactly as before; the close-code shim stays in place."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from autobahn import util
from twisted.logger import formatEvent

from voxsaas import daphne_compat

HOT_MODULES = [importlib.import_module(name) for name in daphne_compat.AUTOBAHN_HOT_MODULES]


@pytest.fixture(autouse=True)
def _installed() -> None:
    import voxsaas.asgi  # noqa: F401 - installs the shims, as the server does

    assert daphne_compat.install() is True  # idempotent


def sample_method() -> None:
    """Stands for ``self.sendData``: what autobahn passes to ``hltype``."""


@pytest.mark.parametrize("module", HOT_MODULES, ids=daphne_compat.AUTOBAHN_HOT_MODULES)
def test_the_helpers_render_exactly_what_autobahn_would(module: Any) -> None:
    eager_event = {
        "log_format": "{func} sent {data_len} bytes for peer {peer}",
        "func": util.hltype(sample_method),
        "peer": util.hlval("tcp:127.0.0.1:5000"),
        "data_len": util.hlval(183),
    }
    deferred_event = {
        **eager_event,
        "func": module.hltype(sample_method),
        "peer": module.hlval("tcp:127.0.0.1:5000"),
        "data_len": module.hlval(183),
    }
    assert formatEvent(deferred_event) == formatEvent(eager_event)  # Twisted's own rendering
    assert str(module.hlval(7, color="red")) == util.hlval(7, color="red")
    assert repr(module.hltype(sample_method)) == repr(util.hltype(sample_method))


@pytest.mark.parametrize("module", HOT_MODULES, ids=daphne_compat.AUTOBAHN_HOT_MODULES)
def test_nothing_is_formatted_until_a_line_is_rendered(module: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    styled: list[str] = []
    real_hl = util.hl

    def counting_hl(text: Any, bold: bool = False, color: str = "yellow") -> str:
        styled.append(str(text))
        return str(real_hl(text, bold=bold, color=color))

    monkeypatch.setattr(util, "hl", counting_hl)
    arguments = [module.hltype(sample_method), module.hlval(183)]  # what each frame used to pay for
    assert styled == []
    assert [format(argument) for argument in arguments]
    assert styled  # formatted on demand


def test_installing_twice_does_not_wrap_twice() -> None:
    for module in HOT_MODULES:
        helper = module.hlval
        daphne_compat.install()
        assert module.hlval is helper
        assert isinstance(module.hlval(1), daphne_compat.DeferredLogArgument)


def test_the_close_code_shim_is_still_installed() -> None:
    from daphne.ws_protocol import WebSocketProtocol

    assert getattr(WebSocketProtocol, "_voxsaas_close_codes", False)
