"""`ctxembed serve`: the indexes behind an HTTP API and a page (uvicorn runs the FastAPI app)."""

from __future__ import annotations

import argparse
import os

from ctxembed.cli.output import say
from ctxembed.cli.parser import config_overrides


def cmd_serve(args: argparse.Namespace) -> int:
    from ctxembed.config.loading import override
    from ctxembed.serve import ServeConfig, create_app
    from ctxembed.serve.indexes import check_index
    from ctxembed.serve.settings import API_KEY_ENV

    config = override(ServeConfig(), **config_overrides(args))
    if config.api_key is None and os.environ.get(API_KEY_ENV):
        config = override(config, api_key=os.environ[API_KEY_ENV])
    for folder in args.indexes:  # a folder that is no index stops the start before anything loads
        check_index(folder)
    if not config.local_only and config.api_key is None:
        say(
            f"warning: serving on {config.host} without an API key: anyone who can reach this address can query "
            f"the indexes; pass --api-key or set {API_KEY_ENV}"
        )
    import uvicorn

    app = create_app(args.indexes, config, device=args.device)
    server = uvicorn.Server(
        uvicorn.Config(app, host=config.host, port=config.port, log_level="warning", access_log=False)
    )
    service = app.state.service

    def stop(message: str) -> None:
        server.should_exit = True

    service.on_failure = stop
    say(f"serving {len(args.indexes)} index(es) on http://{config.host}:{config.port}/ (ready once /ready answers 200)")
    server.run()
    if service.error is not None:  # an index failed to load: the usual one-line error and exit code
        raise service.error
    return 0
