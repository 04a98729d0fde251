"""``mobilebert web-demo --models DIR``: serve web_demo/ (the browser demo on LiteRT.js) on 127.0.0.1.

``DIR`` holds exported .tflite files and their ``models.json`` (written by ``mobilebert export ...
--web-assets DIR``, the Android demo's manifest format). The page is served from ``/``, the models from
``/models/`` and LiteRT.js (with its wasm files) from ``/node_modules/`` (``make web-deps`` installs it;
nothing is fetched from a CDN). Single-threaded wasm needs no cross-origin-isolation headers.

Example:
    mobilebert web-demo --models runs/web_models          # prints http://127.0.0.1:8000/
"""
from __future__ import annotations

import functools
import http.server
import json
import mimetypes
from pathlib import Path

from mobilebert_tf.argtypes import int_range
from mobilebert_tf.errors import MobileBertError

HELP = "serve the browser demo (LiteRT.js) for a folder of exported models"
WEB_DEMO = Path(__file__).resolve().parents[2] / "web_demo"
MANIFEST = "models.json"
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".js")


class WebDemoError(MobileBertError):
    """The models folder or the page's files are not usable; the message says what to do.

    A ``MobileBertError``: ``mobilebert web-demo`` prints the message and exits with 1.
    """


def configure(parser):
    """Flags of ``mobilebert web-demo`` (docs/export.md, ``--web-assets DIR``): --models and --port."""
    parser.add_argument("--models", required=True, metavar="DIR",
                        help="folder with .tflite files and models.json (export --web-assets DIR)")
    parser.add_argument("--port", type=int_range(0, 65535), default=8000, help="port on 127.0.0.1 (0: any free port; default 8000)")


def check_models(models: Path) -> dict:
    """Check a models folder for the demo.

    Args:
        models: folder with models.json and the .tflite files it lists (a dynamic-length model may be
            missing when its fixed fallback is present: the page then runs the fallback).

    Returns:
        dict. The parsed manifest (its ``models`` list is not empty).

    Raises:
        WebDemoError: not a folder, no ``models.json``, invalid JSON, no models listed, or a listed
            file (and its fallback) missing, naming the folder/file and the problem.

    Example:
        >>> check_models(Path("runs/web/models"))["models"][0]["file"]  # doctest: +SKIP
        'sst2_int8-mixed.tflite'
    """
    if not models.is_dir():
        raise WebDemoError(f"--models {models}: not a directory (export with --web-assets {models} first)")
    manifest_file = models / MANIFEST
    if not manifest_file.is_file():
        raise WebDemoError(f"--models {models}: no {MANIFEST}; write it with `mobilebert export ... --web-assets "
                           f"{models}`")
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WebDemoError(f"{manifest_file}: not valid JSON ({e})") from None
    entries = manifest.get("models") if isinstance(manifest, dict) else None
    if not entries:
        raise WebDemoError(f"{manifest_file}: lists no models")
    # a dynamic-length model may be absent when its fixed fallback is there: the page runs the fallback
    present = {str(m.get("file")) for m in entries if (models / str(m.get("file"))).is_file()}
    missing = [m.get("file") for m in entries if str(m.get("file")) not in present
               and str((m.get("dynamic") or {}).get("fallback")) not in present]
    if missing:
        raise WebDemoError(f"{manifest_file}: lists {', '.join(map(str, missing))}, not found in {models}")
    return manifest


class Handler(http.server.SimpleHTTPRequestHandler):
    """web_demo/ at /, the models folder at /models/, web_demo/node_modules at /node_modules/.

    A ``SimpleHTTPRequestHandler`` rooted at ``web_demo/``; responses carry ``Cache-Control: no-store``
    and requests are not logged.

    Args:
        *args: the request, client address and server, as ``http.server`` passes them.
        models: Path. The resolved models folder served under ``/models/``.
        **kwargs: further ``SimpleHTTPRequestHandler`` arguments.

    Example:
        >>> handler = functools.partial(Handler, models=Path("runs/web/models").resolve())
        >>> http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # doctest: +SKIP
    """

    def __init__(self, *args, models: Path, **kwargs):
        self.models = models
        super().__init__(*args, directory=str(WEB_DEMO), **kwargs)

    def translate_path(self, path):
        """Map a URL path to a file: ``/models/...`` inside the models folder, the rest under web_demo/.

        Args:
            path: str. The request path (query and fragment are dropped for ``/models/``).

        Returns:
            str. The file to serve; a ``/models/`` path leading outside the folder maps to a name that does
            not exist there (404).
        """
        clean = path.split("?", 1)[0].split("#", 1)[0]
        if clean.startswith("/models/"):
            target = (self.models / clean[len("/models/"):]).resolve()
            return str(target) if target.is_relative_to(self.models) else str(self.models / "__outside__")
        return super().translate_path(path)

    def end_headers(self):
        """Add ``Cache-Control: no-store`` (a re-exported model is never served stale), then end the headers."""
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format, *args):  # quiet: one line per request is noise in a demo
        """Log nothing (the base class writes one stderr line per request)."""
        pass


def make_server(models: str | Path, port: int = 8000) -> http.server.ThreadingHTTPServer:
    """A server for the demo on 127.0.0.1 (not started yet).

    Args:
        models: str or Path. The models folder (checked with ``check_models``).
        port: int. The port on 127.0.0.1; 0 picks a free port.

    Returns:
        http.server.ThreadingHTTPServer. Bound, not serving yet; ``server.server_address`` has the port.

    Raises:
        WebDemoError: the models folder is unusable, LiteRT.js is not installed (``make web-deps``), or the
            port cannot be bound.

    Example:
        >>> server = make_server("runs/web/models", port=0)  # doctest: +SKIP
        >>> threading.Thread(target=server.serve_forever, daemon=True).start()  # doctest: +SKIP
    """
    models = Path(models).resolve()
    check_models(models)
    if not (WEB_DEMO / "node_modules" / "@litertjs" / "core" / "wasm").is_dir():
        raise WebDemoError(f"{WEB_DEMO / 'node_modules'}: LiteRT.js is not installed; run `make web-deps` "
                           f"(npm ci in web_demo/)")
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Handler, models=models))
    except OSError as e:
        raise WebDemoError(f"cannot listen on 127.0.0.1:{port} ({e.strerror}); pick another --port") from None


def run(args) -> int:
    """Run ``mobilebert web-demo`` (docs/export.md): serve until Ctrl-C; returns the exit code."""
    server = make_server(args.models, args.port)
    host, port = server.server_address[:2]
    print(f"web demo: http://{host}:{port}/  (models from {Path(args.models).resolve()}; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
