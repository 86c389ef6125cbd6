"""Commands ``report`` (write the atlas) and ``view`` (serve the explorer)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from capgym.cli.app import DEFAULT_OUT, app, require_writable_folder
from capgym.errors import UsageError

console = Console(stderr=True)


@app.command("report")
def report_cmd(
    out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="Run folder."),
    html: Path = typer.Option(None, "--html", help="Report path (default RUN/atlas.html)."),
    n_stories: int = typer.Option(5, "--stories", min=0, help="Stories shown as token heat-maps."),
    exports: str = typer.Option(
        "all", "--exports", help="Paper exports: all, main (tables and main figures) or none."
    ),
) -> None:
    """Write the capability atlas: one self-contained HTML file (plus an assets folder)."""
    from capgym.report import report
    from capgym.store import open_run

    store = open_run(out, create=False)
    if html is not None and html.is_dir():
        raise UsageError(f"--html {html} is a folder; pass a file such as {html / 'atlas.html'}")
    if html is None:
        require_writable_folder(out, "report")
    else:
        require_writable_folder(html.parent, "report", "--html")
    path = report(store, out_html=html, n_stories=n_stories, exports=exports)
    print(path)


@app.command("view")
def view_cmd(
    run: Path = typer.Argument(DEFAULT_OUT, help="Run folder."),
    port: int = typer.Option(
        8765, "--port", "-p", min=0, max=65535, help="Port (0 picks a free one)."
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface; 0.0.0.0 exposes the run to your network."
    ),
    cache: bool = typer.Option(
        True, "--cache/--no-cache", help="Materialise the run into RUN/.cache first."
    ),
) -> None:
    """Serve the explorer over a run: browse stories, filter positions, compare models."""
    from capgym.store import open_run
    from capgym.view.server import make_server

    store = open_run(run, create=False)
    console.print(f"preparing {run} ...")
    srv = make_server(store, host, port, cache=cache)  # a port in use: one-line UsageError
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    console.print(f"capgym explorer on http://{shown}:{srv.server_address[1]}/  (Ctrl-C stops)")
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        srv.server_close()
